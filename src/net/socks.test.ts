import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import { createServer as createTcpServer, type AddressInfo, type Server as TcpServer } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSocksProxy } from '../../test/fixtures/socks-proxy.ts';
import { createEmulator, defaultDemoSeed } from '../emulator/index.ts';
import { RateBudgets, XAdsClient } from '../xads/index.ts';
import { describeNetworkFailure } from './network-failure.ts';
import { installOutboundProxy } from './outbound-proxy.ts';
import { openSocksTunnel, parseSocksProxy } from './socks.ts';

// A certificate for x-ads.test (and 192.0.2.10) made for these tests only, valid until 2126.
const tlsDir = join(import.meta.dirname, '../../test/fixtures/tls');
const cert = readFileSync(join(tlsDir, 'test-only.crt'));
const key = readFileSync(join(tlsDir, 'test-only.key'));

describe('parseSocksProxy', () => {
  it('reads host, port (1080 by default), credentials and who resolves names', () => {
    expect(parseSocksProxy('socks5h://svc:p%40ss@proxy.corp.example')).toEqual({
      host: 'proxy.corp.example',
      port: 1080,
      user: 'svc',
      password: 'p@ss',
      remoteDns: true,
    });
    expect(parseSocksProxy('socks5://[fd00::5]:9050')).toEqual({
      host: 'fd00::5',
      port: 9050,
      user: null,
      password: null,
      remoteDns: false,
    });
    expect(() => parseSocksProxy('http://proxy:3128')).toThrow('not a SOCKS5 proxy URL');
  });
});

describe('openSocksTunnel', () => {
  let echo: TcpServer;
  beforeAll(async () => {
    echo = createTcpServer((socket) => socket.pipe(socket));
    await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', resolve));
  });
  afterAll(() => new Promise<void>((resolve) => echo.close(() => resolve())));

  it('hands the proxy a name with socks5h and an address resolved here with socks5', async () => {
    const proxy = await startSocksProxy();
    const port = (echo.address() as AddressInfo).port;
    try {
      const remote = await openSocksTunnel(parseSocksProxy(proxy.url), 'localhost', port);
      const local = await openSocksTunnel(
        parseSocksProxy(proxy.url.replace('socks5h', 'socks5')),
        'localhost',
        port,
      );
      for (const socket of [remote, local]) {
        socket.write('ping');
        const [answer] = (await new Promise((resolve) => socket.once('data', (d) => resolve([d])))) as [
          Buffer,
        ];
        expect(answer.toString()).toBe('ping');
        socket.destroy();
      }
      expect(proxy.requests.map((r) => r.target)).toEqual([
        `localhost:${port}`,
        expect.stringMatching(new RegExp(`^(127\\.0\\.0\\.1|0:0:0:0:0:0:0:1):${port}$`)),
      ]);
    } finally {
      await proxy.close();
    }
  });
});

describe('installOutboundProxy: fetch through a SOCKS5 proxy on loopback', () => {
  const seed = defaultDemoSeed();
  let emulator: { url: string; close(): Promise<void> };
  let emulatorPort = '';
  let secure: Server;
  let securePort = 0;

  beforeAll(async () => {
    emulator = await createEmulator({ seed }).listen();
    emulatorPort = new URL(emulator.url).port;
    secure = createServer({ cert, key }, (req, res) => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ host: req.headers.host, path: req.url }));
    });
    await new Promise<void>((resolve) => secure.listen(0, '127.0.0.1', resolve));
    securePort = (secure.address() as AddressInfo).port;
  });
  afterAll(async () => {
    await emulator.close();
    await new Promise<void>((resolve) => secure.close(() => resolve()));
  });

  const client = (host: string) =>
    new XAdsClient({
      baseUrl: `http://${host}:${emulatorPort}`,
      credentials: {
        consumerKey: seed.users[0]!.consumer_key,
        consumerSecret: seed.apps[0]!.consumer_secret,
        accessToken: seed.users[0]!.token,
        accessTokenSecret: seed.users[0]!.token_secret,
      },
      budgets: new RateBudgets(),
      sleep: async () => {},
      maxRetries: 0,
    });

  /** Runs `test` with every fetch going through a SOCKS5 proxy on loopback that wants `svc:pw`. */
  async function throughProxy(
    scheme: 'socks5' | 'socks5h',
    credentials: string,
    test: (proxy: Awaited<ReturnType<typeof startSocksProxy>>) => Promise<void>,
    refuse: string[] = [],
  ): Promise<void> {
    const proxy = await startSocksProxy({ credentials: 'svc:pw', refuse });
    const url = `${scheme}://${credentials}@${new URL(proxy.url).host}`;
    const restore = installOutboundProxy({ http: url, https: url, noProxy: [] }, { ca: [cert] });
    try {
      await test(proxy);
    } finally {
      await restore();
      await proxy.close();
    }
  }

  it("takes X's API through the proxy by name, with its credentials, and loopback around it", () =>
    throughProxy('socks5h', 'svc:pw', async (proxy) => {
      // `x-ads.test` resolves nowhere: only the proxy reaches it.
      const account = await client('x-ads.test').getAccount(seed.accounts[0]!.id);
      expect(account.id).toBe(seed.accounts[0]!.id);
      expect(proxy.requests).toEqual([
        { target: `x-ads.test:${emulatorPort}`, credentials: 'svc:pw', reply: 0 },
      ]);
      await client('127.0.0.1').getAccount(seed.accounts[0]!.id);
      expect(proxy.requests).toHaveLength(1);
    }));

  it("speaks TLS to the origin over the tunnel and checks the origin's certificate, not the proxy's", () =>
    throughProxy('socks5h', 'svc:pw', async (proxy) => {
      const response = await fetch(`https://x-ads.test:${securePort}/12/accounts`);
      expect(await response.json()).toEqual({ host: `x-ads.test:${securePort}`, path: '/12/accounts' });
      // An address the certificate names, handed over as an address (socks5h keeps it as given).
      const byAddress = await fetch(`https://192.0.2.10:${securePort}/`);
      expect(byAddress.status).toBe(200);
      // A name the certificate does not hold: refused, although the tunnel opened.
      const wrongName = await fetch(`https://other.test:${securePort}/`).then(
        () => null,
        (e: unknown) => describeNetworkFailure(e).reason,
      );
      expect(wrongName).toMatch(/altnames|Hostname\/IP does not match/i);
      expect(proxy.requests.map((r) => [r.target, r.reply])).toEqual([
        [`x-ads.test:${securePort}`, 0],
        [`192.0.2.10:${securePort}`, 0],
        [`other.test:${securePort}`, 0],
      ]);
    }));

  it('hands the proxy addresses, not names, with socks5', () =>
    throughProxy('socks5', 'svc:pw', async (proxy) => {
      const account = await client('192.0.2.10').getAccount(seed.accounts[0]!.id);
      expect(account.id).toBe(seed.accounts[0]!.id);
      expect(proxy.requests.map((r) => r.target)).toEqual([`192.0.2.10:${emulatorPort}`]);
    }));

  it('names refused credentials and what to fix, never the password', () =>
    throughProxy('socks5h', 'svc:wrong-pw', async () => {
      const error = await client('x-ads.test')
        .getAccount(seed.accounts[0]!.id)
        .then(
          () => null,
          (e: unknown) => e,
        );
      expect(error).toMatchObject({
        kind: 'transient',
        message: expect.stringContaining('the SOCKS5 proxy refused the credentials'),
        hint: expect.stringContaining('socks5h://user:password@'),
      });
      expect(JSON.stringify(error)).not.toContain('wrong-pw');
    }));

  it("names the proxy's refusal of a host", () =>
    throughProxy(
      'socks5h',
      'svc:pw',
      async (proxy) => {
        const error = await client('blocked.test')
          .getAccount(seed.accounts[0]!.id)
          .then(
            () => null,
            (e: unknown) => e,
          );
        expect(error).toMatchObject({
          message: expect.stringContaining('the SOCKS5 proxy refused to connect (not allowed by its rules)'),
          hint: expect.stringContaining('NO_PROXY'),
        });
        expect(proxy.requests).toEqual([
          { target: `blocked.test:${emulatorPort}`, credentials: 'svc:pw', reply: 2 },
        ]);
      },
      ['blocked.test'],
    ));
});
