import { createServer as createTcpServer, type AddressInfo, type Server as TcpServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSocksProxy } from '../../test/fixtures/socks-proxy.ts';
import { openSocksTunnel, parseSocksProxy } from './socks.ts';

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
