/**
 * What went wrong with a request that got no response, in words: `fetch` rejects with "fetch failed" and keeps the
 * reason in its `cause` chain (a refused connection, a name that does not resolve, a proxy that refused the tunnel).
 */
export interface NetworkFailure {
  /** The innermost reason, e.g. `connect ECONNREFUSED 10.0.0.5:443`, or the proxy's refusal. */
  reason: string;
  /** The HTTP status a proxy answered the tunnel request with, when a proxy refused it. */
  proxyStatus: number | null;
  /** What to check, when the reason says more than "the network". */
  hint: string | null;
}

const PROXY_STATUS_TEXT: Record<number, string> = {
  403: 'Forbidden',
  407: 'Proxy Authentication Required',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

function proxyHint(status: number): string {
  if (status === 407)
    return 'The proxy asks for credentials: give them in the proxy URL, e.g. HTTPS_PROXY=http://user:password@proxy.example.com:3128 (URL-encode special characters).';
  if (status === 403)
    return 'The proxy does not let this host through: ask for it to be allowed, or list the host in NO_PROXY if it is reachable without the proxy.';
  return 'The proxy could not reach the host: check that it can, or list the host in NO_PROXY if it is reachable without the proxy.';
}

/**
 * @example
 * describeNetworkFailure(new TypeError('fetch failed', { cause: new Error('Proxy response (407) !== 200 when HTTP Tunneling') }));
 * // { reason: 'the proxy refused to connect (HTTP 407 Proxy Authentication Required)', proxyStatus: 407, hint: 'The proxy asks for credentials: …' }
 */
export function describeNetworkFailure(error: unknown): NetworkFailure {
  let innermost: unknown = error;
  for (let depth = 0; depth < 8; depth += 1) {
    // A proxy that cannot be reached is named by the error that says so, not by the socket error inside it.
    if (innermost instanceof Error && SOCKS_UNREACHABLE.test(innermost.message)) break;
    const cause = (innermost as { cause?: unknown } | null)?.cause;
    if (cause === undefined || cause === null) break;
    innermost = cause;
  }
  const reason = innermost instanceof Error ? innermost.message : String(innermost);
  const tunnel = /Proxy response \((\d{3})\)/.exec(reason);
  if (tunnel) {
    const status = Number(tunnel[1]);
    const text = PROXY_STATUS_TEXT[status];
    return {
      reason: `the proxy refused to connect (HTTP ${status}${text ? ` ${text}` : ''})`,
      proxyStatus: status,
      hint: proxyHint(status),
    };
  }
  const socks = describeSocksFailure(reason);
  if (socks) return { ...socks, proxyStatus: null };
  return { reason, proxyStatus: null, hint: null };
}

/** How `openSocksTunnel` begins the error for a SOCKS proxy it could not connect to. */
const SOCKS_UNREACHABLE = /^the SOCKS[45] proxy at /;

/** SOCKS5 reply codes (RFC 1928 §6) as the `socks` library names them, in words. */
const SOCKS_REPLIES: Record<string, string> = {
  Failure: 'a general failure',
  NotAllowed: 'not allowed by its rules',
  NetworkUnreachable: 'network unreachable',
  HostUnreachable: 'host unreachable',
  ConnectionRefused: 'connection refused',
  TTLExpired: 'TTL expired',
  CommandNotSupported: 'command not supported',
  AddressNotSupported: 'address type not supported',
};

/** SOCKS4 reply codes (91-93) as the `socks` library names them, in words. */
const SOCKS4_REPLIES: Record<string, string> = {
  Failed: 'request rejected or failed',
  Rejected: 'it could not reach an identd on this machine',
  RejectedIdent: 'the user id did not match',
};

function describeSocksFailure(reason: string): { reason: string; hint: string } | null {
  const socks4 = /^Socks4 Proxy rejected connection - \((\w+)\)$/.exec(reason);
  if (socks4) {
    const code = socks4[1]!;
    return {
      reason: `the SOCKS4 proxy refused to connect (${SOCKS4_REPLIES[code] ?? code})`,
      hint:
        code === 'Failed'
          ? 'The proxy does not let this host through, or cannot reach it: ask for it to be allowed (with socks4:// this machine resolves the name; socks4a:// lets the proxy do it), or list the host in NO_PROXY if it is reachable without the proxy.'
          : 'The proxy checks who is asking: give the user id it expects in its URL, e.g. HTTPS_PROXY=socks4a://userid@proxy.example.com:1080, or use a SOCKS5 proxy with a user and password.',
    };
  }
  if (reason.startsWith('a SOCKS4 proxy cannot reach an IPv6 address'))
    return {
      reason,
      hint: 'Name the host instead of its IPv6 address and use socks4a://, list it in NO_PROXY if it is reachable without the proxy, or use a SOCKS5 proxy.',
    };
  if (reason === 'Socks5 Authentication failed' || /no accepted authentication type/.test(reason))
    return {
      reason: 'the SOCKS5 proxy refused the credentials',
      hint: 'Give the credentials the proxy expects in its URL, e.g. HTTPS_PROXY=socks5h://user:password@proxy.example.com:1080 (URL-encode special characters).',
    };
  const rejected = /^Socks5 proxy rejected connection - (\w+)$/.exec(reason);
  if (rejected) {
    const code = rejected[1]!;
    return {
      reason: `the SOCKS5 proxy refused to connect (${SOCKS_REPLIES[code] ?? code})`,
      hint:
        code === 'NotAllowed'
          ? 'The proxy does not let this host through: ask for it to be allowed, or list the host in NO_PROXY if it is reachable without the proxy.'
          : code === 'HostUnreachable' || code === 'AddressNotSupported'
            ? 'The proxy could not reach the host: check the name (with socks5:// this machine resolves it; socks5h:// lets the proxy do it), or list the host in NO_PROXY if it is reachable without the proxy.'
            : 'The proxy could not reach the host: check that it can, or list the host in NO_PROXY if it is reachable without the proxy.',
    };
  }
  if (SOCKS_UNREACHABLE.test(reason))
    return {
      reason,
      hint: 'Check the proxy address and port in HTTPS_PROXY (or HTTP_PROXY, ALL_PROXY), and that the proxy is up.',
    };
  if (reason === 'Proxy connection timed out')
    return {
      reason: 'the SOCKS proxy did not answer in time',
      hint: 'Check the proxy address and port, and that it is up.',
    };
  return null;
}
