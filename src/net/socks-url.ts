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
