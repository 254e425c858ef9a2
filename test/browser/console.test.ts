/**
 * The console in a real browser (Debian's Chromium through playwright-core) against `tca start` and the X Ads API
 * emulator, both on loopback: sign in, connect (with a failing preflight first), activate with a mapping and a
 * schedule, ingest profiles through the API, then watch runs, charts, errors and audiences. Every page is
 * photographed into test-artifacts/screenshots/.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import { join } from 'node:path';
import type { BrowserContext, Locator, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nestedParquet } from '../fixtures/parquet.ts';
import { startSmtpReceiver } from '../fixtures/smtp-receiver.ts';
import { parquetWriteBuffer } from 'hyparquet-writer';
import { defaultDemoSeed } from '../../src/emulator/index.ts';
import {
  CHROMIUM,
  REPO_ROOT,
  callApi,
  ensureConsoleBuild,
  launchChromium,
  startStack,
  waitFor,
} from './stack.ts';
import type { Stack } from './stack.ts';

const HAVE_CHROMIUM = existsSync(CHROMIUM);
const SHOTS = join(REPO_ROOT, 'test-artifacts', 'screenshots');
const DEMO_ACCOUNT = '18ce54d4x5t';
const DEMO_APP = { consumerKey: 'demo-consumer-key', consumerSecret: 'demo-consumer-secret' };

if (!HAVE_CHROMIUM) {
  console.warn(
    `Browser tests skipped: ${CHROMIUM} not found. Install Debian's Chromium with "apt-get install -y chromium" (CI does).`,
  );
}

/** Waits until the locator's text contains `expected` (or matches it), with a deadline. */
async function expectText(locator: Locator, expected: string | RegExp, timeoutMs = 30_000): Promise<void> {
  let seen: string | undefined;
  try {
    await waitFor(
      `text ${String(expected)}`,
      async () => {
        seen = undefined;
        const text = (await locator.first().innerText({ timeout: 1_000 })).replace(/\s+/g, ' ');
        seen = text;
        return (typeof expected === 'string' ? text.includes(expected) : expected.test(text))
          ? true
          : undefined;
      },
      timeoutMs,
    );
  } catch (error) {
    // Say what was there instead: the element's text, or the page's when the element never appeared.
    const where = seen === undefined ? 'the element was absent; the page read' : 'the element read';
    const text =
      seen ??
      (await locator
        .page()
        .locator('main')
        .innerText({ timeout: 1_000 })
        .catch(() => '(unreadable)'));
    throw new Error(`${(error as Error).message}; ${where}: ${text.replace(/\s+/g, ' ').slice(0, 1_500)}`, {
      cause: error,
    });
  }
}

async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}

interface Profile {
  segmentMembership: { ups: Record<string, { status: 'realized' | 'exited' }> };
  identityMap: Record<string, { id: string }[]>;
}

function profile(segment: string, email: string): Profile {
  return {
    segmentMembership: { ups: { [segment]: { status: 'realized' } } },
    identityMap: { Email: [{ id: email }] },
  };
}

describe.skipIf(!HAVE_CHROMIUM)('console in Chromium against tca start', () => {
  let stack: Stack;
  let context: BrowserContext;
  let page: Page;
  let browser: Awaited<ReturnType<typeof launchChromium>> | undefined;
  let dataflowId = '';
  let siem: Server;
  let siemUrl = '';
  // An object store's presigned URLs, played on loopback: the service reads them for URL imports.
  let objects: Server;
  let objectsOrigin = '';
  const objectRequests: string[] = [];
  const siemEvents: string[] = [];
  const installationAlerts: Array<{ type: string }> = [];
  /** What the first connection's own (Slack-format) webhook received. */
  const acmeAlerts: unknown[] = [];
  type PagerDutyEvent = {
    routing_key: string;
    event_action: string;
    dedup_key?: string;
    payload?: { component: string };
  };
  // PagerDuty's Events API, played by the same server at /pagerduty.
  const pagerDutyEvents: PagerDutyEvent[] = [];
  const PAGERDUTY_KEY = 'PdIntegrationKey0123456789abcdef';
  /** The first connection's own PagerDuty key (its team's service), and what was sent with it. */
  const ACME_PAGERDUTY_KEY = 'AcmeCrmTeamKey0123456789abcdefAB';
  const acmePagerDutyEvents: PagerDutyEvent[] = [];

  let smtp: Awaited<ReturnType<typeof startSmtpReceiver>>;

  beforeAll(async () => {
    mkdirSync(SHOTS, { recursive: true });
    // The mail server alerts are emailed through, on loopback.
    smtp = await startSmtpReceiver();
    await ensureConsoleBuild();
    // A SIEM's HTTP input on loopback, which the service pushes the audit trail to.
    siem = createServer((req, res) => {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (chunk: string) => (body += chunk));
      req.on('end', () => {
        // The installation's alert webhook is on the same server, at /alerts.
        if (req.url === '/alerts') installationAlerts.push(JSON.parse(body) as { type: string });
        else if (req.url === '/services/acme-token') acmeAlerts.push(JSON.parse(body));
        else if (req.url === '/pagerduty') {
          // The first connection's own key pages its team's service: kept apart from the installation's.
          const event = JSON.parse(body) as PagerDutyEvent;
          (event.routing_key === ACME_PAGERDUTY_KEY ? acmePagerDutyEvents : pagerDutyEvents).push(event);
        } else siemEvents.push(...body.split('\n').filter((line) => line !== ''));
        res.writeHead(200).end();
      });
    });
    await new Promise<void>((r) => siem.listen(0, '127.0.0.1', r));
    siemUrl = `http://127.0.0.1:${(siem.address() as AddressInfo).port}/siem`;
    // A Parquet export beside it, served by byte ranges as object stores do.
    const newsletterParquet = Buffer.from(
      parquetWriteBuffer({
        columnData: [
          { name: 'profile_key', data: ['crm-n3', 'crm-n4'], type: 'STRING' },
          { name: 'email', data: ['news.3@example.com', 'news.4@example.com'], type: 'STRING' },
          { name: 'segment:seg-newsletter', data: [true, true], type: 'BOOLEAN' },
        ],
      }),
    );
    objects = createServer((req, res) => {
      objectRequests.push(req.url ?? '');
      if (req.url?.startsWith('/exports/newsletter.parquet')) {
        const range = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? '');
        const etag = '"newsletter-parquet-1"';
        if (!range)
          return void res
            .writeHead(200, { etag, 'content-length': newsletterParquet.length })
            .end(newsletterParquet);
        const [start, end] = [Number(range[1]), Math.min(Number(range[2]), newsletterParquet.length - 1)];
        return void res
          .writeHead(206, {
            etag,
            'content-range': `bytes ${start}-${end}/${newsletterParquet.length}`,
            'content-length': end - start + 1,
          })
          .end(newsletterParquet.subarray(start, end + 1));
      }
      res
        .writeHead(200, { 'content-type': 'binary/octet-stream', etag: '"newsletter-1"' })
        .end(
          'profile_key,email,segment:seg-newsletter\ncrm-n1,news.1@example.com,1\ncrm-n2,news.2@example.com,1\n',
        );
    });
    await new Promise<void>((r) => objects.listen(0, '127.0.0.1', r));
    objectsOrigin = `http://127.0.0.1:${(objects.address() as AddressInfo).port}`;
    // The service's default X app is the emulator's demo app, as in `tca start --demo`: "Log in with X" needs no keys.
    stack = await startStack({
      env: {
        TCA_X_CONSUMER_KEY: DEMO_APP.consumerKey,
        TCA_X_CONSUMER_SECRET: DEMO_APP.consumerSecret,
        TCA_AUDIT_FORWARD_URL: siemUrl,
        TCA_AUDIT_FORWARD_INTERVAL_SECONDS: '1',
        TCA_AUDIT_FEED_DELAY_MS: '0',
        TCA_ALERT_CHECK_SECONDS: '1',
        TCA_ALERT_WEBHOOK_URL: `${new URL(siemUrl).origin}/alerts`,
        TCA_ALERT_PAGERDUTY_ROUTING_KEY: PAGERDUTY_KEY,
        TCA_ALERT_PAGERDUTY_URL: `${new URL(siemUrl).origin}/pagerduty`,
        TCA_ALERT_EMAIL_TO: 'oncall@example.com',
        TCA_ALERT_EMAIL_FROM: 'tca@example.com',
        TCA_SMTP_URL: smtp.url,
        TCA_IMPORT_URL_ALLOW: objectsOrigin,
        // Egress through a corporate proxy that exists nowhere: X (the emulator) and the SIEM are on loopback, which
        // is always reached directly, so everything below works only if the proxy is bypassed for them.
        HTTPS_PROXY: 'http://egress:hush@proxy.corp.example:3128',
        HTTP_PROXY: 'http://egress:hush@proxy.corp.example:3128',
        NO_PROXY: '.corp.example',
      },
    });
    // Segments arrive from the customer-data platform; here through the API, as a script would register them.
    await callApi(stack, 'POST', '/segments', {
      id: 'seg-buyers',
      name: 'Frequent buyers',
      description: 'Bought three or more times in 90 days',
    });
    await callApi(stack, 'POST', '/segments', { id: 'seg-cart', name: 'Cart abandoners, last 7 days' });
    await callApi(stack, 'POST', '/segments', {
      id: 'seg-upload',
      namespace: 'custom_upload',
      name: 'CRM list upload',
    });
    // Labelled C6: no on-site advertising, the marketing action the destination will be used for.
    await callApi(stack, 'POST', '/segments', { id: 'seg-no-onsite', name: 'No onsite ads', labels: ['C6'] });
    // A consent policy switched off, as `tca start --demo` makes: the wizard previews what it would leave out.
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
    // A labelled attribute: the wizard's Review refuses a mapping that exports it to on-site advertising.
    await callApi(stack, 'PUT', '/field-labels', {
      fields: [{ sourceType: 'attribute', source: 'person.email', labels: ['C6'] }],
    });
    browser = await launchChromium();
    ({ context, page } = browser);
  }, 300_000);

  afterAll(async () => {
    await smtp?.close();
    await browser?.close();
    await stack?.stop();
    await new Promise((r) => siem?.close(r));
    await new Promise((r) => objects?.close(r));
  }, 60_000);

  /**
   * Opens a console page afresh (a new load, so nothing read before is cached), signing in with the admin token first
   * when this tab holds no token.
   */
  async function openSignedIn(hash: string): Promise<void> {
    await page.goto(`${stack.url}/${hash}`);
    await page.reload();
    const token = page.getByLabel('API token');
    await token.or(page.locator('main h1')).first().waitFor();
    if (await token.isVisible()) {
      await token.fill(stack.adminToken);
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.getByRole('heading', { level: 1 }).filter({ hasNotText: 'Sign in' }).waitFor();
      await page.goto(`${stack.url}/${hash}`);
    }
    // An earlier test may have left the console in another sandbox.
    const switcher = page.locator('#sandbox-switcher');
    if ((await switcher.count()) > 0 && (await switcher.inputValue()) !== 'prod') {
      await switcher.selectOption('prod');
      await page.goto(`${stack.url}/${hash}`);
    }
  }

  it('refuses a bad token with its message, then signs in with the admin token', async () => {
    await page.goto(stack.url + '/');
    await page.getByLabel('API token').fill('tca_not-a-real-token');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expectText(page.getByRole('alert'), 'Sign-in failed');
    await shot(page, '01-sign-in-error');
    await page.getByLabel('API token').fill(stack.adminToken);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Destinations', level: 1 }).waitFor();
    await expectText(page.locator('main'), 'No connections yet');
    expect(await page.getByLabel('Sandbox').inputValue()).toBe('prod');
    await shot(page, '02-catalog-empty');
  });

  it(
    'connects: live naming checks, PIN login, a failing preflight with its fix, then a passing one',
    { timeout: 120_000 },
    async () => {
      await page.getByRole('link', { name: 'Set up' }).click();
      await page.getByRole('heading', { name: 'Connection details' }).waitFor();

      const name = page.getByLabel('Name', { exact: true });
      await name.fill('X Ads: Acme, US');
      await expectText(
        page.locator('.field-invalid').first(),
        'Name contains characters X does not accept: ":" ","',
      );
      expect(await page.locator('mark.bad-char').allInnerTexts()).toEqual([':', ',']);
      await shot(page, '03-connect-naming');
      await page.getByRole('button', { name: 'Use suggestion' }).first().click();
      expect(await name.inputValue()).toBe('X Ads Acme US');
      await page.getByLabel('Description').fill('Retargeting audiences for the US store');
      // An account the authorized user cannot reach: the preflight must say so.
      await page.getByLabel('Account ID').fill('0000bad0');
      await page.getByRole('button', { name: 'Next' }).click();

      await page.getByRole('heading', { name: 'Authenticate to X' }).waitFor();
      await page.getByLabel('Log in with X (PIN)').check();
      // The service has a default X app, so the app keys are asked for only when the user picks another app.
      await page.getByLabel('Use a different X app (enter its consumer key and secret)').waitFor();
      expect(await page.getByLabel('App consumer key (API key)').count()).toBe(0);
      await page.getByRole('button', { name: 'Log in with X' }).click();
      const authorize = page.getByRole('link', { name: 'Open the X authorization page' });
      await authorize.waitFor();
      // The user authorizes the app on X's page and copies the PIN it shows.
      const href = await authorize.getAttribute('href');
      expect(href).toBeTruthy();
      const xPage = await context.newPage();
      await xPage.goto(href ?? '');
      const pin = (await xPage.locator('#oauth_pin').innerText()).trim();
      await xPage.close();
      await page.getByLabel('PIN from X').fill(pin);
      await page.getByRole('button', { name: 'Complete login' }).click();

      await page.getByRole('heading', { name: 'Preflight checks' }).waitFor();
      const checklist = page.getByRole('list', { name: 'Preflight checklist' });
      await expectText(page.getByRole('status').filter({ hasText: 'checks' }), 'Some checks failed');
      const failed = checklist.locator('li.check-fail').first();
      await expectText(failed, 'What to do:');
      expect(await checklist.locator('li.check-pass[data-check="credentials"]').count()).toBe(1);
      // Checks that depend on the failed one could not run: shown as skipped, without a fix.
      const skipped = checklist.locator('li.check-skipped[data-check="permissions"]');
      expect(await skipped.count()).toBe(1);
      await expectText(skipped, /\bskipped\b/i);
      expect(await skipped.locator('.check-fix').count()).toBe(0);
      await shot(page, '04-connect-preflight-failed');

      await page.getByRole('button', { name: 'Edit details' }).click();
      await page.getByLabel('Account ID').fill(DEMO_ACCOUNT);
      await page.getByRole('button', { name: 'Next' }).click();
      await page.getByRole('heading', { name: 'Authenticate to X' }).waitFor();
      expect(await page.getByLabel('Keep the stored credentials').isChecked()).toBe(true);
      await page.getByRole('button', { name: 'Check the connection' }).click();
      await expectText(page.getByRole('status').filter({ hasText: 'checks' }), 'All checks passed');
      expect(await checklist.locator('li.check-fail').count()).toBe(0);
      await shot(page, '05-connect-preflight-passed');
      await page.getByRole('button', { name: 'Next' }).click();

      await page.getByRole('heading', { name: 'Marketing actions and alerts' }).waitFor();
      await page.getByLabel('Onsite Advertising').check();
      await page.getByLabel('Alert webhook URL').fill('not a url');
      await expectText(page.locator('.field-invalid'), 'Enter a full URL');
      // A chat webhook's URL carries its token: it is kept secret from here on.
      await page.getByLabel('Alert webhook URL').fill(`${new URL(siemUrl).origin}/services/acme-token`);
      await page.getByLabel('Alert email recipients').fill('crm-owner@example.com, crm-owner');
      await expectText(page.locator('.field-invalid'), 'Not an email address: crm-owner.');
      await page.getByLabel('Alert email recipients').fill('crm-owner@example.com');
      await page.getByLabel('Alert webhook format').selectOption('slack');
      await shot(page, '06-connect-governance');
      await page.getByRole('button', { name: 'Save and activate audiences' }).click();
      await page.getByRole('heading', { name: 'Activate audiences', level: 1 }).waitFor();

      const destinations = await callApi<{
        items: { name: string; accountId: string; status: string; marketingActions: string[] }[];
      }>(stack, 'GET', '/destinations');
      expect(destinations.items).toEqual([
        expect.objectContaining({
          name: 'X Ads Acme US',
          accountId: DEMO_ACCOUNT,
          status: 'active',
          marketingActions: ['Onsite Advertising'],
          alertEmailTo: ['crm-owner@example.com'],
          alertWebhook: { origin: new URL(siemUrl).origin, format: 'slack' },
          // Every box checked: every type, including any added later.
          alertTypes: null,
        }),
      ]);
      expect(JSON.stringify(destinations)).not.toContain('acme-token');

      // Edited later, the webhook shows by its origin only; left empty, it is kept.
      await page.getByRole('link', { name: 'Destinations', exact: true }).click();
      await page
        .locator('tr', { hasText: 'X Ads Acme US' })
        .getByRole('link', { name: 'Edit / verify' })
        .click();
      await page.getByRole('button', { name: 'Next' }).click();
      await page.getByRole('heading', { name: 'Authenticate to X' }).waitFor();
      await page.getByRole('button', { name: 'Check the connection' }).click();
      await expectText(page.getByRole('status').filter({ hasText: 'checks' }), 'All checks passed');
      await page.getByRole('button', { name: 'Next' }).click();
      const newWebhook = page.getByLabel('New alert webhook URL');
      expect(await newWebhook.inputValue()).toBe('');
      await expectText(
        page.locator('.field', { has: newWebhook }),
        `a webhook at ${new URL(siemUrl).origin}`,
      );
      expect(await page.getByLabel('Remove the alert webhook').isChecked()).toBe(false);
      // The team that owns the connection is paged too, with a PagerDuty key of its own.
      const pagerDutyKey = page.getByLabel('PagerDuty routing key');
      await pagerDutyKey.fill('too-short');
      await expectText(page.locator('.field-invalid'), '32 letters and digits');
      await pagerDutyKey.fill(ACME_PAGERDUTY_KEY);
      // Its team is not paged for an audience too small to target, nor for delays.
      expect(await page.getByLabel('X will not target an audience').isChecked()).toBe(true);
      await page.getByLabel('X will not target an audience').uncheck();
      await page.getByLabel('Changes wait longer than the delay threshold').uncheck();
      // Run notifications are asked for one by one: "every type" never includes them.
      expect(await page.getByLabel('A run starts activating identities').isChecked()).toBe(false);
      await page.getByLabel('A run ended with identities activated and none failed').check();
      await shot(page, '06b-connect-alerts-edit');
      await page.getByRole('button', { name: 'Save & exit' }).click();
      await page.getByRole('heading', { name: 'Destinations', level: 1 }).waitFor();
      const acme = page.locator('tr', { hasText: 'X Ads Acme US' });
      await expectText(
        acme,
        'Only dataflow_failed, dataflow_paused, exclusion_rate_exceeded, dataflow_no_data, dataflow_run_succeeded',
      );
      const subscribed = await callApi<{ items: { name: string; alertTypes: string[] | null }[] }>(
        stack,
        'GET',
        '/destinations',
      );
      expect(subscribed.items.find((d) => d.name === 'X Ads Acme US')?.alertTypes).toEqual([
        'dataflow_failed',
        'dataflow_paused',
        'exclusion_rate_exceeded',
        'dataflow_no_data',
        'dataflow_run_succeeded',
      ]);
      await acme.getByRole('button', { name: 'Send test alert (X Ads Acme US)' }).click();
      await expectText(
        acme.getByRole('status').filter({ hasText: 'Delivered' }),
        'Delivered to the alert webhook',
      );
      expect(acmeAlerts).toEqual([
        { text: expect.stringContaining('[TEST] Test alert for destination "X Ads Acme US"') },
      ]);
      await acme.getByRole('button', { name: 'Send test incident (X Ads Acme US)' }).click();
      await expectText(
        acme.getByRole('status').filter({ hasText: 'PagerDuty' }),
        'PagerDuty accepted the test incident, now resolved',
      );
      expect(acmePagerDutyEvents.map((e) => e.event_action)).toEqual(['trigger', 'resolve']);
      // The row says where the connection's own alerts go: the webhook by its origin only.
      const routes = acme.getByTestId('alert-routes');
      await expectText(routes, `Webhook at ${new URL(siemUrl).origin} (Slack)`);
      await expectText(routes, 'Its own PagerDuty service');
      await expectText(routes, 'Email to crm-owner@example.com');
      expect(await routes.innerText()).not.toContain('acme-token');
      await shot(page, '06c-destinations-alert-routes');
      // Taken off again: the rest of this run pages the installation's key only.
      const { items } = await callApi<{
        items: { id: string; name: string; hasAlertPagerDutyKey: boolean }[];
      }>(stack, 'GET', '/destinations');
      const acmeId = items.find((d) => d.name === 'X Ads Acme US')!.id;
      expect(items.find((d) => d.id === acmeId)?.hasAlertPagerDutyKey).toBe(true);
      expect(JSON.stringify(items)).not.toContain(ACME_PAGERDUTY_KEY);
      await callApi(stack, 'PATCH', `/destinations/${acmeId}`, { alertPagerDutyRoutingKey: null });
      await acme.getByRole('link', { name: 'Activate audiences' }).click();
      await page.getByRole('heading', { name: 'Activate audiences', level: 1 }).waitFor();
    },
  );

  it('activates two segments with a mapping and a schedule', { timeout: 120_000 }, async () => {
    // A consent policy on the C9 label, which only the cart segment carries: it applies to no other segment.
    const { policies: before } = await callApi<{ policies: unknown[] }>(stack, 'GET', '/consent-policies');
    await callApi(stack, 'PUT', '/consent-policies', {
      policies: [
        ...before,
        { name: 'C9 needs sharing consent', labels: ['C9'], attribute: 'consents.share.val', enabled: false },
      ],
    });
    await callApi(stack, 'PATCH', '/segments/seg-cart', { labels: ['C9'] });
    await page.getByRole('heading', { name: 'Select segments' }).waitFor();
    const upload = page.getByLabel('CRM list upload');
    expect(await upload.isDisabled()).toBe(true);
    await expectText(
      page.locator('tr', { hasText: 'CRM list upload' }),
      'only Segmentation Service audiences can',
    );
    await page.getByRole('button', { name: 'Next' }).click();
    await expectText(page.getByRole('alert'), 'Select at least one segment.');
    await page.getByLabel('Frequent buyers').check();
    await page.getByLabel('Cart abandoners, last 7 days').check();
    await page.getByLabel('No onsite ads').check();
    await shot(page, '07-activate-segments');
    await page.getByRole('button', { name: 'Next' }).click();

    await page.getByRole('heading', { name: 'Mapping', exact: true }).waitFor();
    expect(await page.getByLabel('Source field').first().inputValue()).toBe('Email');
    // A second row mapping a hashed namespace with the transformation ticked is refused, with the reason.
    await page.getByRole('button', { name: 'Add new mapping' }).click();
    const second = page.getByRole('listitem', { name: 'Mapping row 2' });
    await second.getByLabel('Source field').fill('Phone_SHA256');
    await second.getByLabel('Apply transformation').check();
    await page.getByRole('button', { name: 'Next' }).click();
    await expectText(second, 'already holds SHA-256 digests');
    await shot(page, '08-activate-mapping-error');
    await second.getByLabel('Apply transformation').uncheck();
    await expectText(second, 'Formats the number as E.164');
    // A third row exports an attribute labelled C6, which the destination's on-site advertising may not use.
    await page.getByRole('button', { name: 'Add new mapping' }).click();
    const third = page.getByRole('listitem', { name: 'Mapping row 3' });
    await third.getByLabel('Source type').selectOption('attribute');
    await third.getByLabel('Source field').fill('person.email');
    await page.getByRole('button', { name: 'Next' }).click();

    await page.getByRole('heading', { name: 'Scheduling', exact: true }).waitFor();
    const cart = page.getByRole('group', { name: 'Schedule for Cart abandoners, last 7 days' });
    await expectText(cart, 'Mapping name contains characters X does not accept: ","');
    await cart.getByRole('button', { name: 'Use suggestion' }).click();
    expect(await cart.getByLabel('Mapping name').inputValue()).toBe('Cart abandoners last 7 days');
    await cart.getByLabel('TTL (days)').fill('30');
    // Removing members at the end needs an end date.
    await cart.getByLabel('Remove members from the X audience when the end date passes').check();
    await page.getByRole('button', { name: 'Next' }).click();
    await expectText(cart, 'Choose an end date: members are removed when it passes.');
    await cart.getByLabel(/^End date/).fill('2030-01-01');
    await shot(page, '09-activate-scheduling');
    await page.getByRole('button', { name: 'Next' }).click();

    // The C6 segment breaks a data-usage policy: Review says which and how to fix it, and Finish stays off.
    await page.getByRole('heading', { name: 'Review', exact: true }).waitFor();
    await expectText(page.getByTestId('governance-violations'), 'Restrict on-site advertising');
    await expectText(page.getByTestId('governance-violations'), 'segment "No onsite ads" is labelled C6');
    await expectText(
      page.getByTestId('governance-violations'),
      'the mapping exports person.email, labelled C6',
    );
    expect(await page.getByRole('button', { name: 'Finish' }).isDisabled()).toBe(true);
    await shot(page, '10a-activate-policy-violation');
    for (let i = 0; i < 3; i += 1) await page.getByRole('button', { name: 'Back' }).click();
    await page.getByLabel('No onsite ads').uncheck();
    await page.getByRole('button', { name: 'Next' }).click();
    await page.getByRole('button', { name: 'Remove mapping row 3' }).click();
    for (let i = 0; i < 2; i += 1) await page.getByRole('button', { name: 'Next' }).click();

    await page.getByRole('heading', { name: 'Review', exact: true }).waitFor();
    const plan = page.getByRole('table', { name: 'Dry-run plan' });
    await expectText(plan, 'Create Frequent buyers');
    await expectText(page.getByTestId('governance-violations'), 'No policy violations');
    // Read from the service: the consent policy applies to the destination's marketing action, switched off.
    const consent = page.getByTestId('consent-preview');
    await expectText(consent, 'Onsite ads need sharing consent');
    await expectText(consent, 'switched off: it restricts nothing yet');
    await expectText(page.getByRole('table', { name: 'Consent preview' }), 'Would be left out by');
    const table = page.getByRole('table', { name: 'Consent preview' });
    const column = await table
      .locator('thead th')
      .evaluateAll((cells) => cells.findIndex((c) => c.textContent?.includes('C9 needs sharing consent')));
    expect(column).toBeGreaterThan(2);
    const cellOf = (segment: string) =>
      table.locator('tbody tr', { hasText: segment }).locator('th, td').nth(column);
    await expectText(cellOf('Cart abandoners'), /^\d+$/);
    await expectText(cellOf('Frequent buyers'), /^—$/);
    await page.getByLabel('Dataflow name').fill('Acme US retargeting');
    await shot(page, '10-activate-review');
    await page.getByRole('button', { name: 'Finish' }).click();
    await page.getByRole('heading', { name: /Acme US retargeting/ }).waitFor();
    dataflowId = /#\/dataflows\/([^/]+)/.exec(page.url())?.[1] ?? '';
    expect(dataflowId).not.toBe('');
    const flow = await callApi<{
      mapping: unknown[];
      audiences: {
        mappingName: string;
        ttlDays: number | null;
        endDate: string | null;
        removeMembersAtEnd: boolean;
      }[];
    }>(stack, 'GET', `/dataflows/${dataflowId}`);
    expect(flow.mapping).toHaveLength(2);
    expect(
      flow.audiences
        .map((a) => [a.mappingName, a.ttlDays, a.endDate?.slice(0, 10) ?? null, a.removeMembersAtEnd])
        .sort(),
    ).toEqual([
      ['Cart abandoners last 7 days', 30, '2030-01-01', true],
      ['Frequent buyers', null, null, false],
    ]);
    await callApi(stack, 'PUT', '/field-labels', { fields: [] });
    await callApi(stack, 'PUT', '/consent-policies', { policies: before });
    await callApi(stack, 'PATCH', '/segments/seg-cart', { labels: [] });
  });

  it(
    'shows runs, charts, exclusions and audiences with the right counts after profiles are ingested',
    { timeout: 240_000 },
    async () => {
      const profiles: Profile[] = [];
      for (let i = 0; i < 20; i += 1) profiles.push(profile('seg-buyers', `buyer${i}@example.com`));
      for (let i = 0; i < 5; i += 1) profiles.push(profile('seg-cart', `Cart.User${i}@Example.com`));
      for (let i = 0; i < 3; i += 1) profiles.push(profile('seg-buyers', `not-an-email-${i}`));
      const ingest = await callApi<{ accepted: number }>(stack, 'POST', '/ingest/profiles', profiles);
      expect(ingest.accepted).toBe(28);

      await page.getByRole('button', { name: 'Deliver now' }).click();
      // What went to X, in a sentence (or, for a long delivery, that it goes on in the background).
      await expectText(
        page.getByRole('status').filter({ hasText: /Delivered|Delivering/ }),
        /Delivered in \d+ requests?: \d+ identifiers? added|in the background/,
        60_000,
      );
      await expectText(page.getByTestId('total-received'), /^28$/, 60_000);
      await expectText(page.getByTestId('total-activated'), /^25$/, 60_000);
      const runs = await callApi<{
        items: { identitiesExcluded: number; identitiesFailed: number; xRequests?: number }[];
      }>(stack, 'GET', `/dataflows/${dataflowId}/runs`);
      const excluded = runs.items.reduce((n, r) => n + r.identitiesExcluded, 0);
      expect(excluded).toBeGreaterThanOrEqual(3);
      await expectText(page.getByTestId('total-excluded'), new RegExp(`^${excluded}$`));
      await expectText(page.getByTestId('total-failed'), /^0$/);
      const table = page.getByTestId('runs-table');
      await expectText(table, '28');
      await expectText(table, /Completed|Processing/i);
      // Only the runs with failed identities: none; with excluded ones: the run again.
      await page.getByLabel('Show').selectOption('failed');
      await page.getByText('No runs with failed identities in this range').waitFor();
      await page.getByLabel('Show').selectOption('excluded');
      await expectText(page.getByTestId('runs-table'), '28');
      expect(await page.locator('figure.chart svg.recharts-surface').count()).toBeGreaterThanOrEqual(3);
      // X requests are stored per run, so their chart is the history, not a live sample.
      await page.getByRole('figure', { name: 'X requests per hour' }).waitFor();
      expect(runs.items.reduce((n, r) => n + (r.xRequests ?? 0), 0)).toBeGreaterThan(0);
      await shot(page, '11-dataflow-runs');

      await page.getByRole('link', { name: 'Errors & exclusions' }).click();
      await page.getByLabel('Identities excluded').check();
      const reasons = page.getByTestId('reasons-table');
      await expectText(reasons, 'email_missing_at');
      await expectText(reasons.locator('tr', { hasText: 'email_missing_at' }), /\b3\b/);
      await expectText(reasons, 'Not an email address');
      await shot(page, '12-dataflow-exclusions');

      await page.getByRole('link', { name: 'Audiences' }).click();
      const audiences = page.getByTestId('audiences-table');
      for (const [name, members] of [
        ['Frequent buyers', 20],
        ['Cart abandoners last 7 days', 5],
      ] as const) {
        const row = audiences.locator('tr', { hasText: name });
        await expectText(row.getByTestId('pending-adds'), /^0$/, 60_000);
        await expectText(row.getByTestId('pending-removes'), /^0$/);
        await expectText(row.getByTestId('next-delivery'), /^—$/);
        await expectText(row.getByTestId('last-delivery'), /^(just now|\d+ min ago)$/);
        await expectText(row.getByTestId('x-audience-id'), /^\w+$/, 60_000);
        const xAudienceId = (await row.getByTestId('x-audience-id').innerText()).trim();
        // X (the emulator) holds exactly the members the console reports as delivered for this audience.
        const atX = await fetch(
          `${stack.emulatorUrl}/_emulator/accounts/${DEMO_ACCOUNT}/custom_audiences/${xAudienceId}/members`,
        ).then((r) => r.json() as Promise<{ total_count: number }>);
        expect(atX.total_count, name).toBe(members);
      }
      await shot(page, '13-dataflow-audiences');

      await page.getByRole('link', { name: 'Dead letters' }).click();
      await expectText(page.locator('main'), 'No dead letters');
    },
  );

  it(
    'keeps users X refuses as dead letters and replays them once the cause is gone',
    { timeout: 180_000 },
    async () => {
      const faults = `${stack.emulatorUrl}/_emulator/faults`;
      // X refuses the users of every users request, naming them in operation_errors, until the fault is removed.
      const refusal = {
        operation_errors: [[{ code: 'INVALID_PARAMETER', message: 'Invalid user', parameter: 'users' }]],
      };
      const added = await fetch(faults, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          faults: [{ method: 'POST', path: 'users$', status: 400, body: refusal, times: 1000 }],
        }),
      });
      expect(added.ok).toBe(true);
      await callApi(stack, 'POST', '/ingest/profiles', [
        profile('seg-buyers', 'late.buyer1@example.com'),
        profile('seg-buyers', 'late.buyer2@example.com'),
      ]);
      await page.getByRole('button', { name: 'Deliver now' }).click();
      const replayAll = page.getByRole('button', { name: /Replay all/ });
      await expectText(replayAll, 'Replay all (2)', 60_000);
      await expectText(page.locator('main table'), 'Update');
      await shot(page, '14-dataflow-dead-letters');

      expect((await fetch(faults, { method: 'DELETE' })).ok).toBe(true);
      await replayAll.click();
      await expectText(
        page.getByRole('status').filter({ hasText: 'queued' }),
        '2 dead letters queued for delivery again.',
      );
      await page.getByRole('link', { name: 'Audiences' }).click();
      const row = page.getByTestId('audiences-table').locator('tr', { hasText: 'Frequent buyers' });
      const xAudienceId = (await row.getByTestId('x-audience-id').innerText()).trim();
      await waitFor(
        'the replayed users at X',
        async () => {
          const atX = await fetch(
            `${stack.emulatorUrl}/_emulator/accounts/${DEMO_ACCOUNT}/custom_audiences/${xAudienceId}/members`,
          ).then((r) => r.json() as Promise<{ total_count: number }>);
          if (atX.total_count === 22) return true;
          // Replayed changes go out with the next delivery.
          await page.getByRole('button', { name: 'Deliver now' }).click();
          return undefined;
        },
        60_000,
      );
      // Delivered on their replay, they are failed no longer.
      await page.getByRole('link', { name: 'Runs & charts' }).click();
      await expectText(page.getByTestId('total-failed'), /^0$/);
    },
  );

  it('imports a CSV file from the Import tab and shows its report', { timeout: 120_000 }, async () => {
    await page.getByRole('link', { name: 'Import a file' }).click();
    const csv = [
      // The last column names a segment no dataflow activates (a typo): imported, with a warning saying so.
      'profile_key,email,segment:seg-buyers,segment:seg-buyerz',
      'crm-901,file.buyer1@example.com,1,0',
      'crm-902,file.buyer2@example.com,yes,0',
      'crm-903,file.buyer3@example.com,perhaps,0',
    ].join('\n');
    await page
      .getByLabel('File', { exact: true })
      .setInputFiles({ name: 'buyers.csv', mimeType: 'text/csv', buffer: Buffer.from(csv) });
    expect(await page.getByLabel('Format').inputValue()).toBe('csv');
    await page.getByRole('button', { name: 'Import', exact: true }).click();
    await expectText(page.getByTestId('import-rows'), '3');
    await expectText(page.getByTestId('import-accepted'), '2');
    await expectText(page.getByTestId('import-rejected'), '1');
    await expectText(page.getByTestId('import-key'), 'Import key console:');
    await expectText(
      page.getByTestId('import-warning'),
      /No dataflow of this sandbox activates segment seg-buyerz/,
    );
    // The bad row is named by its line in the file.
    await expectText(page.locator('main table'), '4');
    await shot(page, '15-dataflow-import');

    await page.getByRole('button', { name: 'Deliver now' }).click();
    await page.getByRole('link', { name: 'Audiences' }).click();
    const row = page.getByTestId('audiences-table').locator('tr', { hasText: 'Frequent buyers' });
    // The table refreshes itself: the id shows once the delivery that creates the X audience has run.
    await expectText(row.getByTestId('x-audience-id'), /\w+/);
    const xAudienceId = (await row.getByTestId('x-audience-id').innerText()).trim();
    await waitFor(
      'the imported users at X',
      async () => {
        const atX = await fetch(
          `${stack.emulatorUrl}/_emulator/accounts/${DEMO_ACCOUNT}/custom_audiences/${xAudienceId}/members`,
        ).then((r) => r.json() as Promise<{ total_count: number }>);
        return atX.total_count === 24 ? true : undefined;
      },
      60_000,
    );

    // Activate now sends every member again (X keeps a set: still 24); a second time within 24 hours is refused.
    const usersRequestsBefore = (
      await fetch(`${stack.emulatorUrl}/_emulator/requests?path=/users`).then(
        (r) => r.json() as Promise<{ data: unknown[] }>,
      )
    ).data.length;
    await row.getByRole('button', { name: /Activate now/ }).click();
    await expectText(
      page.getByRole('status').filter({ hasText: 'sent to X again' }),
      /members of Frequent buyers/,
    );
    await page.getByRole('button', { name: 'Deliver now' }).click();
    await waitFor(
      'the members sent again',
      async () => {
        const log = await fetch(`${stack.emulatorUrl}/_emulator/requests?path=/users`).then(
          (r) => r.json() as Promise<{ data: Array<{ path: string }> }>,
        );
        const atX = await fetch(
          `${stack.emulatorUrl}/_emulator/accounts/${DEMO_ACCOUNT}/custom_audiences/${xAudienceId}/members`,
        ).then((r) => r.json() as Promise<{ total_count: number }>);
        return log.data.length > usersRequestsBefore && atX.total_count === 24 ? true : undefined;
      },
      60_000,
    );
    await row.getByRole('button', { name: /Activate now/ }).click();
    await expectText(page.getByRole('alert'), /once per 24 hours/);

    // A file the service reads from a presigned URL, on the one origin it may read; the format from the path.
    await page.getByRole('link', { name: 'Import a file' }).click();
    await page.getByLabel('From a URL').check();
    const fileUrl = page.getByLabel('File URL');
    await fileUrl.fill('https://files.example.com/exports/newsletter.csv?sig=abc');
    expect(await page.getByLabel('Format').inputValue()).toBe('csv');
    await page.getByRole('button', { name: 'Import', exact: true }).click();
    await expectText(page.getByRole('alert'), 'is not an origin this service may read');
    expect(objectRequests).toEqual([]);
    await fileUrl.fill(`${objectsOrigin}/exports/newsletter.csv?X-Amz-Signature=abc`);
    await page.getByRole('button', { name: 'Import', exact: true }).click();
    await expectText(page.getByTestId('import-rows'), '2');
    await expectText(page.getByTestId('import-accepted'), '2');
    await expectText(page.getByTestId('import-key'), 'Import key url-');
    expect(objectRequests).toEqual(['/exports/newsletter.csv?X-Amz-Signature=abc']);
    await shot(page, '15b-dataflow-import-url');
    // A Parquet export too: the service reads it by byte ranges, from its end.
    const csvKey = await page.getByTestId('import-key').innerText();
    await fileUrl.fill(`${objectsOrigin}/exports/newsletter.parquet?X-Amz-Signature=abc`);
    expect(await page.getByLabel('Format').inputValue()).toBe('parquet');
    await page.getByRole('button', { name: 'Import', exact: true }).click();
    await waitFor('the Parquet import report', async () => {
      const key = await page.getByTestId('import-key').innerText();
      return key !== csvKey && key.includes('url-') ? key : undefined;
    });
    await expectText(page.getByTestId('import-rows'), '2');
    await expectText(page.getByTestId('import-accepted'), '2');
    expect(objectRequests.filter((r) => r.startsWith('/exports/newsletter.parquet')).length).toBeGreaterThan(
      1,
    );
    await page.getByLabel('A file on this computer').check();

    // A mirror file listing one buyer of many looks cut short: its row is written, nobody is removed.
    await page.getByLabel(/Mirror: the file/).check();
    await page.getByLabel('Segment the file holds in full').selectOption('seg-buyers');
    const removedAtMost = page.getByLabel('Members removed at most (%)');
    expect(await removedAtMost.inputValue()).toBe('90');
    await removedAtMost.fill('95');
    await page.getByLabel('File', { exact: true }).setInputFiles({
      name: 'one-buyer.csv',
      mimeType: 'text/csv',
      buffer: Buffer.from('profile_key,email\ncrm-901,file.buyer1@example.com\n'),
    });
    await page.getByRole('button', { name: 'Import', exact: true }).click();
    await expectText(page.getByTestId('import-rows'), '1');
    await expectText(
      page.locator('main'),
      /Nobody was removed: \d+ of the segment's \d+ known members are absent from the file \(more than 95%\)/,
    );
    await page.getByLabel(/Incremental: add/).check();
  });

  it(
    'resumes an interrupted upload from the Import tab: the rows written are skipped, the rest imported',
    { timeout: 120_000 },
    async () => {
      // A file of 25,000 rows whose upload stops after about 22,000: the first batch (20,000 rows) is written.
      const rows = Array.from({ length: 25_000 }, (_, i) => `crm-r${i},resume.${i}@example.com,1`);
      const csv = `profile_key,email,segment:seg-archive\n${rows.join('\n')}\n`;
      const bytes = Buffer.from(csv);
      const cutAt = bytes.indexOf('crm-r22000,');
      let at = 0;
      const body = new ReadableStream<Uint8Array>({
        pull(controller) {
          if (at >= cutAt) return controller.error(new Error('the network went away'));
          const end = Math.min(at + 64 * 1024, cutAt);
          controller.enqueue(new Uint8Array(bytes.subarray(at, end)));
          at = end;
        },
      });
      await expect(
        fetch(`${stack.url}/api/v1/imports`, {
          method: 'POST',
          headers: {
            authorization: `Bearer ${stack.adminToken}`,
            'content-type': 'text/csv',
            'idempotency-key': 'nightly-crm',
          },
          body,
          duplex: 'half',
        } as RequestInit),
      ).rejects.toThrow();
      await waitFor(
        'the import to stop',
        async () => {
          const i = await callApi<{ status: string; rowsCommitted: number }>(
            stack,
            'GET',
            '/imports/nightly-crm',
          );
          return i.status === 'interrupted' && i.rowsCommitted === 20_000 ? true : undefined;
        },
        30_000,
      );

      await page.getByRole('link', { name: 'Import a file' }).click();
      const listed = page.getByTestId('recent-imports').locator('tr', { hasText: 'nightly-crm' });
      await expectText(listed, 'Interrupted');
      await expectText(listed, '20,000');
      await listed.getByRole('button', { name: 'Resume…' }).click();
      await expectText(page.getByTestId('import-resuming'), 'Resuming import nightly-crm');
      await page
        .getByLabel('File', { exact: true })
        .setInputFiles({ name: 'nightly.csv', mimeType: 'text/csv', buffer: bytes });
      await page.getByRole('button', { name: 'Resume import' }).click();
      await expectText(page.getByTestId('import-attempts'), 'took 2 attempts');
      await expectText(page.getByTestId('import-rows'), '25,000');
      await expectText(page.getByTestId('import-accepted'), '25,000');
      await expectText(listed, 'Complete');
      await shot(page, '15b-dataflow-import-resumed');
      const done = await callApi<{ status: string; rowsCommitted: number; attempts: number }>(
        stack,
        'GET',
        '/imports/nightly-crm',
      );
      expect(done).toMatchObject({ status: 'complete', rowsCommitted: 25_000, attempts: 2 });

      // A file refused at its header wrote nothing: it is listed as stopped, and no Resume is offered for it.
      await page.getByLabel('File', { exact: true }).setInputFiles({
        name: 'no-key.csv',
        mimeType: 'text/csv',
        buffer: Buffer.from('email,segment:seg-archive\nno.key@example.com,1\n'),
      });
      await page.getByRole('button', { name: 'Import', exact: true }).click();
      await expectText(
        page.getByRole('alert').filter({ hasText: 'was not imported' }),
        'a "profile_key" column is required',
      );
      const [refused] = (
        await callApi<{ imports: { key: string; status: string; rowsCommitted: number }[] }>(
          stack,
          'GET',
          '/imports?limit=1',
        )
      ).imports;
      expect(refused).toMatchObject({ status: 'failed', rowsCommitted: 0 });
      const refusedRow = page.getByTestId('recent-imports').locator('tr', { hasText: refused!.key });
      await expectText(refusedRow, 'Stopped by an error');
      await expectText(refusedRow, 'Nothing to resume: no row was written');
      expect(await refusedRow.getByRole('button', { name: 'Resume…' }).count()).toBe(0);
      expect(await page.getByTestId('import-stopped').count()).toBe(0);
      await shot(page, '15b-dataflow-import-refused-header');
    },
  );

  it(
    'imports a Parquet file read in the browser, and the parts of one export picked together as one file',
    { timeout: 120_000 },
    async () => {
      await page.getByRole('link', { name: 'Import a file' }).click();
      // Two people the archive segment holds already, in row groups of one, and a row without a key.
      const keys = ['crm-r0', 'crm-r1', ''];
      const parquet = parquetWriteBuffer({
        columnData: [
          { name: 'profile_key', data: keys, type: 'STRING' },
          { name: 'email', data: keys.map((_, i) => `resume.${i}@example.com`), type: 'STRING' },
          { name: 'segment:seg-archive', data: keys.map(() => true), type: 'BOOLEAN' },
        ],
        rowGroupSize: 1,
      });
      await page.getByLabel('File', { exact: true }).setInputFiles({
        name: 'archive.parquet',
        mimeType: 'application/octet-stream',
        buffer: Buffer.from(parquet),
      });
      expect(await page.getByLabel('Format').inputValue()).toBe('parquet');
      await page.getByRole('button', { name: 'Import', exact: true }).click();
      await expectText(page.getByTestId('import-rows'), '3');
      await expectText(page.getByTestId('import-accepted'), '2');
      await expectText(page.getByTestId('import-rejected'), '1');
      // The row without a key is row 3 of the file: line 4 of the CSV it was sent as.
      await expectText(page.locator('table', { hasText: 'Rejected rows' }), '4');
      await shot(page, '15c-dataflow-import-parquet');

      const nested = nestedParquet();
      await page.getByLabel('File', { exact: true }).setInputFiles({
        name: 'nested.parquet',
        mimeType: 'application/octet-stream',
        buffer: Buffer.from(nested),
      });
      await page.getByRole('button', { name: 'Import', exact: true }).click();
      const alert = page.getByRole('alert');
      await expectText(alert, 'has columns a profile row cannot hold');
      await expectText(alert, 'column "address"');

      // The parts of one export, picked together, are one import (the second part gzipped, its header left out).
      const header = 'profile_key,email,segment:seg-archive';
      const row = (i: number) => `crm-r${i},resume.${i}@example.com,1`;
      await page.getByLabel('File', { exact: true }).setInputFiles([
        {
          name: 'part-0.csv',
          mimeType: 'text/csv',
          buffer: Buffer.from(`${header}\n${row(0)}\n${row(1)}\n`),
        },
        {
          name: 'part-1.csv.gz',
          mimeType: 'application/gzip',
          buffer: gzipSync(`${header}\n${row(2)}\n,nobody@example.com,1\n`),
        },
      ]);
      expect(await page.getByLabel('Format').inputValue()).toBe('csv');
      await page.getByRole('button', { name: 'Import', exact: true }).click();
      await expectText(page.getByTestId('import-rows'), '4');
      await expectText(page.getByTestId('import-accepted'), '3');
      await expectText(page.locator('table', { hasText: 'Rejected rows' }), '5');

      // Parts of different shapes are refused before anything is sent.
      await page.getByLabel('File', { exact: true }).setInputFiles([
        { name: 'part-0.csv', mimeType: 'text/csv', buffer: Buffer.from(`${header}\n${row(0)}\n`) },
        { name: 'other.csv', mimeType: 'text/csv', buffer: Buffer.from(`profile_key,phone\n${row(1)}\n`) },
      ]);
      await page.getByRole('button', { name: 'Import', exact: true }).click();
      await expectText(page.getByRole('alert'), 'do not share one header');
      await page.getByLabel('File', { exact: true }).setInputFiles([
        { name: 'part-0.csv', mimeType: 'text/csv', buffer: Buffer.from(`${header}\n${row(0)}\n`) },
        { name: 'part-1.ndjson', mimeType: 'application/x-ndjson', buffer: Buffer.from('{}\n') },
      ]);
      await expectText(page.getByRole('alert'), 'different formats');
      expect(await page.getByRole('button', { name: 'Import', exact: true }).isDisabled()).toBe(true);

      // A larger file shows how much of it was sent while the service reads it (profiles of a segment no dataflow
      // activates: stored, sent nowhere).
      const big = `profile_key,email,segment:seg-none\n${Array.from({ length: 100_000 }, (_, i) => `crm-big${i},big.${i}@example.com,1`).join('\n')}\n`;
      await page
        .getByLabel('File', { exact: true })
        .setInputFiles({ name: 'big.csv', mimeType: 'text/csv', buffer: Buffer.from(big) });
      await page.getByRole('button', { name: 'Import', exact: true }).click();
      const megabytes = (Buffer.byteLength(big) / 1_000_000).toFixed(1);
      await expectText(page.getByTestId('import-progress'), `of ${megabytes} MB sent`);
      await expectText(page.getByTestId('import-rows'), '100,000');
      expect(await page.getByTestId('import-progress').count()).toBe(0);
    },
  );

  it('pauses, resumes and edits the schedule with re-validation', { timeout: 120_000 }, async () => {
    await page.getByRole('button', { name: 'Pause' }).click();
    await expectText(page.getByRole('heading', { level: 1 }), /paused/i);
    // Changes held back while paused: the service's next count of the backlog (every 30 s) is charted per run.
    await callApi(stack, 'POST', '/ingest/profiles', [profile('seg-buyers', 'held.back@example.com')]);
    await page.getByRole('link', { name: 'Runs & charts' }).click();
    const peak = page.getByRole('figure', { name: 'Pending changes, hourly peak' });
    await peak.waitFor({ timeout: 60_000 });
    const counted = await callApi<{ items: { pendingPeak?: number }[] }>(
      stack,
      'GET',
      `/dataflows/${dataflowId}/runs`,
    );
    expect(counted.items.some((r) => (r.pendingPeak ?? 0) >= 1)).toBe(true);
    await page.getByRole('button', { name: 'Resume' }).click();
    await expectText(page.getByRole('heading', { level: 1 }), /active/i);

    await page.getByRole('link', { name: 'Mapping & schedule' }).click();
    const buyers = page.getByRole('group', { name: 'Frequent buyers', exact: true });
    // The X audience in use is shown read-only; the form never sends it back.
    const inUse = buyers.getByLabel('X audience in use');
    const createdId = await waitFor('the X audience in use', async () => {
      const value = await inUse.inputValue();
      return /^\w+$/.test(value) ? value : undefined;
    });
    expect(await inUse.getAttribute('readonly')).not.toBeNull();
    await buyers.getByLabel('Mapping name').fill('Frequent buyers: VIP');
    await page.getByRole('button', { name: 'Save changes' }).click();
    await expectText(page.getByRole('alert').first(), 'Fix the problems marked above');
    await buyers.getByLabel('Mapping name').fill('Frequent buyers VIP');
    await page.getByRole('button', { name: 'Save changes' }).click();
    await expectText(page.getByRole('status').filter({ hasText: 'Saved' }), 'Saved');
    await shot(page, '16-dataflow-settings');
    const flow = await callApi<{
      audiences: { mappingName: string; existingXAudienceId: string | null; xAudienceId: string | null }[];
    }>(stack, 'GET', `/dataflows/${dataflowId}`);
    expect(flow.audiences.map((a) => a.mappingName)).toContain('Frequent buyers VIP');
    // Saving kept the created audience a created one.
    expect(flow.audiences.find((a) => a.mappingName === 'Frequent buyers VIP')).toMatchObject({
      existingXAudienceId: null,
      xAudienceId: createdId,
    });
  });

  it('creates and revokes an API token in Settings', async () => {
    await page.getByRole('link', { name: 'Settings' }).click();
    await page.getByRole('heading', { name: 'API tokens' }).waitFor();
    // The demo sandbox holds profiles: its profile keys are shown, and fixed.
    await expectText(page.getByTestId('profile-key-namespaces'), 'ECID, CRMID');
    await expectText(page.locator('main'), 'Fixed: this sandbox holds profiles');
    await page.getByLabel('Token name').fill('cdp-streaming');
    await page.getByLabel('Ingest Profiles').check();
    await page.getByRole('button', { name: 'Create token' }).click();
    const secret = await waitFor(
      'the new token',
      async () => (await page.getByLabel('New token').inputValue()) || undefined,
    );
    expect(secret.length).toBeGreaterThan(10);
    const row = page.getByRole('table', { name: 'API tokens' }).locator('tr', { hasText: 'cdp-streaming' });
    await expectText(row, 'Ingest Profiles');
    await shot(page, '17-settings-token-created');
    await row.getByRole('button', { name: /Revoke/ }).click();
    await row.getByRole('button', { name: 'Confirm revoke' }).click();
    await expectText(row, /revoked/i);
    const denied = await fetch(`${stack.url}/api/v1/me`, { headers: { authorization: `Bearer ${secret}` } });
    expect(denied.status).toBe(401);
    // Both changes head the audit trail, newest first, with the fields sent and never the token's values.
    const trail = page.getByRole('table', { name: 'Audit trail' });
    const rows = trail.locator('tbody tr');
    await expectText(rows.nth(0), 'Revoke a token');
    await expectText(rows.nth(0), 'DELETE /api/v1/tokens/:id');
    await expectText(rows.nth(1), 'Create a token');
    await expectText(rows.nth(1), 'name, permissions');
    expect(await trail.textContent()).not.toContain(secret);
    // The trail is pushed to the SIEM; once it has the revocation, the section says where and that nothing waits.
    await waitFor('the SIEM to receive the revocation', async () =>
      siemEvents.some((line) => line.includes('"Revoke a token"')) ? true : undefined,
    );
    await page.reload();
    const forward = page.getByTestId('audit-forward');
    await expectText(forward, `Pushed to ${siemUrl} (NDJSON)`);
    await expectText(forward, 'nothing waiting');
    const outbound = page.getByTestId('outbound-proxy');
    await expectText(
      outbound,
      'Outbound requests go through http://***@proxy.corp.example:3128 (http and https); directly to loopback and .corp.example.',
    );
    expect(await page.content()).not.toContain('hush');
    await expectText(
      page.getByTestId('import-urls'),
      `Imports from a URL may read ${objectsOrigin} (and redirects within them), nothing else.`,
    );
    await shot(page, '17b-settings-audit-trail');
    // The installation's alert webhook, tested from here (the admin's).
    const installation = page.getByTestId('installation-alert-webhook');
    await expectText(
      installation,
      `Every sandbox's alerts also go to ${new URL(siemUrl).origin}, unsigned (set TCA_ALERT_WEBHOOK_SECRET to sign them).`,
    );
    await expectText(
      installation,
      `Every alert also triggers a PagerDuty incident (Events API v2 at ${new URL(siemUrl).origin}), resolved with the alert.`,
    );
    expect(await page.content()).not.toContain(PAGERDUTY_KEY);
    // The key is checked from here: a test incident, triggered and resolved at once.
    const pd = page.getByTestId('pagerduty');
    await pd.getByRole('button', { name: 'Send test incident' }).click();
    await expectText(pd.getByRole('status'), 'PagerDuty accepted the test incident, now resolved');
    const tests = pagerDutyEvents.filter((e) =>
      (e as { dedup_key?: string }).dedup_key?.startsWith('tca-test-'),
    );
    expect(tests.map((e) => [e.routing_key, e.event_action])).toEqual([
      [PAGERDUTY_KEY, 'trigger'],
      [PAGERDUTY_KEY, 'resolve'],
    ]);
    const webhook = page.getByTestId('installation-webhook');
    await webhook.getByRole('button', { name: 'Send test alert' }).click();
    await expectText(webhook.getByRole('status'), "Delivered to the installation's webhook");
    expect(installationAlerts.map((a) => a.type)).toContain('test');
    // Alert emails: to whom and through which server (never its login), and a test email on request.
    const email = page.getByTestId('alert-email');
    await expectText(
      email,
      `Every alert is also emailed to oncall@example.com through ${smtp.url.replace('user:secret@', '')}.`,
    );
    expect(await page.content()).not.toContain('user:secret');
    await email.getByRole('button', { name: 'Send test email' }).click();
    await expectText(
      email.getByRole('status'),
      'The SMTP server accepted the test email to oncall@example.com',
    );
    expect(
      smtp.received.some(
        (m) => m.to.includes('oncall@example.com') && /^\[TEST\] /.test(m.headers['subject'] ?? ''),
      ),
    ).toBe(true);
  });

  it('adds a data-usage policy of the sandbox in Settings, which then guards the activated segments', async () => {
    await page.getByRole('link', { name: 'Settings' }).click();
    const table = page.getByRole('table', { name: 'Data-usage policies' });
    await expectText(table, 'every activation to X');
    await page.getByLabel('Data-usage policy name').fill('Scores stay off-site');
    await page.getByLabel('Forbids the marketing action').selectOption('Onsite Advertising');
    await page.getByLabel('On segments labelled').fill('my-score');
    await page.getByRole('button', { name: 'Add data-usage policy' }).click();
    const row = page.getByTestId('own-policy');
    await expectText(row, 'MY-SCORE');
    await expectText(row, /enabled/i);
    await shot(page, '18b-settings-data-usage-policy');
    // Frequent buyers is activated to a destination used for on-site advertising: the label is refused now.
    const labelled = await fetch(`${stack.url}/api/v1/segments/seg-buyers`, {
      method: 'PATCH',
      headers: { authorization: `Bearer ${stack.adminToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ labels: ['MY-SCORE'] }),
    });
    expect(labelled.status).toBe(409);
    // Renamed in place, as consent policies are; the policy keeps its rule.
    await row.getByRole('button', { name: 'Rename Scores stay off-site' }).click();
    await page.getByLabel('New name of Scores stay off-site').fill('Scores never on our pages');
    await page.getByRole('button', { name: 'Save', exact: true }).click();
    await expectText(row, 'Scores never on our pages');
    const own = await callApi<{ custom: Array<{ name: string; action: string; labels: string[] }> }>(
      stack,
      'GET',
      '/data-usage-policies',
    );
    expect(own.custom).toEqual([
      expect.objectContaining({
        name: 'Scores never on our pages',
        action: 'Onsite Advertising',
        labels: ['MY-SCORE'],
      }),
    ]);
    await row.getByRole('button', { name: 'Remove' }).click();
    await waitFor('the policy to go', async () => ((await row.count()) === 0 ? true : undefined));
  });

  it('labels a mapped field in Settings, refused while a dataflow exports it to a forbidden use', async () => {
    await page.getByRole('link', { name: 'Settings' }).click();
    await page.getByRole('heading', { name: 'Field labels' }).waitFor();
    // The activated dataflow maps Email to a destination used for on-site advertising, which C6 forbids.
    await page.getByLabel('Field kind').selectOption('namespace');
    await page.getByLabel('Field', { exact: true }).fill('email');
    await page.getByLabel('Its labels').fill('C6');
    await page.getByRole('button', { name: 'Label field' }).click();
    await expectText(page.getByRole('alert').first(), 'the mapping exports Email, labelled C6');
    expect(await page.getByTestId('field-label').count()).toBe(0);
    await page.getByLabel('Field kind').selectOption('attribute');
    await page.getByLabel('Field', { exact: true }).fill('loyalty.score');
    await page.getByLabel('Its labels').fill('c6, my-score');
    await page.getByRole('button', { name: 'Label field' }).click();
    const row = page.getByTestId('field-label');
    await expectText(row, 'loyalty.score');
    await expectText(row, 'C6, MY-SCORE');
    expect((await callApi<{ fields: unknown[] }>(stack, 'GET', '/field-labels')).fields).toEqual([
      { sourceType: 'attribute', source: 'loyalty.score', labels: ['C6', 'MY-SCORE'] },
    ]);
    await row.getByRole('button', { name: 'Remove' }).click();
    await waitFor('the label to go', async () => ((await row.count()) === 0 ? true : undefined));
  });

  it('adds, switches off and removes a consent policy in Settings', async () => {
    await page.getByRole('link', { name: 'Settings' }).click();
    await page.getByRole('heading', { name: 'Consent policies' }).waitFor();
    // The policy made at the start, switched off.
    await expectText(page.getByTestId('consent-policy'), 'Onsite ads need sharing consent');
    await page.getByLabel('Consent policy name').fill('Email needs opt-in');
    await page.getByLabel('If the destination is used for').selectOption('Email Targeting');
    await page.getByLabel('Then the consent attribute').selectOption('consents.marketing.email.val');
    // A value XDM does not have is refused by the service, with the field named.
    await page.getByLabel('Must hold one of').fill('y, maybe');
    await page.getByRole('button', { name: 'Add consent policy' }).click();
    await expectText(page.getByRole('alert').first(), 'policies[1].allowedValues[1]');
    await page.getByLabel('Must hold one of').fill('y, dy');
    // Or else consent to all marketing.
    await page.getByLabel('Or else the consent attribute').selectOption('consents.marketing.any.val');
    await page.getByLabel('Holds one of').fill('y');
    await page.getByRole('button', { name: 'Add consent policy' }).click();
    const row = page.getByTestId('consent-policy').filter({ hasText: 'Email needs opt-in' });
    await expectText(row, 'consents.marketing.email.val is y or dy, or consents.marketing.any.val is y');
    // The profiles ingested earlier carry no consent: the policy would leave all of them out.
    await expectText(row, /of [\d,]+ known profiles \(100%\)/);
    // Added switched off, as AEP does; switched on, then off again.
    await expectText(row, /disabled/i);
    await row.getByRole('button', { name: 'Switch on' }).click();
    await expectText(row, /enabled/i);
    await shot(page, '18a-settings-consent-policy');
    await row.getByRole('button', { name: 'Switch off' }).click();
    await expectText(row, /disabled/i);
    // Renamed in place; a name another policy holds is refused with the field named, and the name stays.
    // (While renamed, the row shows the name in a field: the page finds it by its label.)
    await row.getByRole('button', { name: 'Rename Email needs opt-in' }).click();
    await page.getByLabel('New name of Email needs opt-in').fill('onsite ads need sharing consent');
    await page.getByRole('button', { name: 'Save', exact: true }).click();
    await expectText(page.getByRole('alert').first(), 'policies[1].name');
    await row.getByRole('button', { name: 'Rename Email needs opt-in' }).click();
    await page.getByLabel('New name of Email needs opt-in').fill('Email or all marketing');
    await page.getByRole('button', { name: 'Save', exact: true }).click();
    const renamed = page.getByTestId('consent-policy').filter({ hasText: 'Email or all marketing' });
    await expectText(renamed, 'consents.marketing.any.val');
    const stored = await callApi<{
      policies: Array<{ name: string; enabled: boolean; allowedValues: string[] }>;
    }>(stack, 'GET', '/consent-policies');
    expect(stored.policies).toEqual([
      expect.objectContaining({ name: 'Onsite ads need sharing consent', enabled: false }),
      expect.objectContaining({
        name: 'Email or all marketing',
        enabled: false,
        allowedValues: ['y', 'dy'],
        alternatives: [{ attribute: 'consents.marketing.any.val', allowedValues: ['y'] }],
      }),
    ]);
    await renamed.getByRole('button', { name: 'Remove' }).click();
    await waitFor('the policy to go', async () => ((await renamed.count()) === 0 ? true : undefined));

    // A policy that applies through data-usage labels, joined to a marketing action by "or".
    await page.getByLabel('Consent policy name').fill('Health data needs sharing consent');
    await page.getByLabel('If the destination is used for').selectOption('Email Targeting');
    await page.getByLabel('If the data is labelled').fill('c9, health');
    await page.getByLabel('The policy applies when').selectOption('or');
    await page.getByLabel('Then the consent attribute').selectOption('consents.share.val');
    await page.getByLabel('Must hold one of').fill('y');
    await page.getByRole('button', { name: 'Add consent policy' }).click();
    const onLabels = page
      .getByTestId('consent-policy')
      .filter({ hasText: 'Health data needs sharing consent' });
    await expectText(
      onLabels,
      'the destination is used for Email Targeting or the segment or a mapped field is labelled C9 or HEALTH',
    );
    const withLabels = await callApi<{
      policies: Array<{ name: string; labels: string[]; operator: string; marketingActions: string[] }>;
    }>(stack, 'GET', '/consent-policies');
    expect(withLabels.policies[1]).toMatchObject({
      marketingActions: ['Email Targeting'],
      labels: ['C9', 'HEALTH'],
      operator: 'or',
    });
    await onLabels.getByRole('button', { name: 'Remove' }).click();
    await waitFor('the policy to go', async () => ((await onLabels.count()) === 0 ? true : undefined));
  });

  it('erases people for a privacy request in Settings', async () => {
    await callApi(stack, 'POST', '/ingest/profiles', [
      {
        identityMap: { ECID: [{ id: 'ecid-forget-me' }], Email: [{ id: 'forget.me@example.com' }] },
        segmentMembership: { ups: { 'seg-buyers': { status: 'realized' } } },
      },
    ]);
    await page.getByRole('link', { name: 'Settings' }).click();
    await page.getByRole('heading', { name: 'Privacy requests' }).waitFor();
    expect(await page.getByLabel('Identity namespace').inputValue()).toBe('ECID');
    await page.getByLabel('Ids to erase').fill('ecid-forget-me\nnobody-here');
    await page.getByRole('button', { name: 'Erase profiles' }).click();
    const result = page.getByTestId('erasure-result');
    await expectText(result, 'Erased 1 profile(s)');
    await expectText(result, '1 id(s) matched no profile');
    await shot(page, '18c-settings-privacy-request');
    // Sent again, it finds nothing: the profile is gone. By the email a mapping reads, nothing either.
    await page.getByLabel('Ids to erase').fill('ecid-forget-me');
    await page.getByRole('button', { name: 'Erase profile' }).click();
    await expectText(result, 'Erased 0 profile(s)');
    await page.getByLabel('Identity namespace').fill('Email');
    await page.getByLabel('Ids to erase').fill('forget.me@example.com');
    await page.getByRole('button', { name: 'Erase profile' }).click();
    await expectText(result, '1 id(s) matched no profile');
  });

  it('re-keys the profiles in Settings, shows who is left, and ends the re-keying', async () => {
    const person = {
      identityMap: {
        ECID: [{ id: 'ecid-rekey' }],
        CRMID: [{ id: 'crm-rekey' }],
        Email: [{ id: 'rekey@example.com' }],
      },
      segmentMembership: { ups: { 'seg-buyers': { status: 'realized' } } },
    };
    await callApi(stack, 'POST', '/ingest/profiles', [person]);
    await page.getByRole('link', { name: 'Settings' }).click();
    await page.getByRole('button', { name: 'Re-key profiles…' }).click();
    await page.getByLabel('Profile key namespaces').fill('CRMID, ECID');
    await page.getByRole('button', { name: 'Re-key profiles', exact: true }).click();
    const progress = page.getByTestId('rekey-progress');
    await expectText(progress, 'Re-keying from ECID, CRMID');
    await expectText(page.getByTestId('profile-key-namespaces'), 'CRMID, ECID');
    // Profiles keyed by ECID before are keyed by a later namespace now: exports naming both ids merge them.
    await expectText(page.getByTestId('profile-key-merges'), 'speaks for the segments it states');
    const count = async () =>
      (await callApi<{ rekey: { remaining: number } }>(stack, 'GET', '/profile-keys')).rekey.remaining;
    const before = await count();
    expect(before).toBeGreaterThan(1);
    await expectText(progress, `${before.toLocaleString('en-US')} profiles not met under the new keys`);
    // The person arrives again with a new email, now keyed by CRMID: found under the ECID key and moved, one fewer
    // left.
    await callApi(stack, 'POST', '/ingest/profiles', [
      { ...person, identityMap: { ...person.identityMap, Email: [{ id: 'rekey.2@example.com' }] } },
    ]);
    expect(await count()).toBe(before - 1);
    await page.reload();
    await expectText(progress, `${(before - 1).toLocaleString('en-US')} profiles not met`);
    await shot(page, '18d-settings-rekey');
    // Removing the rest asks first; kept instead, nothing leaves X.
    await page.getByRole('button', { name: 'End re-keying, remove the rest…' }).click();
    await expectText(
      page.getByRole('button', { name: /^Confirm: remove/ }),
      (before - 1).toLocaleString('en-US'),
    );
    await page.getByRole('button', { name: 'Cancel' }).click();
    await page.getByRole('button', { name: 'End re-keying, keep the rest' }).click();
    await expectText(page.locator('main'), 'Re-keying ended: 0 profiles left every audience');
    expect(await progress.count()).toBe(0);
    // Back to the default, the same way, for what follows.
    await page.getByRole('button', { name: 'Re-key profiles…' }).click();
    await page.getByRole('button', { name: 'Re-key to the default' }).click();
    await expectText(progress, 'Re-keying from CRMID, ECID');
    await page.getByRole('button', { name: 'End re-keying, keep the rest' }).click();
    await expectText(page.getByTestId('profile-key-namespaces'), 'ECID, CRMID');
  });

  it(
    'switches sandboxes: a token of another sandbox sees only that sandbox',
    { timeout: 120_000 },
    async () => {
      await page.getByLabel('New sandbox name').fill('staging');
      await page.getByRole('button', { name: 'Create sandbox' }).click();
      await expectText(page.locator('.sandbox-list'), 'staging');
      await page.getByLabel('Token name').fill('staging-console');
      await page.getByLabel('Activate Destinations').check();
      await page.getByLabel('Sandbox of the token').selectOption('staging');
      await page.getByRole('button', { name: 'Create token' }).click();
      await page.getByRole('button', { name: 'Use this token in the console (staging)' }).click();
      await expectText(page.locator('main'), 'Sandbox staging');
      expect(await page.locator('#sandbox-switcher').inputValue()).toBe('staging');
      // A new sandbox holds no profile yet: its profile keys can still be chosen.
      await page.getByRole('link', { name: 'Settings' }).click();
      await page.getByLabel('Profile key namespaces').fill('CustomerID, ECID');
      await page.getByRole('button', { name: 'Save profile keys' }).click();
      await expectText(page.getByTestId('profile-key-namespaces'), 'CUSTOMERID, ECID');
      await page.getByRole('link', { name: 'Destinations' }).click();
      await expectText(page.locator('main'), 'No connections yet');
      await shot(page, '18-sandbox-staging');
      await page.locator('#sandbox-switcher').selectOption('prod');
      await expectText(page.locator('main table'), 'X Ads Acme US');
      // The admin reads every sandbox's audit trail in one table: the change made in staging is there, named so.
      await page.getByRole('link', { name: 'Settings' }).click();
      await page.getByLabel('Every sandbox').check();
      const trail = page.getByRole('table', { name: 'Audit trail' });
      await expectText(trail.locator('thead'), 'Sandbox');
      const staged = trail.locator('tbody tr', { hasText: 'PATCH /api/v1/profile-keys' }).first();
      await expectText(staged, 'staging');
      await expectText(staged, 'staging-console');
    },
  );

  it(
    'lays out at tablet width and moves through the navigation with the keyboard',
    { timeout: 120_000 },
    async () => {
      await page.setViewportSize({ width: 768, height: 1024 });
      await page.goto(`${stack.url}/#/`);
      await page.getByRole('heading', { name: 'Destinations', level: 1 }).waitFor();
      await expectText(page.locator('table'), 'X Ads Acme US');
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      expect(overflow).toBeLessThanOrEqual(0);
      await shot(page, '19-catalog-tablet');
      await page.goto(`${stack.url}/#/dataflows/${dataflowId}/runs`);
      await page.getByTestId('runs-table').waitFor();
      expect(
        await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth),
      ).toBeLessThanOrEqual(0);
      await shot(page, '20-dataflow-tablet');

      await page.goto(`${stack.url}/#/`);
      // A fresh load, so keyboard focus starts at the top of the document.
      await page.reload();
      await page.getByRole('heading', { name: 'Destinations', level: 1 }).waitFor();
      // Tab from the top of the page: skip link first, then the main navigation.
      await page.keyboard.press('Tab');
      expect(await page.evaluate(() => document.activeElement?.textContent)).toBe('Skip to content');
      let reached = false;
      for (let i = 0; i < 6 && !reached; i += 1) {
        await page.keyboard.press('Tab');
        reached = (await page.evaluate(() => document.activeElement?.textContent)) === 'Dataflows';
      }
      expect(reached).toBe(true);
      await page.keyboard.press('Enter');
      await page.getByRole('heading', { name: 'Dataflows', level: 1 }).waitFor();
      await expectText(page.locator('table'), 'Acme US retargeting');
      await page.setViewportSize({ width: 1280, height: 900 });
    },
  );

  it(
    'shows the alerts firing on the Dataflows page, each linked to its dataflow',
    { timeout: 120_000 },
    async () => {
      // A connection whose access token X no longer accepts: its first delivery pauses the dataflow, which fires an alert.
      // Its alerts go to a webhook on loopback, which counts the notifications it accepts.
      const notified: string[] = [];
      const hook = createServer((req, res) => {
        let body = '';
        req.setEncoding('utf8');
        req.on('data', (chunk: string) => (body += chunk));
        req.on('end', () => {
          notified.push((JSON.parse(body) as { type: string }).type);
          res.writeHead(204).end();
        });
      });
      await new Promise<void>((r) => hook.listen(0, '127.0.0.1', r));
      const destination = await callApi<{ id: string }>(stack, 'POST', '/destinations', {
        name: 'Revoked connection',
        accountId: DEMO_ACCOUNT,
        credentials: { ...DEMO_APP, accessToken: 'revoked-token', accessTokenSecret: 'revoked-secret' },
        alertWebhookUrl: `http://127.0.0.1:${(hook.address() as AddressInfo).port}/alerts`,
      });
      const flow = await callApi<{ id: string }>(stack, 'POST', '/dataflows', {
        name: 'Revoked flow',
        destinationId: destination.id,
        mapping: [{ sourceType: 'namespace', source: 'Email', target: 'email', applyTransformation: true }],
        audiences: [{ segmentId: 'seg-cart', mappingName: 'Cart abandoners (revoked)' }],
      });
      await callApi(stack, 'POST', '/ingest/profiles', {
        segmentMembership: { ups: { 'seg-cart': { status: 'realized' } } },
        identityMap: { Email: [{ id: 'revoked.token@example.com' }], ECID: [{ id: 'revoked-1' }] },
      });
      // Deliver now sends nothing (X refuses the credentials) and says so as a failure, not as a success.
      await page.goto(`${stack.url}/#/dataflows/${flow.id}/runs`);
      await page.getByRole('button', { name: 'Deliver now' }).click();
      const flushed = page.getByTestId('flush-result');
      await expectText(flushed, /^Incomplete: 1 of 1 audience did not deliver; its changes wait\./, 30_000);
      await expectText(flushed, 'is paused');
      expect(await flushed.getAttribute('class')).toContain('callout-error');
      await waitFor('the paused alert', async () => {
        const firing = await callApi<{ items: Array<{ dataflowId: string }> }>(
          stack,
          'GET',
          '/alerts?status=firing',
        );
        return firing.items.some((a) => a.dataflowId === flow.id) ? true : undefined;
      });
      // The main navigation's link: the dataflow's page has one in its breadcrumb too.
      await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Dataflows' }).click();
      // Opened afresh, as after the dataflow was made elsewhere (a script, another user).
      await page.reload();
      const alerts = page.getByTestId('firing-alerts');
      await expectText(alerts, 'Dataflow "Revoked flow" is paused');
      await expectText(alerts, 'Critical');
      const revokedRow = page.locator('table tbody tr', { hasText: 'Revoked flow' });
      await expectText(revokedRow, 'Paused');
      // The overview says why it needs a look: the pause and the alert. Filtered to those needing one, every row
      // shown says why; the search finds a dataflow by words of its name.
      await expectText(revokedRow.getByRole('list', { name: 'Needs a look' }), 'Paused by an error');
      await expectText(revokedRow.getByRole('list', { name: 'Needs a look' }), 'Alert firing');
      // Its change waits for the dataflow to resume: no delivery time, and the tooltip says why.
      await expectText(revokedRow.getByTestId('next-delivery'), /^on hold$/);
      expect(await revokedRow.getByTestId('next-delivery').getAttribute('title')).toMatch(/not active/);
      // When its source last sent profiles: moments ago (the time itself, not the start of its hour).
      await expectText(
        revokedRow.locator('td[title^="Last profiles arrived"]'),
        /^(just now|[1-3] min ago)$/,
      );
      const attentionOnly = page.getByLabel(/Show only those needing a look/);
      await attentionOnly.check();
      await revokedRow.waitFor();
      const shown = page.locator('table tbody tr');
      for (let i = 0; i < (await shown.count()); i += 1)
        expect(await shown.nth(i).getByRole('list', { name: 'Needs a look' }).count()).toBe(1);
      await attentionOnly.uncheck();
      await page.getByLabel('Search', { exact: true }).fill('REVOKED flow');
      await expectText(page.locator('table tbody'), 'Revoked flow');
      expect(await shown.count()).toBe(1);
      await page.getByLabel('Search', { exact: true }).fill('');
      // Sorted by a column on a click: most failures first, then the other way round.
      const overview = await callApi<{ dataflows: Array<{ name: string; identitiesFailed: number }> }>(
        stack,
        'GET',
        '/monitoring',
      );
      const byFailures = [...overview.dataflows].sort(
        (a, b) => b.identitiesFailed - a.identitiesFailed || a.name.localeCompare(b.name),
      );
      const failedHeader = page.getByRole('columnheader', { name: /^Failed/ });
      await failedHeader.getByRole('button').click();
      expect(await failedHeader.getAttribute('aria-sort')).toBe('descending');
      await expectText(shown.first().getByRole('rowheader'), byFailures[0]!.name);
      await failedHeader.getByRole('button').click();
      expect(await failedHeader.getAttribute('aria-sort')).toBe('ascending');
      const fewest = [...overview.dataflows].sort(
        (a, b) => a.identitiesFailed - b.identitiesFailed || a.name.localeCompare(b.name),
      )[0]!;
      await expectText(shown.first().getByRole('rowheader'), fewest.name);
      await shot(page, '21-firing-alerts');
      // Silenced from here for a chosen time, with the reason; the silence is listed, and ended from the list.
      const item = alerts.locator('li', { hasText: 'Revoked flow' });
      await item.getByText('Silence…').click();
      await item.getByLabel('For', { exact: true }).selectOption({ label: '1 day' });
      await item.getByLabel('Why').fill('re-authorizing the connection');
      await item.getByRole('button', { name: 'Silence', exact: true }).click();
      await expectText(item.getByRole('status'), /Silenced until .+/);
      const silences = page.getByTestId('silences');
      await expectText(silences, '1 alert silence');
      await expectText(silences, 'Dataflow paused alerts of Revoked flow');
      await expectText(silences, '“re-authorizing the connection”');
      const made = await callApi<{
        items: Array<{ id: string; dataflowId: string; startsAt: string; endsAt: string }>;
      }>(stack, 'GET', '/alerts/silences');
      expect(made.items).toHaveLength(1);
      expect(made.items[0]!.dataflowId).toBe(flow.id);
      expect(Date.parse(made.items[0]!.endsAt) - Date.parse(made.items[0]!.startsAt)).toBe(86_400_000);
      await shot(page, '21b-alert-silence');
      await silences.getByRole('button', { name: `End silence ${made.items[0]!.id}` }).click();
      await page.getByTestId('silences').waitFor({ state: 'detached' });
      expect(
        (await callApi<{ items: Array<{ state: string }> }>(stack, 'GET', '/alerts/silences?expired=true'))
          .items,
      ).toEqual([expect.objectContaining({ state: 'ended' })]);
      // Acknowledged from here: it says by whom, and offers no second acknowledgement.
      const acknowledge = item.getByRole('button', {
        name: 'Acknowledge the dataflow paused alert of Revoked flow',
      });
      await acknowledge.click();
      await expectText(item, /acknowledged by \S+/i);
      expect(await acknowledge.count()).toBe(0);
      const acknowledged = await callApi<{
        items: Array<{ dataflowId: string; acknowledgedBy: string | null }>;
      }>(stack, 'GET', `/alerts?status=firing&dataflowId=${flow.id}`);
      expect(acknowledged.items.map((a) => a.acknowledgedBy)).toEqual([expect.any(String)]);
      await alerts.getByRole('link', { name: /Revoked flow/ }).click();
      await page.waitForURL(new RegExp(`#/dataflows/${flow.id}/runs$`));
      // Its own page states the pause once, as its status.
      await expectText(page.locator('main'), 'X refused the credentials (401)');
      expect(await page.getByTestId('firing-alerts').count()).toBe(0);
      // Its Alerts tab lists the alert, firing, with who acknowledged it.
      await page.getByRole('link', { name: 'Alerts', exact: true }).click();
      const history = page.getByRole('table', { name: 'Alerts of this dataflow' });
      await expectText(history, 'dataflow paused');
      const pausedRow = history.locator('tbody tr', { hasText: 'dataflow paused' });
      await shot(page, '21c-dataflow-alerts');
      await expectText(pausedRow, /firing.*critical.*by \S+/i);
      // The source of this dataflow sends daily: an alert if a day and two hours pass without profiles.
      const noData = page.getByLabel('Alert when no profiles arrive for (hours)');
      await noData.fill('0');
      await expectText(page.locator('.field-invalid'), 'A whole number of hours from 1 to 720');
      await noData.fill('26');
      await page.getByRole('button', { name: 'Save', exact: true }).click();
      await expectText(page.locator('main'), 'An alert fires when 26 hours pass without profiles');
      expect(
        (await callApi<{ noDataAlertHours: number | null }>(stack, 'GET', `/dataflows/${flow.id}`))
          .noDataAlertHours,
      ).toBe(26);
      await page.getByRole('link', { name: 'Runs & charts', exact: true }).click();

      // The activated dataflow's audiences are too small for X to target: its page lists those alerts.
      await waitFor(
        'an audience_not_targetable alert',
        async () => {
          const firing = await callApi<{ items: Array<{ dataflowId: string; type: string }> }>(
            stack,
            'GET',
            '/alerts?status=firing',
          );
          return firing.items.some((a) => a.dataflowId === dataflowId && a.type === 'audience_not_targetable')
            ? true
            : undefined;
        },
        90_000,
      );
      await page.goto(`${stack.url}/#/dataflows/${dataflowId}/runs`);
      await page.reload();
      const own = page.getByTestId('firing-alerts');
      await expectText(own, 'is not targetable at X (TOO_SMALL)');
      expect(await own.getByRole('link').count()).toBe(0);
      await waitFor('the paused alert at the webhook', async () =>
        notified.includes('dataflow_paused') ? true : undefined,
      );
      // And a PagerDuty incident triggered for it, with the routing key.
      const trigger = await waitFor('the PagerDuty trigger', async () =>
        pagerDutyEvents.find((e) => e.event_action === 'trigger' && e.payload?.component === 'Revoked flow'),
      );
      // Then its acknowledgement, for the same incident.
      await waitFor('the PagerDuty acknowledgement', async () =>
        pagerDutyEvents.find((e) => e.event_action === 'acknowledge' && e.dedup_key === trigger.dedup_key),
      );
      expect(pagerDutyEvents.every((e) => e.routing_key === PAGERDUTY_KEY)).toBe(true);

      // The connection's webhook is tested from the Destinations page: delivered, then (once it is gone) not.
      await page.getByRole('link', { name: 'Destinations', exact: true }).click();
      const row = page.locator('tr', { hasText: 'Revoked connection' });
      await row.getByRole('button', { name: 'Send test alert (Revoked connection)' }).click();
      await expectText(row.getByRole('status'), 'Delivered to the alert webhook');
      // The first connection's own email recipients get a test email on request.
      const acme = page.locator('tr', { hasText: 'X Ads Acme US' });
      await acme.getByRole('button', { name: 'Send test email (X Ads Acme US)' }).click();
      await expectText(
        acme.getByRole('status').filter({ hasText: 'SMTP' }),
        'The SMTP server accepted the test email to crm-owner@example.com',
      );
      expect(
        smtp.received.some(
          (m) => m.to.join() === 'crm-owner@example.com' && /X Ads Acme US/.test(m.headers['subject'] ?? ''),
        ),
      ).toBe(true);
      expect(notified).toContain('test');
      await new Promise((r) => hook.close(r));
      await row.getByRole('button', { name: 'Send test alert (Revoked connection)' }).click();
      await expectText(row.getByRole('status'), /Not delivered: .+/);
      await shot(page, '22-test-alert');
    },
  );

  it('shows "Name is required" only once the name field was touched or Next was pressed', async () => {
    await page.goto(`${stack.url}/#/connect`);
    await page.getByRole('heading', { name: 'Connection details' }).waitFor();
    const nameField = page.locator('.field', { has: page.getByLabel('Name', { exact: true }) });
    expect(await nameField.innerText()).not.toContain('Name is required');
    await page.getByRole('button', { name: 'Next' }).click();
    await expectText(nameField, 'Name is required');
    await page.reload();
    await page.getByRole('heading', { name: 'Connection details' }).waitFor();
    expect(await nameField.innerText()).not.toContain('Name is required');
    await page.getByLabel('Name', { exact: true }).fill('x');
    await page.getByLabel('Name', { exact: true }).fill('');
    await expectText(nameField, 'Name is required');
    // A 40-character account id is not cut to 32: that would name another account.
    await page.getByLabel('Account ID').fill('a1'.repeat(20));
    const accountField = page.locator('.field', { has: page.getByLabel('Account ID') });
    await expectText(accountField, 'this has 40');
    expect(await accountField.getByRole('button', { name: 'Use suggestion' }).count()).toBe(0);
  });

  it(
    'edits a connection whose dataflow delivers: a new account id is refused at the field, wrong keys are kept out',
    { timeout: 120_000 },
    async () => {
      const seed = defaultDemoSeed();
      const working = {
        consumerKey: seed.apps[0]!.consumer_key,
        consumerSecret: seed.apps[0]!.consumer_secret,
        accessToken: seed.users[0]!.token,
        accessTokenSecret: seed.users[0]!.token_secret,
      };
      await callApi(stack, 'POST', '/segments', { id: 'seg-live', name: 'Live buyers' });
      const destination = await callApi<{ id: string }>(stack, 'POST', '/destinations', {
        name: 'Live connection',
        accountId: DEMO_ACCOUNT,
        credentials: working,
      });
      await callApi(stack, 'POST', `/destinations/${destination.id}/verify`);
      const flow = await callApi<{ id: string }>(stack, 'POST', '/dataflows', {
        name: 'Live flow',
        destinationId: destination.id,
        mapping: [{ sourceType: 'namespace', source: 'Email', target: 'email', applyTransformation: true }],
        audiences: [{ segmentId: 'seg-live', mappingName: 'Live buyers' }],
      });
      const deliver = async (email: string) => {
        await callApi(stack, 'POST', '/ingest/profiles', [profile('seg-live', email)]);
        return callApi<{ audiences: Array<{ outcome: string; requests: number }> }>(
          stack,
          'POST',
          `/dataflows/${flow.id}/flush`,
        );
      };
      await deliver('live.1@example.com');
      const audiences = await callApi<{ items: Array<{ xAudienceId: string | null }> }>(
        stack,
        'GET',
        `/audiences?dataflowId=${flow.id}`,
      );
      const xAudienceId = audiences.items[0]!.xAudienceId;
      expect(xAudienceId).toEqual(expect.any(String));
      const stored = () =>
        callApi<{ accountId: string; status: string; updatedAt: string }>(
          stack,
          'GET',
          `/destinations/${destination.id}`,
        );
      const before = await stored();

      await page.getByRole('link', { name: 'Destinations', exact: true }).click();
      await page
        .locator('tr', { hasText: 'Live connection' })
        .getByRole('link', { name: 'Edit / verify' })
        .click();
      await page.getByRole('heading', { name: 'Connection details' }).waitFor();
      await page.getByLabel('Account ID').fill('zz999');
      await page.getByRole('button', { name: 'Next' }).click();
      const accountField = page.locator('.field', { has: page.getByLabel('Account ID') });
      await expectText(
        accountField,
        `X audience in ads account ${DEMO_ACCOUNT}, so the destination cannot move`,
      );
      await expectText(accountField, `dataflow ${flow.id} ("Live flow")`);
      await expectText(accountField, 'create a new destination for account zz999');
      await shot(page, '23-edit-account-refused');
      expect(await page.getByRole('heading', { name: 'Connection details' }).count()).toBe(1);
      expect(await stored()).toMatchObject({
        accountId: DEMO_ACCOUNT,
        status: 'active',
        updatedAt: before.updatedAt,
      });

      await page.getByLabel('Account ID').fill(DEMO_ACCOUNT);
      await page.getByRole('button', { name: 'Next' }).click();
      await page.getByRole('heading', { name: 'Authenticate to X' }).waitFor();
      await page.getByLabel('Paste consumer key/secret and access token/secret').check();
      await page.getByLabel('Consumer key (API key)', { exact: true }).fill('wrong-consumer-key');
      await page.getByLabel('Consumer secret (API secret)', { exact: true }).fill('wrong-consumer-secret');
      await page.getByLabel('Access token', { exact: true }).fill('wrong-access-token');
      await page.getByLabel('Access token secret', { exact: true }).fill('wrong-access-token-secret');
      await page.getByRole('button', { name: 'Save and check' }).click();
      const verdict = page.getByRole('status').filter({ hasText: 'checks' });
      await expectText(verdict, 'Some checks failed');
      await expectText(verdict, 'Nothing was saved: the connection keeps its stored account and credentials');
      await shot(page, '24-edit-wrong-keys-kept-out');
      expect(await stored()).toMatchObject({
        accountId: DEMO_ACCOUNT,
        status: 'active',
        updatedAt: before.updatedAt,
      });
      // The stored credentials still deliver, to the audience in the account it lives in.
      const flushed = await deliver('live.2@example.com');
      expect(flushed.audiences[0]).toMatchObject({ outcome: 'delivered', requests: 1 });
    },
  );

  it(
    'names a dataflow within the service limit: the default is cut to fit, a longer name is refused at the field',
    { timeout: 120_000 },
    async () => {
      // A connection whose name takes the whole limit: the default dataflow name built on it must still fit.
      const longName = `Acme ${'Loyalty '.repeat(30)}`.trim().slice(0, 200);
      expect(longName).toHaveLength(200);
      const destination = await callApi<{ id: string }>(stack, 'POST', '/destinations', {
        name: longName,
        accountId: DEMO_ACCOUNT,
        credentials: { ...DEMO_APP, accessToken: 'long-token', accessTokenSecret: 'long-secret' },
      });
      await openSignedIn(`#/activate/${destination.id}`);
      await page.getByRole('heading', { name: 'Select segments' }).waitFor();
      await page.getByLabel('Frequent buyers').check();
      await page.getByLabel('No onsite ads').check();
      for (let i = 0; i < 2; i += 1) await page.getByRole('button', { name: 'Next' }).click();
      await page.getByRole('heading', { name: 'Scheduling', exact: true }).waitFor();
      await page.getByRole('button', { name: 'Next' }).click();
      await page.getByRole('heading', { name: 'Review', exact: true }).waitFor();

      // A name one character too long is refused next to the field, as it is typed, and Finish creates nothing.
      const nameField = page.locator('.field', { has: page.getByLabel('Dataflow name') });
      await page.getByLabel('Dataflow name').fill('n'.repeat(201));
      await expectText(nameField, 'Dataflow name is longer than 200 characters (201).');
      await page.getByRole('button', { name: 'Finish' }).click();
      await expectText(page.getByRole('alert'), 'Fix the dataflow name.');
      const flowsOf = async () =>
        (
          await callApi<{ items: { name: string; destinationId: string }[] }>(stack, 'GET', '/dataflows')
        ).items.filter((d) => d.destinationId === destination.id);
      expect(await flowsOf()).toEqual([]);
      await shot(page, '23-dataflow-name-too-long');

      // Left blank, the default name is used: cut with "…" to 200 characters, keeping the count of the others.
      await page.getByLabel('Dataflow name').fill('');
      expect(await nameField.locator('.error-text').count()).toBe(0);
      await page.getByRole('button', { name: 'Finish' }).click();
      await page.waitForURL(/#\/dataflows\/[^/]+/);
      const flow = await waitFor('the new dataflow', async () => (await flowsOf())[0]);
      expect(flow.name).toHaveLength(200);
      expect(flow.name.startsWith('Acme Loyalty')).toBe(true);
      expect(flow.name.endsWith('… and 1 more')).toBe(true);
    },
  );

  it(
    'removes segments, keeping or deleting their X audiences, renames and deletes a dataflow, then its connection',
    { timeout: 180_000 },
    async () => {
      const destination = await callApi<{ id: string }>(stack, 'POST', '/destinations', {
        name: 'Short-lived connection',
        accountId: DEMO_ACCOUNT,
        credentials: {
          ...DEMO_APP,
          accessToken: '2417045708-demo-access-token',
          accessTokenSecret: 'demo-access-token-secret',
        },
      });
      const created = await callApi<{ id: string }>(stack, 'POST', '/dataflows', {
        name: 'Short-lived flow',
        destinationId: destination.id,
        mapping: [{ sourceType: 'namespace', source: 'Email', target: 'email', applyTransformation: true }],
        audiences: [
          { segmentId: 'seg-buyers', mappingName: 'Short-lived buyers' },
          { segmentId: 'seg-cart', mappingName: 'Short-lived cart' },
          { segmentId: 'seg-no-onsite', mappingName: 'Short-lived no onsite' },
        ],
      });
      type Flow = {
        name: string;
        onAudienceRemoval: string;
        audiences: { segmentId: string; xAudienceId: string | null }[];
      };
      const getFlow = () => callApi<Flow>(stack, 'GET', `/dataflows/${created.id}`);
      await callApi(stack, 'POST', '/ingest/profiles', [
        profile('seg-buyers', 'short.buyer@example.com'),
        profile('seg-cart', 'short.cart@example.com'),
        profile('seg-no-onsite', 'short.onsite@example.com'),
      ]);
      await callApi(stack, 'POST', `/dataflows/${created.id}/flush?wait=30`);
      const xIds = await waitFor(
        'the X audiences of the dataflow',
        async () => {
          const flow = await getFlow();
          return flow.audiences.every((a) => a.xAudienceId)
            ? new Map(flow.audiences.map((a) => [a.segmentId, a.xAudienceId!]))
            : undefined;
        },
        60_000,
      );
      const atX = async (segmentId: string) => {
        const response = await fetch(
          `${stack.emulatorUrl}/_emulator/accounts/${DEMO_ACCOUNT}/custom_audiences/${xIds.get(segmentId)}`,
        );
        return ((await response.json()) as { data: { deleted: boolean } }).data;
      };

      await openSignedIn(`#/dataflows/${created.id}/settings`);
      const cart = page.getByRole('group', { name: 'Cart abandoners, last 7 days', exact: true });
      // Removal is confirmed first, and keeps the X audience only when asked to.
      await cart.getByRole('button', { name: 'Remove Cart abandoners, last 7 days' }).click();
      const confirmCart = page.getByRole('group', { name: 'Remove Cart abandoners, last 7 days' });
      expect(await confirmCart.getByLabel('Delete the X audience (default)').isChecked()).toBe(true);
      await expectText(confirmCart, `Its X audience ${xIds.get('seg-cart')} is deleted from X`);
      await confirmCart.getByLabel('Keep the X audience in X').check();
      await expectText(confirmCart, 'stays in X with its members');
      await shot(page, '24-remove-segment-confirm');
      expect((await getFlow()).audiences).toHaveLength(3);
      await confirmCart.getByRole('button', { name: 'Confirm: remove Cart abandoners, last 7 days' }).click();
      await cart.waitFor({ state: 'detached' });
      const afterKeep = await getFlow();
      expect(afterKeep.audiences.map((a) => a.segmentId).sort()).toEqual(['seg-buyers', 'seg-no-onsite']);
      expect(afterKeep.onAudienceRemoval).toBe('keep');
      await callApi(stack, 'POST', `/dataflows/${created.id}/flush?wait=30`);
      await waitFor('the kept audience to leave the dataflow', async () => {
        const audiences = await callApi<{ items: { segmentId: string; dataflowId: string }[] }>(
          stack,
          'GET',
          `/audiences?dataflowId=${created.id}`,
        );
        return audiences.items.some((a) => a.segmentId === 'seg-cart') ? undefined : true;
      });
      expect((await atX('seg-cart')).deleted).toBe(false);

      // The default deletes the X audience; a cancelled removal changes nothing.
      const onsite = page.getByRole('group', { name: 'No onsite ads', exact: true });
      await onsite.getByRole('button', { name: 'Remove No onsite ads' }).click();
      await page
        .getByRole('group', { name: 'Remove No onsite ads' })
        .getByRole('button', { name: 'Cancel' })
        .click();
      expect((await getFlow()).audiences).toHaveLength(2);
      await onsite.getByRole('button', { name: 'Remove No onsite ads' }).click();
      await page
        .getByRole('group', { name: 'Remove No onsite ads' })
        .getByRole('button', { name: 'Confirm: remove No onsite ads' })
        .click();
      await onsite.waitFor({ state: 'detached' });
      expect((await getFlow()).onAudienceRemoval).toBe('delete');
      await callApi(stack, 'POST', `/dataflows/${created.id}/flush?wait=30`);
      await waitFor('the removed X audience to be deleted', async () =>
        (await atX('seg-no-onsite')).deleted ? true : undefined,
      );
      // The last segment cannot be removed: the dataflow is deleted instead.
      await expectText(
        page.getByRole('group', { name: 'Frequent buyers', exact: true }),
        'delete the dataflow (below)',
      );

      // Renamed: a blank name or one past the limit is refused at the field and not saved.
      const name = page.getByLabel('Dataflow name');
      await name.fill('');
      await expectText(page.locator('.field', { has: name }), 'Dataflow name is required.');
      await name.fill('r'.repeat(201));
      await expectText(page.locator('.field', { has: name }), 'Dataflow name is longer than 200 characters');
      await page.getByRole('button', { name: 'Save changes' }).click();
      await expectText(page.getByRole('alert').first(), 'Fix the problems marked above');
      expect((await getFlow()).name).toBe('Short-lived flow');
      await name.fill('Short-lived flow, renamed');
      await page.getByRole('button', { name: 'Save changes' }).click();
      await expectText(page.getByRole('status').filter({ hasText: 'Saved' }), 'Saved');
      await expectText(page.getByRole('heading', { level: 1 }), 'Short-lived flow, renamed');
      expect((await getFlow()).name).toBe('Short-lived flow, renamed');

      // The connection cannot go while the dataflow uses it: the Destinations list says which one.
      await page.getByRole('link', { name: 'Destinations', exact: true }).click();
      const row = page.locator('tr', { hasText: 'Short-lived connection' });
      await row.getByRole('button', { name: 'Delete Short-lived connection' }).click();
      await row.getByRole('button', { name: 'Confirm delete Short-lived connection' }).click();
      await expectText(row.getByRole('alert'), 'was not deleted: dataflows still use it');
      await expectText(
        row.getByRole('alert'),
        `Used by dataflow ${created.id} ("Short-lived flow, renamed")`,
      );
      await shot(page, '25-delete-connection-refused');
      await row.getByRole('button', { name: 'Dismiss' }).click();

      // Deleting the dataflow says what happens at X, and does it once confirmed.
      await page.goto(`${stack.url}/#/dataflows/${created.id}/settings`);
      await page.getByRole('button', { name: 'Delete dataflow…' }).click();
      const confirmDelete = page.getByRole('group', { name: 'Delete the dataflow' });
      await expectText(confirmDelete, 'The 1 X audience it created is deleted from X.');
      await shot(page, '26-delete-dataflow-confirm');
      await confirmDelete.getByRole('button', { name: 'Confirm: delete the dataflow' }).click();
      await page.getByRole('heading', { name: 'Dataflows', level: 1 }).waitFor();
      const left = await callApi<{ items: { id: string }[] }>(stack, 'GET', '/dataflows');
      expect(left.items.map((d) => d.id)).not.toContain(created.id);
      await waitFor("the dataflow's X audience to be deleted", async () =>
        (await atX('seg-buyers')).deleted ? true : undefined,
      );

      // Now unused, the connection is deleted.
      await page.getByRole('link', { name: 'Destinations', exact: true }).click();
      await row.getByRole('button', { name: 'Delete Short-lived connection' }).click();
      await row.getByRole('button', { name: 'Confirm delete Short-lived connection' }).click();
      await row.waitFor({ state: 'detached' });
      const destinations = await callApi<{ items: { id: string }[] }>(stack, 'GET', '/destinations');
      expect(destinations.items.map((d) => d.id)).not.toContain(destination.id);
    },
  );

  it(
    'adds segments to a dataflow with their schedules, checked as in the activation wizard',
    { timeout: 120_000 },
    async () => {
      const destination = await callApi<{ id: string }>(stack, 'POST', '/destinations', {
        name: 'Growing connection',
        accountId: DEMO_ACCOUNT,
        credentials: { ...DEMO_APP, accessToken: 'growing-token', accessTokenSecret: 'growing-secret' },
      });
      const created = await callApi<{ id: string }>(stack, 'POST', '/dataflows', {
        name: 'Growing flow',
        destinationId: destination.id,
        mapping: [{ sourceType: 'namespace', source: 'Email', target: 'email', applyTransformation: true }],
        audiences: [{ segmentId: 'seg-buyers', mappingName: 'Growing buyers' }],
      });
      const audiencesOf = async () =>
        (
          await callApi<{ audiences: { segmentId: string; mappingName: string }[] }>(
            stack,
            'GET',
            `/dataflows/${created.id}`,
          )
        ).audiences
          .map((a) => [a.segmentId, a.mappingName])
          .sort();
      await openSignedIn(`#/dataflows/${created.id}/settings`);
      await page.getByRole('button', { name: 'Add segments…' }).click();
      const adding = page.getByRole('region', { name: 'Add segments' });
      // Segments already in the dataflow are not offered again; those X cannot take stay disabled, as in the wizard.
      expect(await adding.getByLabel('Frequent buyers', { exact: true }).count()).toBe(0);
      expect(await adding.getByLabel('CRM list upload').isDisabled()).toBe(true);
      await adding.getByLabel('Cart abandoners, last 7 days').check();
      await adding.getByLabel('No onsite ads').check();
      const cart = adding.getByRole('group', { name: 'Schedule for Cart abandoners, last 7 days' });
      await expectText(cart, 'Mapping name contains characters X does not accept: ","');
      const onsite = adding.getByRole('group', { name: 'Schedule for No onsite ads' });
      // A mapping name the dataflow already uses is refused too, and nothing is added.
      await onsite.getByLabel('Mapping name').fill('Growing buyers');
      await adding.getByRole('button', { name: 'Add 2 segments' }).click();
      await expectText(adding.getByRole('alert'), 'Fix the schedules marked above.');
      await expectText(onsite, 'Another segment uses this mapping name');
      expect(await audiencesOf()).toEqual([['seg-buyers', 'Growing buyers']]);
      await shot(page, '27-add-segments');
      await cart.getByRole('button', { name: 'Use suggestion' }).click();
      await onsite.getByLabel('Mapping name').fill('Growing no onsite');
      await adding.getByRole('button', { name: 'Add 2 segments' }).click();
      await adding.waitFor({ state: 'detached' });
      expect(await audiencesOf()).toEqual([
        ['seg-buyers', 'Growing buyers'],
        ['seg-cart', 'Cart abandoners last 7 days'],
        ['seg-no-onsite', 'Growing no onsite'],
      ]);
      // Their schedules are edited with the others from here on.
      await page.getByRole('group', { name: 'No onsite ads', exact: true }).waitFor();
      expect(
        await page
          .getByRole('group', { name: 'No onsite ads', exact: true })
          .getByLabel('Mapping name')
          .inputValue(),
      ).toBe('Growing no onsite');
    },
  );

  it(
    'lists the segments with their known members and dataflows, and deletes one no dataflow activates',
    { timeout: 120_000 },
    async () => {
      // Three members of a segment no dataflow activates; another segment with none.
      await callApi(stack, 'POST', '/segments', { id: 'seg-sized', name: 'Sized segment' });
      await callApi(stack, 'POST', '/segments', {
        id: 'seg-doomed',
        name: 'Doomed segment',
        description: 'Registered by mistake',
      });
      await callApi(stack, 'POST', '/ingest/profiles', [
        profile('seg-sized', 'sized.1@example.com'),
        profile('seg-sized', 'sized.2@example.com'),
        profile('seg-sized', 'sized.3@example.com'),
      ]);
      const preview = await callApi<{ segments: { segmentId: string; profiles: number }[] }>(
        stack,
        'GET',
        '/consent-policies/preview?segmentIds=seg-buyers',
      );
      const buyers = preview.segments.find((s) => s.segmentId === 'seg-buyers')!.profiles;
      expect(buyers).toBeGreaterThan(20);

      // The activation wizard's segment step shows each segment's known members; the service knows none of a
      // segment from another origin, and its tooltip says why.
      const { items: connections } = await callApi<{ items: { id: string }[] }>(
        stack,
        'GET',
        '/destinations',
      );
      await openSignedIn(`#/activate/${connections[0]!.id}`);
      await page.getByRole('heading', { name: 'Select segments' }).waitFor();
      const sizeIn = (name: string) => page.locator('tr', { hasText: name }).getByTestId('segment-size');
      await expectText(sizeIn('Sized segment'), /^3$/);
      await expectText(sizeIn('Frequent buyers'), new RegExp(`^${buyers.toLocaleString('en-US')}$`));
      await expectText(sizeIn('CRM list upload'), /^—$/);
      expect(await sizeIn('CRM list upload').getAttribute('title')).toMatch(
        /Segmentation Service \(ups\) segments only/,
      );
      expect(await sizeIn('Sized segment').getAttribute('title')).toMatch(/^Known members/);
      await shot(page, '28-activate-segment-sizes');

      // The Segments page, from the main navigation.
      await page.getByRole('link', { name: 'Segments', exact: true }).click();
      await page.getByRole('heading', { name: 'Segments', level: 1 }).waitFor();
      expect(
        await page
          .getByRole('navigation', { name: 'Main' })
          .getByRole('link', { name: 'Segments' })
          .getAttribute('aria-current'),
      ).toBe('page');
      const table = page.getByRole('table', { name: 'Segments' });
      const rowOf = (name: string) => table.locator('tbody tr', { hasText: name });
      await expectText(rowOf('Sized segment').getByTestId('segment-size'), /^3$/);
      await expectText(rowOf('Doomed segment').getByTestId('segment-size'), /^0$/);
      await expectText(rowOf('Doomed segment'), 'seg-doomed');
      await expectText(rowOf('Doomed segment'), 'Registered by mistake');
      await expectText(rowOf('Doomed segment').getByTestId('activated-by'), 'No dataflow');
      await expectText(rowOf('CRM list upload'), 'Custom upload (custom_upload)');
      await expectText(rowOf('CRM list upload').getByTestId('segment-size'), /^—$/);
      const activatedBy = rowOf('Frequent buyers').getByTestId('activated-by');
      await expectText(activatedBy, 'Acme US retargeting');
      await expectText(activatedBy, 'Growing flow');
      await shot(page, '29-segments');

      // A segment dataflows activate is not deleted: the refusal names each of them.
      const buyersRow = rowOf('Frequent buyers');
      await buyersRow.getByRole('button', { name: 'Delete Frequent buyers' }).click();
      await page
        .getByRole('group', { name: 'Delete Frequent buyers' })
        .getByRole('button', { name: 'Confirm delete Frequent buyers' })
        .click();
      const refusal = buyersRow.getByRole('alert');
      await expectText(refusal, '“Frequent buyers” was not deleted: dataflows activate it.');
      await expectText(refusal, 'Activated by dataflow Acme US retargeting (active)');
      await expectText(refusal, 'Activated by dataflow Growing flow');
      expect(await refusal.getByRole('link', { name: 'Acme US retargeting' }).getAttribute('href')).toBe(
        `#/dataflows/${dataflowId}/settings`,
      );
      await shot(page, '30-delete-segment-refused');
      await refusal.getByRole('button', { name: 'Dismiss' }).click();
      const segmentIds = async () =>
        (await callApi<{ items: { id: string }[] }>(stack, 'GET', '/segments')).items.map((s) => s.id);
      expect(await segmentIds()).toContain('seg-buyers');

      // One no dataflow activates is deleted once confirmed; a cancelled delete changes nothing.
      const doomed = rowOf('Doomed segment');
      await doomed.getByRole('button', { name: 'Delete Doomed segment' }).click();
      await page
        .getByRole('group', { name: 'Delete Doomed segment' })
        .getByRole('button', { name: 'Cancel' })
        .click();
      expect(await segmentIds()).toContain('seg-doomed');
      await doomed.getByRole('button', { name: 'Delete Doomed segment' }).click();
      await page
        .getByRole('group', { name: 'Delete Doomed segment' })
        .getByRole('button', { name: 'Confirm delete Doomed segment' })
        .click();
      await doomed.waitFor({ state: 'detached' });
      expect(await segmentIds()).not.toContain('seg-doomed');
    },
  );

  it(
    'scrolls no page sideways at 1280 and 800 px wide, with everything the tests above left',
    { timeout: 240_000 },
    async () => {
      const { items: flows } = await callApi<{ items: { id: string }[] }>(stack, 'GET', '/dataflows');
      const { items: connections } = await callApi<{ items: { id: string }[] }>(
        stack,
        'GET',
        '/destinations',
      );
      const hashes = [
        '#/',
        '#/connect',
        '#/activate',
        '#/segments',
        '#/dataflows',
        '#/settings',
        ...connections.map((c) => `#/connect/${c.id}`),
        ...flows.flatMap((f) =>
          ['runs', 'audiences', 'errors', 'alerts', 'dead-letters', 'import', 'settings'].map(
            (tab) => `#/dataflows/${f.id}/${tab}`,
          ),
        ),
      ];
      await openSignedIn('#/');
      const overflowing: string[] = [];
      for (const width of [1280, 800]) {
        await page.setViewportSize({ width, height: 900 });
        for (const hash of hashes) {
          await page.goto(`${stack.url}/${hash}`);
          await page.locator('main h1').first().waitFor();
          await waitFor(`${hash} to finish loading`, async () =>
            (await page.locator('main .loading').count()) === 0 ? true : undefined,
          );
          const overflow = await page.evaluate(
            () => document.documentElement.scrollWidth - document.documentElement.clientWidth,
          );
          if (overflow > 0) overflowing.push(`${hash} at ${width} px: ${overflow} px too wide`);
        }
      }
      await page.setViewportSize({ width: 1280, height: 900 });
      expect(overflowing).toEqual([]);
    },
  );
});
