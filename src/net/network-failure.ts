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
  return { reason, proxyStatus: null, hint: null };
}
