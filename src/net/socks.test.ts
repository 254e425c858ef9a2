import {
  createServer as createTcpServer,
  type AddressInfo,
  type Server as TcpServer,
  type Socket,
} from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSocksProxy } from '../../test/fixtures/socks-proxy.ts';
import { openSocksTunnel } from './socks.ts';
import { parseSocksProxy } from './socks-url.ts';

describe('parseSocksProxy', () => {
  it('reads host, port (1080 by default), credentials and who resolves names', () => {
    expect(parseSocksProxy('socks5h://svc:p%40ss@proxy.corp.example')).toEqual({
      version: 5,
      host: 'proxy.corp.example',
      port: 1080,
      user: 'svc',
      password: 'p@ss',
      remoteDns: true,
    });
    expect(parseSocksProxy('socks5://[fd00::5]:9050')).toEqual({
      version: 5,
      host: 'fd00::5',
      port: 9050,
      user: null,
      password: null,
      remoteDns: false,
    });
    expect(() => parseSocksProxy('http://proxy:3128')).toThrow('not a SOCKS proxy URL');
  });

  it('reads SOCKS4 proxies: the user is the user id, and socks4a lets the proxy resolve names', () => {
    expect(parseSocksProxy('socks4a://batch%20job@proxy.corp.example:1081')).toEqual({
      version: 4,
      host: 'proxy.corp.example',
      port: 1081,
      user: 'batch job',
      password: null,
      remoteDns: true,
    });
    expect(parseSocksProxy('socks4://10.0.0.5')).toEqual({
      version: 4,
      host: '10.0.0.5',
      port: 1080,
      user: null,
      password: null,
      remoteDns: false,
    });
  });
});

/** The tunnel reaches the echo server: what is written comes back. Closes the socket. */
async function expectEcho(socket: Socket): Promise<void> {
  socket.write('ping');
  const answer = await new Promise<Buffer>((resolve) => socket.once('data', resolve));
  expect(answer.toString()).toBe('ping');
  socket.destroy();
}

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
      for (const socket of [remote, local]) await expectEcho(socket);
      expect(proxy.requests.map((r) => r.target)).toEqual([
        `localhost:${port}`,
        expect.stringMatching(new RegExp(`^(127\\.0\\.0\\.1|0:0:0:0:0:0:0:1):${port}$`)),
      ]);
    } finally {
      await proxy.close();
    }
  });

  it('speaks SOCKS4: a name with socks4a, an IPv4 address resolved here with socks4, and the user id', async () => {
    const proxy = await startSocksProxy({ userId: 'batch' });
    const port = (echo.address() as AddressInfo).port;
    const base = `batch@${new URL(proxy.url).host}`;
    try {
      const remote = await openSocksTunnel(parseSocksProxy(`socks4a://${base}`), 'localhost', port);
      const local = await openSocksTunnel(parseSocksProxy(`socks4://${base}`), 'localhost', port);
      for (const socket of [remote, local]) await expectEcho(socket);
      expect(proxy.requests).toEqual([
        { target: `localhost:${port}`, credentials: 'batch', reply: 90, version: 4 },
        { target: `127.0.0.1:${port}`, credentials: 'batch', reply: 90, version: 4 },
      ]);
      // SOCKS4 carries IPv4 addresses only: an IPv6 one is refused here, before the proxy hears of it.
      await expect(openSocksTunnel(parseSocksProxy(`socks4://${base}`), '::1', port)).rejects.toThrow(
        'a SOCKS4 proxy cannot reach an IPv6 address (::1)',
      );
      // A user id the proxy does not take: its reply 93, as the library names it.
      await expect(
        openSocksTunnel(parseSocksProxy(`socks4a://someone@${new URL(proxy.url).host}`), 'localhost', port),
      ).rejects.toThrow('Socks4 Proxy rejected connection - (RejectedIdent)');
      expect(proxy.requests).toHaveLength(3);
      expect(proxy.requests[2]).toMatchObject({ credentials: 'someone', reply: 93 });
    } finally {
      await proxy.close();
    }
  });
});
