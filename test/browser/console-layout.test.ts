/**
 * The console's layout at a desktop (1280 px) and a narrow (800 px) width, in Debian's Chromium against `tca start`:
 * no page scrolls sideways, wide tables scroll inside their own container (which the keyboard reaches and scrolls),
 * the Dataflows table fits a desktop window, and the filter checkbox sits level with its label.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Locator, Page } from 'playwright-core';
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
const WIDTHS = [1280, 800] as const;

describe.skipIf(!existsSync(CHROMIUM))('console layout at desktop and narrow widths', () => {
  let stack: Stack;
  let page: Page;
  let browser: Awaited<ReturnType<typeof launchChromium>> | undefined;
  let dataflowId = '';
  let destinationId = '';

  beforeAll(async () => {
    mkdirSync(SHOTS, { recursive: true });
    await ensureConsoleBuild();
    stack = await startStack();
    // Long names, as real ones are: the tables must wrap them rather than grow past the window.
    await callApi(stack, 'POST', '/segments', {
      id: 'seg-frequent-buyers-emea-loyalty-programme',
      name: 'Frequent buyers in the EMEA loyalty programme in the last 90 days',
      description: 'Bought three or more times in 90 days and enrolled in the loyalty programme',
    });
    await callApi(stack, 'POST', '/segments', { id: 'seg-cart', name: 'Cart abandoners' });
    const destination = await callApi<{ id: string }>(stack, 'POST', '/destinations', {
      name: 'X Ads Acme United States production account',
      accountId: '18ce54d4x5t',
      marketingActions: ['Onsite Advertising'],
    });
    destinationId = destination.id;
    const flow = await callApi<{ id: string }>(stack, 'POST', '/dataflows', {
      name: 'Acme United States retargeting of frequent loyalty buyers and cart abandoners',
      destinationId: destination.id,
      mapping: [{ sourceType: 'namespace', source: 'Email', target: 'email', applyTransformation: true }],
      audiences: [{ segmentId: 'seg-frequent-buyers-emea-loyalty-programme' }, { segmentId: 'seg-cart' }],
    });
    dataflowId = flow.id;
    await callApi(stack, 'PUT', '/consent-policies', {
      policies: [
        {
          name: 'Onsite advertising needs the sharing and personalisation consents',
          marketingActions: ['Onsite Advertising'],
          attribute: 'consents.personalize.content.val',
          allowedValues: ['y', 'p', 'dy', 'LI', 'CT', 'CP', 'VI', 'PI'],
          enabled: false,
        },
      ],
    });
    await callApi(stack, 'POST', '/ingest/profiles', [
      {
        segmentMembership: { ups: { 'seg-cart': { status: 'realized' } } },
        identityMap: { Email: [{ id: 'layout.one@example.com' }] },
      },
    ]);
    browser = await launchChromium();
    page = browser.page;
    await signIn(page, stack);
  }, 300_000);

  afterAll(async () => {
    await browser?.close();
    await stack?.stop();
  }, 60_000);

  /** Opens a page and waits until nothing on it is still loading. */
  async function open(hash: string, width: number): Promise<void> {
    await page.setViewportSize({ width, height: 900 });
    await page.goto(`${stack.url}/${hash}`);
    await page.locator('main h1').first().waitFor();
    await waitFor(`${hash} to finish loading`, async () =>
      (await page.locator('main .loading').count()) === 0 ? true : undefined,
    );
  }

  /** How far the page itself scrolls sideways (0 when it does not). */
  const pageOverflow = () =>
    page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);

  /** The scroll container around a table, as the browser sees it. */
  async function scrollBox(table: Locator) {
    return table.evaluate((el) => {
      const box = el.closest('.table-wrap');
      if (!box) return null;
      return {
        role: box.getAttribute('role'),
        name: box.getAttribute('aria-label'),
        tabIndex: box.getAttribute('tabindex'),
        overflowX: getComputedStyle(box).overflowX,
        scrollWidth: box.scrollWidth,
        clientWidth: box.clientWidth,
      };
    });
  }

  it(
    'scrolls no page sideways at 1280 and 800 px wide, and scopes every column header',
    { timeout: 240_000 },
    async () => {
      const hashes = [
        '#/',
        '#/connect',
        `#/connect/${destinationId}`,
        '#/activate',
        `#/activate/${destinationId}`,
        '#/segments',
        '#/dataflows',
        '#/settings',
        ...['runs', 'audiences', 'errors', 'alerts', 'dead-letters', 'import', 'settings'].map(
          (tab) => `#/dataflows/${dataflowId}/${tab}`,
        ),
        '#/no-such-page',
      ];
      const overflowing: string[] = [];
      const unscoped: string[] = [];
      for (const width of WIDTHS) {
        for (const hash of hashes) {
          await open(hash, width);
          // Column headers say so, for screen readers to announce them with each cell.
          const headers = await page.evaluate(() =>
            [...document.querySelectorAll('thead th:not([scope])')].map((th) => th.textContent),
          );
          if (headers.length > 0) unscoped.push(`${hash}: ${headers.join(', ')}`);
          const overflow = await pageOverflow();
          if (overflow > 0) {
            overflowing.push(`${hash} at ${width} px: ${overflow} px too wide`);
            await page.screenshot({
              path: join(SHOTS, `overflow-${width}-${hash.replace(/[^a-z0-9]+/gi, '-')}.png`),
              fullPage: true,
            });
          }
        }
      }
      expect(overflowing).toEqual([]);
      expect(unscoped).toEqual([]);
    },
  );

  it('fits the Dataflows table in a 1280 px window', async () => {
    await open('#/dataflows', 1280);
    const table = page.getByRole('table', { name: 'Dataflows' });
    await table.locator('tbody tr').first().waitFor();
    const box = await scrollBox(table);
    expect(box).not.toBeNull();
    expect(box!.scrollWidth).toBeLessThanOrEqual(box!.clientWidth);
    expect(await pageOverflow()).toBeLessThanOrEqual(0);
    // Every column is there, its last one too.
    await expect.poll(() => table.locator('thead th').last().innerText()).toContain('Members at X');
    await page.screenshot({ path: join(SHOTS, 'layout-dataflows-1280.png'), fullPage: true });
  });

  it('scrolls the Dataflows table inside its container at 800 px, from the keyboard', async () => {
    await open('#/dataflows', 800);
    const table = page.getByRole('table', { name: 'Dataflows' });
    await table.locator('tbody tr').first().waitFor();
    expect(await pageOverflow()).toBeLessThanOrEqual(0);
    const region = page.getByRole('region', { name: 'Dataflows table' });
    await waitFor('the table container to be focusable', async () =>
      (await region.getAttribute('tabindex')) === '0' ? true : undefined,
    );
    const box = await scrollBox(table);
    expect(box).toMatchObject({ role: 'region', name: 'Dataflows table', tabIndex: '0', overflowX: 'auto' });
    expect(box!.scrollWidth).toBeGreaterThan(box!.clientWidth);

    // From the last control before it, Tab reaches the container, and the arrow keys scroll it.
    await page.getByRole('checkbox', { name: /Show only those needing a look/ }).focus();
    await page.keyboard.press('Tab');
    expect(
      await region.evaluate((el) => document.activeElement === el || el.contains(document.activeElement)),
    ).toBe(true);
    await region.focus();
    await page.keyboard.press('Tab');
    await page.keyboard.press('Shift+Tab');
    expect(await region.evaluate((el) => document.activeElement === el)).toBe(true);
    // Focus is seen.
    const outline = await region.evaluate((el) => {
      const style = getComputedStyle(el);
      return { style: style.outlineStyle, width: parseFloat(style.outlineWidth) };
    });
    expect(outline.style).not.toBe('none');
    expect(outline.width).toBeGreaterThan(0);
    await page.keyboard.press('ArrowRight');
    await waitFor('the container to scroll sideways', async () =>
      (await region.evaluate((el) => el.scrollLeft)) > 0 ? true : undefined,
    );
    expect(await pageOverflow()).toBeLessThanOrEqual(0);
    await page.screenshot({ path: join(SHOTS, 'layout-dataflows-800.png'), fullPage: true });
  });

  it('keeps the consent policies table in a scroll container at narrow widths', async () => {
    for (const width of [800, 640]) {
      await open('#/settings', width);
      const table = page.getByRole('table', { name: 'Consent policies' });
      await table.locator('tbody tr').first().waitFor();
      const box = await scrollBox(table);
      expect(box).toMatchObject({ role: 'region', name: 'Consent policies', overflowX: 'auto' });
      if (box!.scrollWidth > box!.clientWidth) expect(box!.tabIndex).toBe('0');
      expect(await pageOverflow()).toBeLessThanOrEqual(0);
    }
    await page.screenshot({ path: join(SHOTS, 'layout-settings-640.png'), fullPage: true });
  });

  it('names every table container on the pages, and lets the keyboard reach those that scroll', async () => {
    for (const hash of ['#/', '#/segments', '#/settings', `#/dataflows/${dataflowId}/audiences`]) {
      await open(hash, 800);
      const boxes = await page.locator('.table-wrap').evaluateAll((els) =>
        els.map((el) => ({
          role: el.getAttribute('role'),
          name: el.getAttribute('aria-label') ?? '',
          tabIndex: el.getAttribute('tabindex'),
          scrolls: el.scrollWidth > el.clientWidth,
        })),
      );
      expect(boxes.length).toBeGreaterThan(0);
      for (const box of boxes) {
        expect(box.role, hash).toBe('region');
        expect(box.name, hash).not.toBe('');
        if (box.scrolls) expect(box.tabIndex, `${hash}: ${box.name}`).toBe('0');
      }
    }
  });

  it('aligns the filter checkbox with its label, and the label toggles it', async () => {
    for (const width of WIDTHS) {
      await open('#/dataflows', width);
      const checkbox = page.getByRole('checkbox', { name: /Show only those needing a look/ });
      const label = page.locator('label', { has: checkbox });
      const centres = await label.evaluate((el) => {
        const input = el.querySelector('input')!.getBoundingClientRect();
        // The label's own text, measured as laid out.
        const range = document.createRange();
        const text = Array.from(el.childNodes).filter(
          (n) => n.nodeType === Node.TEXT_NODE && n.textContent?.trim(),
        );
        range.setStartBefore(text[0]!);
        range.setEndAfter(text[text.length - 1]!);
        const words = range.getBoundingClientRect();
        return {
          input: input.top + input.height / 2,
          text: words.top + words.height / 2,
          height: input.height,
        };
      });
      expect(Math.abs(centres.input - centres.text)).toBeLessThanOrEqual(1);
      // Big enough to hit: at least the height of the text beside it.
      expect(centres.height).toBeGreaterThanOrEqual(16);
      // The filter bar's controls share a bottom line: the checkbox row ends where the inputs do.
      const bottoms = await page
        .locator('.filters')
        .evaluate((el) =>
          Array.from(el.querySelectorAll('select, input[type="search"], label.toggle')).map(
            (c) => c.getBoundingClientRect().bottom,
          ),
        );
      expect(Math.max(...bottoms) - Math.min(...bottoms)).toBeLessThanOrEqual(1);
      expect(await checkbox.isChecked()).toBe(false);
      await label.getByText('Show only those needing a look').click();
      expect(await checkbox.isChecked()).toBe(true);
      await label.getByText('Show only those needing a look').click();
      expect(await checkbox.isChecked()).toBe(false);
    }
    await page.screenshot({
      path: join(SHOTS, 'layout-dataflows-filters.png'),
      clip: { x: 0, y: 0, width: 800, height: 300 },
    });
  });
});
