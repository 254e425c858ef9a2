/**
 * The console for keyboard and screen-reader users, in Debian's Chromium against `tca start`: deleting a segment or a
 * connection from the keyboard alone (the Delete button, its confirmation and the service's refusal replace one
 * another in the row, and focus follows them instead of falling back to the top of the page), tables named with
 * headers that are read, and chart axes that write figures as the totals beside them do.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CHROMIUM,
  REPO_ROOT,
  callApi,
  ensureConsoleBuild,
  launchChromium,
  signIn,
  startStack,
  waitFor,
} from './stack.ts';
import type { Stack } from './stack.ts';

const SHOTS = join(REPO_ROOT, 'test-artifacts', 'screenshots');

describe.skipIf(!existsSync(CHROMIUM))('console for keyboard and screen-reader users', () => {
  let stack: Stack;
  let page: Page;
  let browser: Awaited<ReturnType<typeof launchChromium>> | undefined;
  let dataflowId = '';

  beforeAll(async () => {
    mkdirSync(SHOTS, { recursive: true });
    await ensureConsoleBuild();
    stack = await startStack();
    await callApi(stack, 'POST', '/segments', { id: 'seg-kept', name: 'Kept segment' });
    await callApi(stack, 'POST', '/segments', { id: 'seg-spare', name: 'Spare segment' });
    await callApi(stack, 'POST', '/destinations', { name: 'Spare connection', accountId: '18ce54d4x5t' });
    const used = await callApi<{ id: string }>(stack, 'POST', '/destinations', {
      name: 'Used connection',
      accountId: '18ce54d4x5t',
    });
    const flow = await callApi<{ id: string }>(stack, 'POST', '/dataflows', {
      name: 'Keeps both',
      destinationId: used.id,
      mapping: [{ sourceType: 'namespace', source: 'Email', target: 'email', applyTransformation: true }],
      audiences: [{ segmentId: 'seg-kept' }],
    });
    dataflowId = flow.id;
    browser = await launchChromium();
    page = browser.page;
    await signIn(page, stack);
  }, 300_000);

  afterAll(async () => {
    await browser?.close();
    await stack?.stop();
  }, 60_000);

  /** Waits until the focused element is a button whose text (visually hidden parts included) is `name`. */
  async function expectFocusOn(name: string, within?: string): Promise<void> {
    await waitFor(`focus on "${name}"${within ? ` in ${within}` : ''}`, async () => {
      const focused = await page.evaluate(() => {
        const el = document.activeElement;
        const container = el?.closest('[role="group"], [role="alert"]');
        return {
          tag: el?.tagName ?? '',
          text: (el?.textContent ?? '').replace(/\s+/g, ' ').trim(),
          container: container?.getAttribute('aria-label') ?? container?.getAttribute('role') ?? '',
        };
      });
      return focused.tag === 'BUTTON' && focused.text === name && (!within || focused.container === within)
        ? true
        : undefined;
    });
  }

  /** Waits until the console's polite live region says `text`. */
  async function expectAnnounced(text: string): Promise<void> {
    const region = page.getByRole('status').filter({ hasText: text });
    await waitFor(`"${text}" in the live region`, async () =>
      (await region.count()) === 1 && (await region.getAttribute('aria-live')) === 'polite'
        ? true
        : undefined,
    );
  }

  const segmentIds = async () =>
    (await callApi<{ items: { id: string }[] }>(stack, 'GET', '/segments')).items.map((s) => s.id);

  it('moves focus to Cancel, back to Delete on Escape, and deletes with Enter on Confirm', async () => {
    await page.goto(`${stack.url}/#/segments`);
    const table = page.getByRole('table', { name: 'Segments' });
    const spare = table.locator('tbody tr', { hasText: 'Spare segment' });
    await spare.getByRole('button', { name: 'Delete Spare segment' }).focus();
    await page.keyboard.press('Enter');
    // The safe choice takes focus; the one that deletes is a Shift+Tab away.
    await expectFocusOn('Cancel', 'Delete Spare segment');
    await page.keyboard.press('Escape');
    await expectFocusOn('Delete Spare segment');
    expect(await spare.getByRole('group').count()).toBe(0);
    expect(await segmentIds()).toContain('seg-spare');

    await page.keyboard.press('Enter');
    await expectFocusOn('Cancel', 'Delete Spare segment');
    await page.keyboard.press('Enter');
    await expectFocusOn('Delete Spare segment');
    expect(await segmentIds()).toContain('seg-spare');

    await page.keyboard.press('Enter');
    await expectFocusOn('Cancel', 'Delete Spare segment');
    await page.keyboard.press('Shift+Tab');
    await expectFocusOn('Confirm delete Spare segment');
    await page.keyboard.press('Enter');
    await spare.waitFor({ state: 'detached' });
    expect(await segmentIds()).not.toContain('seg-spare');
    // Focus goes to the row that takes its place (here the one before, Spare was the last), not to the page's top.
    await expectFocusOn('Delete Kept segment');
    await expectAnnounced('“Spare segment” was deleted.');
  });

  it('focuses the refusal of a segment a dataflow activates, and returns to Delete when it is dismissed', async () => {
    await page.goto(`${stack.url}/#/segments`);
    const kept = page
      .getByRole('table', { name: 'Segments' })
      .locator('tbody tr', { hasText: 'Kept segment' });
    await kept.getByRole('button', { name: 'Delete Kept segment' }).focus();
    await page.keyboard.press('Enter');
    await page.keyboard.press('Shift+Tab');
    await expectFocusOn('Confirm delete Kept segment');
    await page.keyboard.press('Enter');
    await expectFocusOn('Dismiss', 'alert');
    await expect
      .poll(() => kept.getByRole('alert').innerText())
      .toContain('“Kept segment” was not deleted: dataflows activate it.');
    await page.screenshot({ path: join(SHOTS, 'confirm-delete-segment-refused.png'), fullPage: true });
    await page.keyboard.press('Enter');
    await expectFocusOn('Delete Kept segment');
    expect(await segmentIds()).toContain('seg-kept');
  });

  it('does the same for connections on the Destinations page', async () => {
    await page.goto(`${stack.url}/#/`);
    const rowOf = (name: string) => page.locator('tbody tr', { hasText: name });
    await rowOf('Used connection').getByRole('button', { name: 'Delete Used connection' }).focus();
    await page.keyboard.press('Enter');
    await expectFocusOn('Cancel', 'Delete Used connection');
    await page.keyboard.press('Shift+Tab');
    await page.keyboard.press('Enter');
    await expectFocusOn('Dismiss', 'alert');
    await expect
      .poll(() => rowOf('Used connection').getByRole('alert').innerText())
      .toContain('Used by dataflow');
    await page.keyboard.press('Enter');
    await expectFocusOn('Delete Used connection');

    const spare = rowOf('Spare connection');
    await spare.getByRole('button', { name: 'Delete Spare connection' }).focus();
    await page.keyboard.press('Enter');
    await expectFocusOn('Cancel', 'Delete Spare connection');
    await page.keyboard.press('Escape');
    await expectFocusOn('Delete Spare connection');
    await page.keyboard.press('Enter');
    await page.keyboard.press('Shift+Tab');
    await expectFocusOn('Confirm delete Spare connection');
    await page.keyboard.press('Enter');
    await spare.waitFor({ state: 'detached' });
    const names = (await callApi<{ items: { name: string }[] }>(stack, 'GET', '/destinations')).items.map(
      (d) => d.name,
    );
    expect(names).toEqual(['Used connection']);
    await expectFocusOn('Delete Used connection');
    await expectAnnounced('“Spare connection” was deleted.');
  });

  it("writes the charts' axis figures as the totals are written (1,200, not 1200)", async () => {
    // Profiles with no identifier X takes: each is excluded at once, so the run holds 1,200 identities.
    const profiles = Array.from({ length: 1_200 }, (_, i) => ({
      segmentMembership: { ups: { 'seg-kept': { status: 'realized' } } },
      identityMap: { Other: [{ id: `other-${i}` }] },
    }));
    await callApi(stack, 'POST', '/ingest/profiles', profiles);
    await page.goto(`${stack.url}/#/dataflows/${dataflowId}/runs`);
    const chart = page.getByRole('figure', { name: 'Identities activated, excluded and failed per hour' });
    const ticks = chart.locator('.recharts-cartesian-axis-tick-value');
    const values = await waitFor('the y axis to reach 1,000', async () => {
      // The hour axis reads "12-04 05:00"; the count axis holds only figures.
      const texts = (await ticks.allTextContents()).map((t) => t.trim()).filter((t) => /^[\d,]+$/.test(t));
      return texts.some((t) => Number(t.replace(/,/g, '')) >= 1_000) ? texts : undefined;
    });
    expect(values.filter((t) => /^\d{4,}$/.test(t))).toEqual([]);
    expect(values.some((t) => /^\d{1,3}(,\d{3})+$/.test(t))).toBe(true);
  });

  it('names the consent policies table and its actions column', async () => {
    await callApi(stack, 'PUT', '/consent-policies', {
      policies: [
        {
          name: 'Onsite ads need sharing consent',
          marketingActions: ['Onsite Advertising'],
          attribute: 'consents.share.val',
          enabled: false,
        },
      ],
    });
    await page.goto(`${stack.url}/#/settings`);
    const table = page.getByRole('table', { name: 'Consent policies' });
    await expect.poll(() => table.locator('tbody tr').count()).toBe(1);
    // Read by screen readers as the column's header; an aria-label on an empty header cell is not.
    expect(await table.locator('thead th').last().textContent()).toBe('Actions');
  });
  it('moves focus to the heading when the last segment is deleted', async () => {
    // Nothing activates the kept segment any more: it can go, and the list is left empty.
    await callApi(stack, 'DELETE', `/dataflows/${dataflowId}`);
    await page.goto(`${stack.url}/#/segments`);
    const kept = page
      .getByRole('table', { name: 'Segments' })
      .locator('tbody tr', { hasText: 'Kept segment' });
    await kept.getByRole('button', { name: 'Delete Kept segment' }).focus();
    await page.keyboard.press('Enter');
    await page.keyboard.press('Shift+Tab');
    await expectFocusOn('Confirm delete Kept segment');
    await page.keyboard.press('Enter');
    await page.getByText('No segments in this sandbox').waitFor();
    expect(await segmentIds()).toEqual([]);
    await waitFor('focus on the Segments heading', async () =>
      (await page.evaluate(() => {
        const el = document.activeElement;
        return el?.tagName === 'H1' && el.textContent?.trim() === 'Segments';
      }))
        ? true
        : undefined,
    );
    await expectAnnounced('“Kept segment” was deleted.');
  });
});
