import { readFileSync } from 'node:fs';
import { createServer as createHttpsServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startConnectProxy } from '../../test/fixtures/connect-proxy.ts';
import { startSocksProxy } from '../../test/fixtures/socks-proxy.ts';
import { createEmulator, defaultDemoSeed } from '../emulator/index.ts';
import { RateBudgets, XAdsClient } from '../xads/index.ts';
import {
  describeOutboundProxy,
  outboundProxyFromEnv,
  outboundRoute,
  redactProxyUrl,
  smtpRoute,
  type OutboundProxy,
} from './outbound-proxy.ts';
import { installOutboundProxy } from './outbound-dispatcher.ts';
import { describeNetworkFailure } from './network-failure.ts';

// A certificate for x-ads.test (and 192.0.2.10) made for these tests only, valid until 2126.
const tlsDir = join(import.meta.dirname, '../../test/fixtures/tls');
const cert = readFileSync(join(tlsDir, 'test-only.crt'));
const key = readFileSync(join(tlsDir, 'test-only.key'));

describe('outboundProxyFromEnv', () => {
  it('reads HTTPS_PROXY, HTTP_PROXY and NO_PROXY, lowercase first', () => {
    expect(
      outboundProxyFromEnv({
        HTTPS_PROXY: 'http://upper:3128',
        https_proxy: 'http://lower:3128',
        HTTP_PROXY: 'proxy.corp.example:8080',
        NO_PROXY: ' .corp.example, 10.0.0.0/8  siem:8088 ',
      }),
    ).toEqual({
      proxy: {
        https: 'http://lower:3128',
        // A bare host:port is an http proxy.
        http: 'http://proxy.corp.example:8080',
        noProxy: ['.corp.example', '10.0.0.0/8', 'siem:8088'],
      },
      problems: [],
    });
  });

  it('is null without a proxy, whatever NO_PROXY says', () => {
    expect(outboundProxyFromEnv({ NO_PROXY: '*', HTTPS_PROXY: '  ' })).toEqual({ proxy: null, problems: [] });
  });

  it('takes SOCKS5 proxies, and ALL_PROXY for a scheme without its own', () => {
    expect(
      outboundProxyFromEnv({ ALL_PROXY: 'socks5h://svc:pw@egress:1080', HTTP_PROXY: 'http://plain:3128' }),
    ).toEqual({
      proxy: { https: 'socks5h://svc:pw@egress:1080', http: 'http://plain:3128', noProxy: [] },
      problems: [],
    });
    expect(outboundProxyFromEnv({ all_proxy: 'socks5://egress:1080' }).proxy).toEqual({
      https: 'socks5://egress:1080',
      http: 'socks5://egress:1080',
      noProxy: [],
    });
  });

  it('takes SOCKS4 proxies, with a user id and no password', () => {
    expect(
      outboundProxyFromEnv({ HTTPS_PROXY: 'socks4a://batch@egress:1080', HTTP_PROXY: 'socks4://10.0.0.5' }),
    ).toEqual({
      proxy: { https: 'socks4a://batch@egress:1080', http: 'socks4://10.0.0.5', noProxy: [] },
      problems: [],
    });
    const { proxy, problems } = outboundProxyFromEnv({ HTTPS_PROXY: 'socks4a://batch:s3cret@egress:1080' });
    expect(proxy).toBeNull();
    expect(problems).toHaveLength(1);
    expect(problems[0]!.message).toContain('is a SOCKS4 proxy with a password ("socks4a://***@egress:1080")');
    expect(problems[0]!.message).toContain('socks4a://userid@host:port');
    expect(JSON.stringify(problems)).not.toContain('s3cret');
  });

  it('refuses other schemes, and URLs it cannot read, never showing a password', () => {
    const { proxy, problems } = outboundProxyFromEnv({
      HTTPS_PROXY: 'socks6://me:s3cret@proxy:1080',
      http_proxy: 'ftp://me:s3cret@proxy:21',
    });
    expect(proxy).toBeNull();
    expect(problems.map((p) => p.variable)).toEqual(['http_proxy', 'HTTPS_PROXY']);
    expect(problems[1]!.message).toContain(
      'is a socks6 proxy ("socks6://***@proxy:1080"), which is not a scheme this product knows',
    );
    expect(problems[1]!.message).toContain('socks5h://');
    expect(problems[0]!.message).toContain('must be an http, https, socks5, socks5h, socks4 or socks4a URL');
    expect(JSON.stringify(problems)).not.toContain('s3cret');
    const unreadable = outboundProxyFromEnv({ HTTPS_PROXY: 'http://me:s3cret@[bad' });
    expect(unreadable.problems[0]!.message).toContain('must be a proxy URL');
    expect(JSON.stringify(unreadable.problems)).not.toContain('s3cret');
    // A bad ALL_PROXY is one problem, not one per scheme it stands in for.
    expect(outboundProxyFromEnv({ ALL_PROXY: 'socks://proxy:1080' }).problems).toHaveLength(1);
    // An unknown scheme that begins like SOCKS4 is named as unknown, whatever its credentials.
    expect(
      outboundProxyFromEnv({ HTTPS_PROXY: 'socks4x://me:s3cret@proxy:1080' }).problems[0]!.message,
    ).toContain('is a socks4x proxy ("socks4x://***@proxy:1080"), which is not a scheme this product knows');
  });
});

describe('redactProxyUrl and describeOutboundProxy', () => {
  it('hide the credentials and keep the rest', () => {
    expect(redactProxyUrl('http://user:pa%40ss@proxy:3128/')).toBe('http://***@proxy:3128');
    expect(redactProxyUrl('http://proxy:3128')).toBe('http://proxy:3128');
    expect(
      describeOutboundProxy({ http: null, https: 'https://u:p@proxy:443', noProxy: ['.corp.example'] }),
    ).toEqual({ http: null, https: 'https://***@proxy', noProxy: ['.corp.example'] });
  });
});

describe('smtpRoute', () => {
  it('tunnels SMTP through the https proxy, else the http one; loopback and NO_PROXY hosts directly', () => {
    const both: OutboundProxy = {
      https: 'http://secure:3128',
      http: 'http://plain:3128',
      noProxy: ['.corp.example'],
    };
    expect(smtpRoute(both, 'smtps://u:p@smtp.example.com')).toBe('http://secure:3128');
    expect(smtpRoute({ ...both, https: null }, 'smtp://smtp.example.com:587')).toBe('http://plain:3128');
    expect(smtpRoute(both, 'smtp://relay.corp.example:25')).toBeNull();
    expect(smtpRoute(both, 'smtp://127.0.0.1:2525')).toBeNull();
    expect(smtpRoute(both, 'smtp://localhost')).toBeNull();
    // NO_PROXY's host:port matches the port the mailer connects to when the URL names none.
    expect(smtpRoute({ ...both, noProxy: ['smtp.example.com:465'] }, 'smtps://smtp.example.com')).toBeNull();
    expect(smtpRoute({ ...both, noProxy: ['smtp.example.com:465'] }, 'smtp://smtp.example.com')).toBe(
      'http://secure:3128',
    );
  });
});

describe('outboundRoute', () => {
  const proxy: OutboundProxy = {
    https: 'http://secure-proxy:3128',
    http: 'http://plain-proxy:3128',
    noProxy: [
      '.corp.example',
      'siem.example.org:8088',
      'exact.example.net',
      '10.0.0.0/8',
      '[fd00::1]',
      '192.168.1.7',
    ],
  };
  const route = outboundRoute(proxy);
  const via = (url: string) => route(new URL(url));

  it('sends each scheme to its proxy', () => {
    expect(via('https://ads-api.x.com/12/accounts')).toBe('http://secure-proxy:3128');
    expect(via('http://collector.example.com/in')).toBe('http://plain-proxy:3128');
  });

  it('reaches loopback directly, always', () => {
    for (const url of [
      'http://localhost:8080',
      'https://api.localhost',
      'http://127.0.0.1:1',
      'http://127.9.9.9',
      'http://[::1]:80',
    ])
      expect(via(url), url).toBeNull();
  });

  it('reaches NO_PROXY hosts directly: domains with their subdomains, host:port, addresses and ranges', () => {
    expect(via('https://corp.example')).toBeNull();
    expect(via('https://siem.eu.corp.example')).toBeNull();
    expect(via('https://notcorp.example')).toBe('http://secure-proxy:3128');
    expect(via('http://siem.example.org:8088/x')).toBeNull();
    expect(via('https://siem.example.org/x')).toBe('http://secure-proxy:3128');
    expect(via('https://exact.example.net')).toBeNull();
    expect(via('https://sub.exact.example.net')).toBeNull();
    expect(via('http://10.20.30.40:9000')).toBeNull();
    expect(via('http://11.0.0.1')).toBe('http://plain-proxy:3128');
    expect(via('http://[fd00::1]:8080')).toBeNull();
    expect(via('http://192.168.1.7')).toBeNull();
    expect(via('http://192.168.1.8')).toBe('http://plain-proxy:3128');
  });

  it('reaches everything directly under NO_PROXY=*, and a scheme without a proxy directly', () => {
    expect(outboundRoute({ ...proxy, noProxy: ['*'] })(new URL('https://ads-api.x.com'))).toBeNull();
    expect(outboundRoute({ ...proxy, http: null })(new URL('http://collector.example.com'))).toBeNull();
  });
});

describe('installOutboundProxy: fetch through proxies on loopback', () => {
  const seed = defaultDemoSeed();
  let emulator: { url: string; close(): Promise<void> };
  let emulatorPort = '';
  let secure: Server;
  let securePort = 0;

  beforeAll(async () => {
    emulator = await createEmulator({ seed }).listen();
    emulatorPort = new URL(emulator.url).port;
    secure = createHttpsServer({ cert, key }, (req, res) => {
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
  const refusal = (host: string) =>
    client(host)
      .getAccount(seed.accounts[0]!.id)
      .then(
        () => null,
        (e: unknown) => e,
      );

  /** Runs `test` with every fetch going through `proxy` (a fixture on loopback), reached at `url`. */
  async function through<P extends { close(): Promise<void> }>(
    proxy: P,
    url: string,
    test: (proxy: P) => Promise<void>,
  ): Promise<void> {
    const restore = installOutboundProxy({ http: url, https: url, noProxy: [] }, { ca: [cert] });
    try {
      await test(proxy);
    } finally {
      await restore();
      await proxy.close();
    }
  }

  /** An HTTP proxy that tunnels and wants `svc:pw`, given `credentials`. */
  const throughConnect = async (
    credentials: string,
    test: (proxy: Awaited<ReturnType<typeof startConnectProxy>>) => Promise<void>,
  ) => {
    const proxy = await startConnectProxy({ credentials: 'svc:pw' });
    return through(proxy, proxy.url.replace('//', `//${credentials}@`), test);
  };

  /**
   * A SOCKS proxy that wants `svc:pw` over SOCKS5 and the user id `batch` over SOCKS4, given `credentials` (the URL's
   * user part), refusing the hosts in `refuse`.
   */
  const throughSocks = async (
    scheme: 'socks5' | 'socks5h' | 'socks4' | 'socks4a',
    credentials: string,
    test: (proxy: Awaited<ReturnType<typeof startSocksProxy>>) => Promise<void>,
    refuse: string[] = [],
  ) => {
    const proxy = await startSocksProxy({ credentials: 'svc:pw', userId: 'batch', refuse });
    return through(proxy, `${scheme}://${credentials}@${new URL(proxy.url).host}`, test);
  };

  it("takes X's API through an HTTP proxy, with its credentials, and loopback around it", () =>
    throughConnect('svc:pw', async (proxy) => {
      // `x-ads.test` resolves nowhere: only the proxy reaches it.
      const account = await client('x-ads.test').getAccount(seed.accounts[0]!.id);
      expect(account.id).toBe(seed.accounts[0]!.id);
      expect(proxy.tunnels).toEqual([
        { target: `x-ads.test:${emulatorPort}`, credentials: 'svc:pw', status: 200 },
      ]);
      await client('127.0.0.1').getAccount(seed.accounts[0]!.id);
      expect(proxy.tunnels).toHaveLength(1);
    }));

  it('names the refusal and what to fix when the HTTP proxy wants credentials', () =>
    throughConnect('svc:wrong-pw', async () => {
      const error = await refusal('x-ads.test');
      expect(error).toMatchObject({
        kind: 'transient',
        message: expect.stringContaining(
          'the proxy refused to connect (HTTP 407 Proxy Authentication Required)',
        ),
        hint: expect.stringContaining('give them in the proxy URL'),
      });
      expect(JSON.stringify(error)).not.toContain('wrong-pw');
    }));

  it("takes X's API through a SOCKS5 proxy by name, with its credentials, and loopback around it", () =>
    throughSocks('socks5h', 'svc:pw', async (proxy) => {
      const account = await client('x-ads.test').getAccount(seed.accounts[0]!.id);
      expect(account.id).toBe(seed.accounts[0]!.id);
      expect(proxy.requests).toEqual([
        { target: `x-ads.test:${emulatorPort}`, credentials: 'svc:pw', reply: 0, version: 5 },
      ]);
      await client('127.0.0.1').getAccount(seed.accounts[0]!.id);
      expect(proxy.requests).toHaveLength(1);
    }));

  it("speaks TLS to the origin over a SOCKS5 tunnel and checks the origin's certificate, not the proxy's", () =>
    throughSocks('socks5h', 'svc:pw', async (proxy) => {
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

  it('hands a SOCKS5 proxy addresses, not names, with socks5', () =>
    throughSocks('socks5', 'svc:pw', async (proxy) => {
      const account = await client('192.0.2.10').getAccount(seed.accounts[0]!.id);
      expect(account.id).toBe(seed.accounts[0]!.id);
      expect(proxy.requests.map((r) => r.target)).toEqual([`192.0.2.10:${emulatorPort}`]);
    }));

  it('names credentials a SOCKS5 proxy refused and what to fix, never the password', () =>
    throughSocks('socks5h', 'svc:wrong-pw', async () => {
      const error = await refusal('x-ads.test');
      expect(error).toMatchObject({
        kind: 'transient',
        message: expect.stringContaining('the SOCKS5 proxy refused the credentials'),
        hint: expect.stringContaining('socks5h://user:password@'),
      });
      expect(JSON.stringify(error)).not.toContain('wrong-pw');
    }));

  it("takes X's API through a SOCKS4a proxy by name, with its user id, and TLS to the origin over it", () =>
    throughSocks('socks4a', 'batch', async (proxy) => {
      const account = await client('x-ads.test').getAccount(seed.accounts[0]!.id);
      expect(account.id).toBe(seed.accounts[0]!.id);
      const response = await fetch(`https://x-ads.test:${securePort}/12/accounts`);
      expect(await response.json()).toEqual({ host: `x-ads.test:${securePort}`, path: '/12/accounts' });
      await client('127.0.0.1').getAccount(seed.accounts[0]!.id);
      expect(proxy.requests).toEqual([
        { target: `x-ads.test:${emulatorPort}`, credentials: 'batch', reply: 90, version: 4 },
        { target: `x-ads.test:${securePort}`, credentials: 'batch', reply: 90, version: 4 },
      ]);
    }));

  it('hands a SOCKS4 proxy IPv4 addresses with socks4, and refuses IPv6 ones itself, saying what to do', () =>
    throughSocks('socks4', 'batch', async (proxy) => {
      const account = await client('192.0.2.10').getAccount(seed.accounts[0]!.id);
      expect(account.id).toBe(seed.accounts[0]!.id);
      expect(await refusal('[2001:db8::10]')).toMatchObject({
        message: expect.stringContaining('a SOCKS4 proxy cannot reach an IPv6 address (2001:db8::10)'),
        hint: expect.stringContaining('socks4a://'),
      });
      expect(proxy.requests.map((r) => [r.target, r.reply])).toEqual([[`192.0.2.10:${emulatorPort}`, 90]]);
    }));

  it("names a SOCKS4 proxy's refusals: of the user id, and of a host", async () => {
    await throughSocks('socks4a', 'someone', async () => {
      expect(await refusal('x-ads.test')).toMatchObject({
        kind: 'transient',
        message: expect.stringContaining('the SOCKS4 proxy refused to connect (the user id did not match)'),
        hint: expect.stringContaining('socks4a://userid@'),
      });
    });
    await throughSocks(
      'socks4a',
      'batch',
      async (proxy) => {
        expect(await refusal('blocked.test')).toMatchObject({
          message: expect.stringContaining(
            'the SOCKS4 proxy refused to connect (request rejected or failed)',
          ),
          hint: expect.stringContaining('NO_PROXY'),
        });
        expect(proxy.requests).toEqual([
          { target: `blocked.test:${emulatorPort}`, credentials: 'batch', reply: 91, version: 4 },
        ]);
      },
      ['blocked.test'],
    );
  });

  it('says so when the SOCKS5 proxy itself cannot be reached', async () => {
    const closed = await startSocksProxy();
    const url = closed.url;
    await closed.close();
    const restore = installOutboundProxy({ http: url, https: url, noProxy: [] });
    try {
      expect(await refusal('x-ads.test')).toMatchObject({
        message: expect.stringMatching(
          /the SOCKS5 proxy at 127\.0\.0\.1:\d+ could not be reached \(connect ECONNREFUSED/,
        ),
        hint: expect.stringContaining('Check the proxy address and port in HTTPS_PROXY'),
      });
    } finally {
      await restore();
    }
  });

  it("names a SOCKS5 proxy's refusal of a host", () =>
    throughSocks(
      'socks5h',
      'svc:pw',
      async (proxy) => {
        expect(await refusal('blocked.test')).toMatchObject({
          message: expect.stringContaining('the SOCKS5 proxy refused to connect (not allowed by its rules)'),
          hint: expect.stringContaining('NO_PROXY'),
        });
        expect(proxy.requests).toEqual([
          { target: `blocked.test:${emulatorPort}`, credentials: 'svc:pw', reply: 2, version: 5 },
        ]);
      },
      ['blocked.test'],
    ));
});
