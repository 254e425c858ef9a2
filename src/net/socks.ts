import { lookup } from 'node:dns/promises';
import { isIP, type Socket } from 'node:net';
import { SocksClient } from 'socks';
import { buildConnector } from 'undici';

/**
 * A SOCKS egress proxy. SOCKS5 (RFC 1928), with RFC 1929 user/password authentication when the URL carries
 * credentials: `socks5h://` lets the proxy resolve host names (the usual choice where this machine cannot resolve
 * outside names), `socks5://` resolves them here and hands the proxy an address, as curl does. SOCKS4, for older
 * proxies: `socks4a://` lets the proxy resolve names, `socks4://` hands it an IPv4 address resolved here; the URL's
 * user is the SOCKS4 user id (the protocol has no password).
 */
export interface SocksProxy {
  version: 4 | 5;
  host: string;
  port: number;
  /** The SOCKS5 user, or the SOCKS4 user id. */
  user: string | null;
  /** SOCKS5 only. */
  password: string | null;
  /** The proxy resolves host names (`socks5h`, `socks4a`). */
  remoteDns: boolean;
}

export const SOCKS_SCHEMES = ['socks5:', 'socks5h:', 'socks4:', 'socks4a:'] as const;

/** The scheme of a URL (lower case, with its colon), or null. */
function schemeOf(url: string): string | null {
  return /^([a-z][a-z0-9+.-]*:)\/\//i.exec(url)?.[1]?.toLowerCase() ?? null;
}

/** Whether a proxy URL names a SOCKS proxy this product speaks (one of `SOCKS_SCHEMES`). */
export function isSocksUrl(url: string): boolean {
  const scheme = schemeOf(url);
  return scheme !== null && (SOCKS_SCHEMES as readonly string[]).includes(scheme);
}

/**
 * @example
 * parseSocksProxy('socks5h://svc:p%40ss@proxy.corp.example'); // { version: 5, host: 'proxy.corp.example', port: 1080, user: 'svc', password: 'p@ss', remoteDns: true }
 * parseSocksProxy('socks4a://batch@proxy.corp.example:1081'); // { version: 4, host: 'proxy.corp.example', port: 1081, user: 'batch', password: null, remoteDns: true }
 */
export function parseSocksProxy(raw: string): SocksProxy {
  const url = new URL(raw);
  if (!(SOCKS_SCHEMES as readonly string[]).includes(url.protocol))
    throw new Error(`not a SOCKS proxy URL: ${url.protocol}`);
  const version = url.protocol.startsWith('socks4') ? 4 : 5;
  const user = url.username === '' ? null : decodeURIComponent(url.username);
  return {
    version,
    host: url.hostname.replace(/^\[(.*)\]$/, '$1'),
    port: Number(url.port || 1080),
    user,
    password: version === 4 || user === null ? null : decodeURIComponent(url.password),
    remoteDns: url.protocol === 'socks5h:' || url.protocol === 'socks4a:',
  };
}

/** How long the proxy may take to answer the handshake and open the connection. */
const HANDSHAKE_TIMEOUT_MS = 15_000;

/**
 * A TCP connection to `host:port` through the proxy, open and ready for the protocol's first byte (TLS is the
 * caller's). Refusals reject with the `socks` library's message (`Socks5 proxy rejected connection - NotAllowed`,
 * `Socks5 Authentication failed`, `Socks4 Proxy rejected connection - (RejectedIdent)`), a proxy that cannot be
 * reached with `the SOCKS5 proxy at host:port could not be reached (…)` (SOCKS4 likewise), and an IPv6 destination,
 * which SOCKS4 cannot carry, with `a SOCKS4 proxy cannot reach an IPv6 address (…)`; `describeNetworkFailure` puts
 * them in words.
 */
export async function openSocksTunnel(proxy: SocksProxy, host: string, port: number): Promise<Socket> {
  const name = `SOCKS${proxy.version}`;
  let target = host;
  if (isIP(host) === 0 && !proxy.remoteDns)
    target = (await lookup(host, proxy.version === 4 ? { family: 4 } : {})).address;
  if (proxy.version === 4 && isIP(target) === 6)
    throw new Error(
      `a ${name} proxy cannot reach an IPv6 address (${target}): give the host by name with socks4a://, or use a SOCKS5 proxy`,
    );
  try {
    const { socket } = await SocksClient.createConnection({
      command: 'connect',
      destination: { host: target, port },
      proxy: {
        host: proxy.host,
        port: proxy.port,
        type: proxy.version,
        ...(proxy.user === null
          ? {}
          : proxy.version === 4
            ? { userId: proxy.user }
            : { userId: proxy.user, password: proxy.password ?? '' }),
      },
      timeout: HANDSHAKE_TIMEOUT_MS,
    });
    return socket;
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    // The proxy itself is down or misnamed: say so, rather than a bare address the user may not recognize.
    if (/^(connect|getaddrinfo) E[A-Z]+/.test(reason))
      throw new Error(`the ${name} proxy at ${proxy.host}:${proxy.port} could not be reached (${reason})`, {
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
