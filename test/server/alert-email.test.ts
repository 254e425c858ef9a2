import { createServer, type Server } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMailer, verifySmtp } from '../../src/server/alert-email.ts';
import { testAlert } from '../../src/server/alerts.ts';
import { startConnectProxy } from '../fixtures/connect-proxy.ts';
import { startSmtpReceiver } from '../fixtures/smtp-receiver.ts';
import { startSocksProxy } from '../fixtures/socks-proxy.ts';

/** Alert emails to the on-call address through the SMTP server at `smtpUrl`, by way of `proxy` if given. */
const emailVia = (smtpUrl: string, proxy?: string) => ({
  to: ['oncall@example.com'],
  from: 'tca@example.com',
  smtpUrl,
  ...(proxy === undefined ? {} : { proxy }),
});

describe('alert emails', () => {
  let smtp: Awaited<ReturnType<typeof startSmtpReceiver>>;
  let proxy: Awaited<ReturnType<typeof startConnectProxy>>;
  let silent: Server;

  beforeAll(async () => {
    smtp = await startSmtpReceiver();
    proxy = await startConnectProxy({ credentials: 'egress:pw' });
    // Accepts connections and never greets, as a stuck mail server does.
    silent = createServer(() => {});
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  });

  afterAll(async () => {
    await smtp.close();
    await proxy.close();
    await new Promise((resolve) => silent.close(resolve));
  });

  it('reaches the SMTP server through the egress proxy, as an HTTP CONNECT tunnel to the host it names', async () => {
    const port = new URL(smtp.url).port;
    // A host that exists nowhere: only the proxy's tunnel reaches it (the fixture maps it to loopback).
    const email = emailVia(
      `smtp://user:secret@smtp.corp.test:${port}`,
      `http://egress:pw@${new URL(proxy.url).host}`,
    );
    expect(await verifySmtp(email)).toBeNull();
    const mailer = createMailer(email);
    try {
      const alert = testAlert({
        id: 'alr_proxy',
        sandbox: 'prod',
        destinationId: '',
        message: 'Test alert through the egress proxy',
        now: Date.parse('2026-11-30T12:00:00Z'),
      });
      const before = smtp.received.length;
      expect(await mailer.send(alert, 'oncall@example.com')).toBeNull();
      expect(smtp.received.slice(before).map((m) => m.to)).toEqual([['oncall@example.com']]);
    } finally {
      mailer.close();
    }
    expect(proxy.tunnels.map((t) => [t.target, t.credentials, t.status])).toEqual([
      [`smtp.corp.test:${port}`, 'egress:pw', 200],
      [`smtp.corp.test:${port}`, 'egress:pw', 200],
    ]);
  });

  it('says so when the egress proxy refuses the tunnel to the mail server', async () => {
    const refusing = await startConnectProxy({ refuse: ['smtp.blocked.test'] });
    try {
      const failure = await verifySmtp(emailVia('smtps://user:secret@smtp.blocked.test:465', refusing.url));
      expect(failure).toMatch(/^SMTP smtps:\/\/smtp\.blocked\.test:465: .*403/);
      expect(failure).not.toContain('secret');
      expect(refusing.tunnels).toEqual([{ target: 'smtp.blocked.test:465', credentials: null, status: 403 }]);
    } finally {
      await refusing.close();
    }
  });

  it('reaches the SMTP server through a SOCKS5 proxy, by name, with its credentials', async () => {
    const socks = await startSocksProxy({ credentials: 'egress:pw' });
    const port = new URL(smtp.url).port;
    const via = (credentials: string) =>
      emailVia(
        `smtp://user:secret@smtp.corp.test:${port}`,
        `socks5h://${credentials}@${new URL(socks.url).host}`,
      );
    const email = via('egress:pw');
    const mailer = createMailer(email);
    try {
      expect(await verifySmtp(email)).toBeNull();
      const before = smtp.received.length;
      const alert = testAlert({
        id: 'alr_socks',
        sandbox: 'prod',
        destinationId: '',
        message: 'Test alert through a SOCKS5 proxy',
        now: Date.parse('2026-11-30T12:00:00Z'),
      });
      expect(await mailer.send(alert, 'oncall@example.com')).toBeNull();
      expect(smtp.received.slice(before).map((m) => m.to)).toEqual([['oncall@example.com']]);
      expect(socks.requests).toEqual([
        { target: `smtp.corp.test:${port}`, credentials: 'egress:pw', reply: 0, version: 5 },
        { target: `smtp.corp.test:${port}`, credentials: 'egress:pw', reply: 0, version: 5 },
      ]);
      // Refused credentials and a refused host, in words, without the passwords.
      const badLogin = await verifySmtp(via('egress:nope'));
      expect(badLogin).toBe(`SMTP smtp://smtp.corp.test:${port}: the SOCKS5 proxy refused the credentials`);
    } finally {
      mailer.close();
      await socks.close();
    }
    const refusing = await startSocksProxy({ refuse: ['smtp.blocked.test'] });
    try {
      const failure = await verifySmtp(emailVia('smtps://user:secret@smtp.blocked.test:465', refusing.url));
      expect(failure).toBe(
        'SMTP smtps://smtp.blocked.test:465: the SOCKS5 proxy refused to connect (not allowed by its rules)',
      );
    } finally {
      await refusing.close();
    }
  });

  it('reaches the SMTP server through a SOCKS4a proxy, by name, with its user id', async () => {
    const socks = await startSocksProxy({ userId: 'egress' });
    const port = new URL(smtp.url).port;
    const via = (userId: string) =>
      emailVia(`smtp://user:secret@smtp.corp.test:${port}`, `socks4a://${userId}@${new URL(socks.url).host}`);
    try {
      expect(await verifySmtp(via('egress'))).toBeNull();
      expect(await verifySmtp(via('someone'))).toBe(
        `SMTP smtp://smtp.corp.test:${port}: the SOCKS4 proxy refused to connect (the user id did not match)`,
      );
      expect(socks.requests.map((r) => [r.target, r.credentials, r.reply])).toEqual([
        [`smtp.corp.test:${port}`, 'egress', 90],
        [`smtp.corp.test:${port}`, 'someone', 93],
      ]);
    } finally {
      await socks.close();
    }
  });

  it('gives up on a server that never greets within its timeout, saying so', async () => {
    const { port } = silent.address() as AddressInfo;
    const failure = await verifySmtp(emailVia(`smtp://127.0.0.1:${port}`), 300);
    expect(failure).toMatch(/^SMTP smtp:\/\/127\.0\.0\.1:\d+: .*timeout/i);
  });
});
