import { lookup } from 'node:dns/promises';
import { isIP, type Socket } from 'node:net';
import { SocksClient } from 'socks';
import { buildConnector } from 'undici';
import type { SocksProxy } from './socks-url.ts';

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
