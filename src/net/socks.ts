import { lookup } from 'node:dns/promises';
import { isIP, type Socket } from 'node:net';
import { SocksClient } from 'socks';
import { buildConnector } from 'undici';

/**
 * A SOCKS5 egress proxy (RFC 1928), with RFC 1929 user/password authentication when the URL carries credentials.
 * `socks5h://` lets the proxy resolve host names (the usual choice where this machine cannot resolve outside names);
 * `socks5://` resolves them here and hands the proxy an address, as curl does.
 */
export interface SocksProxy {
  host: string;
  port: number;
  user: string | null;
  password: string | null;
  /** The proxy resolves host names (`socks5h`). */
  remoteDns: boolean;
}

export const SOCKS_SCHEMES = ['socks5:', 'socks5h:'] as const;

/** Whether a proxy URL names a SOCKS5 proxy (one of `SOCKS_SCHEMES`). */
export function isSocksUrl(url: string): boolean {
  const scheme = /^([a-z][a-z0-9+.-]*:)\/\//i.exec(url)?.[1]?.toLowerCase();
  return scheme !== undefined && (SOCKS_SCHEMES as readonly string[]).includes(scheme);
}

/**
 * @example
 * parseSocksProxy('socks5h://svc:p%40ss@proxy.corp.example'); // { host: 'proxy.corp.example', port: 1080, user: 'svc', password: 'p@ss', remoteDns: true }
 */
export function parseSocksProxy(raw: string): SocksProxy {
  const url = new URL(raw);
  if (!(SOCKS_SCHEMES as readonly string[]).includes(url.protocol))
    throw new Error(`not a SOCKS5 proxy URL: ${url.protocol}`);
  return {
    host: url.hostname.replace(/^\[(.*)\]$/, '$1'),
    port: Number(url.port || 1080),
    user: url.username === '' ? null : decodeURIComponent(url.username),
    password: url.username === '' ? null : decodeURIComponent(url.password),
    remoteDns: url.protocol === 'socks5h:',
  };
}

/** How long the proxy may take to answer the handshake and open the connection. */
const HANDSHAKE_TIMEOUT_MS = 15_000;

/**
 * A TCP connection to `host:port` through the proxy, open and ready for the protocol's first byte (TLS is the
 * caller's). Refusals reject with the `socks` library's message (`Socks5 proxy rejected connection - NotAllowed`,
 * `Socks5 Authentication failed`), and a proxy that cannot be reached with `the SOCKS5 proxy at host:port could not
 * be reached (…)`; `describeNetworkFailure` puts them in words.
 */
export async function openSocksTunnel(proxy: SocksProxy, host: string, port: number): Promise<Socket> {
  const target = proxy.remoteDns || isIP(host) !== 0 ? host : (await lookup(host)).address;
  try {
    const { socket } = await SocksClient.createConnection({
      command: 'connect',
      destination: { host: target, port },
      proxy: {
        host: proxy.host,
        port: proxy.port,
        type: 5,
        ...(proxy.user === null ? {} : { userId: proxy.user, password: proxy.password ?? '' }),
      },
      timeout: HANDSHAKE_TIMEOUT_MS,
    });
    return socket;
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    // The proxy itself is down or misnamed: say so, rather than a bare address the user may not recognize.
    if (/^(connect|getaddrinfo) E[A-Z]+/.test(reason))
      throw new Error(`the SOCKS5 proxy at ${proxy.host}:${proxy.port} could not be reached (${reason})`, {
        cause: error,
      });
    throw error;
  }
}

/**
 * An undici connector that reaches every origin through the proxy: plain http over the tunnel, https with TLS on top
 * of it (certificate checked against the origin's name, as without a proxy). `tls` adds TLS options (a test's CA).
 */
export function socksConnector(
  proxy: SocksProxy,
  tls: buildConnector.BuildOptions = {},
): buildConnector.connector {
  const secure = buildConnector(tls);
  return (options, callback) => {
    const https = options.protocol === 'https:';
    const port = Number(options.port || (https ? 443 : 80));
    openSocksTunnel(proxy, options.hostname.replace(/^\[(.*)\]$/, '$1'), port).then(
      (socket) => (https ? secure({ ...options, httpSocket: socket }, callback) : callback(null, socket)),
      (error: unknown) => callback(error instanceof Error ? error : new Error(String(error)), null),
    );
  };
}
