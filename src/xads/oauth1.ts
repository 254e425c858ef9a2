/**
 * OAuth 1.0a request signing (HMAC-SHA1) as X defines it: docs.x.com "Creating a signature" and
 * "Percent encoding parameters". Everything here is pure: nonce and timestamp are inputs, so a
 * signature is reproducible from its inputs and the emulator can verify with the same code.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

/** A parameter list; a list of pairs keeps duplicate keys, a record does not. */
export type OAuthParams = Record<string, string> | ReadonlyArray<readonly [string, string]>;

export interface OAuthConsumer {
  key: string;
  secret: string;
}

export interface OAuthToken {
  key: string;
  secret: string;
}

/**
 * RFC 3986 percent-encoding over UTF-8: only `A-Z a-z 0-9 - . _ ~` stay as they are, every other byte
 * becomes `%XX` with uppercase hex. `encodeURIComponent` leaves `!'()*` alone, which X rejects, so
 * those are escaped on top.
 *
 * @example
 * percentEncode('Ladies + Gentlemen'); // 'Ladies%20%2B%20Gentlemen'
 * percentEncode("it's (*)!"); // 'it%27s%20%28%2A%29%21'
 */
export function percentEncode(value: string): string {
  return encodeURIComponent(value).replace(
    /[!'()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
}

function toPairs(params: OAuthParams | undefined): Array<[string, string]> {
  if (params === undefined) return [];
  if (Array.isArray(params)) return params.map(([k, v]) => [k, v] as [string, string]);
  return Object.entries(params as Record<string, string>);
}

/**
 * The base URL of a signature: scheme and host lowercased, default port dropped, path kept, query and
 * fragment removed (query parameters are signed as parameters instead).
 *
 * @example
 * signatureBaseUrl('HTTPS://Ads-API.x.com:443/12/accounts?count=5'); // 'https://ads-api.x.com/12/accounts'
 */
export function signatureBaseUrl(url: string): string {
  const parsed = new URL(url);
  return `${parsed.protocol}//${parsed.host}${parsed.pathname}`;
}

/**
 * The query parameters of `url`, decoded (`+` reads as a space, as form encoding defines).
 *
 * @example
 * queryParams('https://a.example/x?name=a%20b&q=c'); // [['name', 'a b'], ['q', 'c']]
 */
export function queryParams(url: string): Array<[string, string]> {
  return [...new URL(url).searchParams.entries()];
}

/**
 * Builds the signature base string `METHOD&pct(baseUrl)&pct(paramString)`.
 *
 * `url` may carry a query string; it is stripped from the base URL and NOT added to the parameters:
 * `params` must be the complete parameter list (query, form-encoded body, and every `oauth_*`
 * parameter except `oauth_signature`). Use {@link signatureParams} to collect them from a request.
 *
 * @example
 * signatureBaseString({
 *   method: 'GET',
 *   url: 'https://ads-api.x.com/12/accounts/18ce54d4x5t',
 *   params: { oauth_consumer_key: 'key', oauth_nonce: 'n' },
 * }); // 'GET&https%3A%2F%2Fads-api.x.com%2F12%2Faccounts%2F18ce54d4x5t&oauth_consumer_key%3Dkey%26oauth_nonce%3Dn'
 */
export function signatureBaseString(input: { method: string; url: string; params: OAuthParams }): string {
  const encoded = toPairs(input.params).map(([k, v]) => [percentEncode(k), percentEncode(v)] as const);
  // Sort by encoded key, then by encoded value (RFC 5849 §3.4.1.3.2); plain code-unit order is byte order
  // here because encoded strings are ASCII.
  encoded.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0));
  const paramString = encoded.map(([k, v]) => `${k}=${v}`).join('&');
  return [
    input.method.toUpperCase(),
    percentEncode(signatureBaseUrl(input.url)),
    percentEncode(paramString),
  ].join('&');
}

/**
 * base64(HMAC-SHA1(pct(consumerSecret) & pct(tokenSecret), baseString)). The token secret is empty when
 * requesting a temporary token.
 *
 * @example
 * hmacSha1Signature(baseString, 'consumer-secret', 'token-secret'); // e.g. 'Ls93hJiZbQ3akF3HF3x1Bz8/zU4='
 */
export function hmacSha1Signature(baseString: string, consumerSecret: string, tokenSecret = ''): string {
  const key = `${percentEncode(consumerSecret)}&${percentEncode(tokenSecret)}`;
  return createHmac('sha1', key).update(baseString).digest('base64');
}

/**
 * Collects the signed parameters of a request: the query string of `url`, form-encoded body parameters
 * (pass them only for `application/x-www-form-urlencoded` bodies; JSON bodies are never signed) and the
 * protocol parameters (every `oauth_*` one except `oauth_signature`; `realm` is excluded too).
 *
 * @example
 * signatureParams({ url: 'https://ads-api.x.com/12/x?count=5', oauth: { oauth_nonce: 'n', oauth_signature: 's' } });
 * // [['count', '5'], ['oauth_nonce', 'n']]
 */
export function signatureParams(input: {
  url: string;
  form?: OAuthParams;
  oauth: Record<string, string>;
}): Array<[string, string]> {
  const protocol = Object.entries(input.oauth).filter(([k]) => k !== 'oauth_signature' && k !== 'realm');
  return [...queryParams(input.url), ...toPairs(input.form), ...protocol];
}

export interface SignRequestInput {
  method: string;
  /** Full request URL, query string included: every query parameter is signed exactly as sent. */
  url: string;
  /** Form-encoded body parameters (`application/x-www-form-urlencoded` only). Never pass a JSON body. */
  form?: OAuthParams;
  consumer: OAuthConsumer;
  /** Omitted for the request-token step of the PIN flow. */
  token?: OAuthToken;
  nonce: string;
  /** Unix seconds, as a string or number. */
  timestamp: string | number;
  /** Extra protocol parameters, e.g. `oauth_callback` or `oauth_verifier`; they are signed and sent. */
  extra?: Record<string, string>;
}

/**
 * The protocol parameters `signRequest` sends, signature included.
 *
 * @example
 * signedOAuthParams({ method: 'GET', url, consumer, token, nonce: 'n', timestamp: 1 }).oauth_signature;
 */
export function signedOAuthParams(input: SignRequestInput): Record<string, string> {
  const oauth: Record<string, string> = {
    oauth_consumer_key: input.consumer.key,
    oauth_nonce: input.nonce,
    oauth_signature_method: 'HMAC-SHA1',
    oauth_timestamp: String(input.timestamp),
    oauth_version: '1.0',
    ...(input.token ? { oauth_token: input.token.key } : {}),
    ...input.extra,
  };
  const base = signatureBaseString({
    method: input.method,
    url: input.url,
    params: signatureParams({ url: input.url, ...(input.form ? { form: input.form } : {}), oauth }),
  });
  oauth.oauth_signature = hmacSha1Signature(base, input.consumer.secret, input.token?.secret ?? '');
  return oauth;
}

/**
 * Signs a request and returns the `Authorization` header value.
 *
 * @example
 * const header = signRequest({
 *   method: 'GET',
 *   url: 'https://ads-api.x.com/12/accounts/18ce54d4x5t/authenticated_user_access',
 *   consumer: { key: 'ck', secret: 'cs' },
 *   token: { key: 'tk', secret: 'ts' },
 *   nonce: 'kYjzVBB8Y0ZFabxSWbWovY3uYSQ2pTgmZeNu2VS4cg',
 *   timestamp: 1318622958,
 * });
 * // 'OAuth oauth_consumer_key="ck", oauth_nonce="…", oauth_signature="…", …'
 */
export function signRequest(input: SignRequestInput): string {
  const oauth = signedOAuthParams(input);
  const parts = Object.keys(oauth)
    .sort()
    .map((k) => `${percentEncode(k)}="${percentEncode(oauth[k] ?? '')}"`);
  return `OAuth ${parts.join(', ')}`;
}

/**
 * Parses an `Authorization: OAuth k="v", …` header into its decoded parameters (`realm` included if
 * present). Returns null when the header is not an OAuth header or is malformed (bad syntax, bad
 * percent-encoding, a duplicate key).
 *
 * @example
 * parseAuthorizationHeader('OAuth oauth_consumer_key="ck", oauth_signature="a%2Fb%3D"');
 * // { oauth_consumer_key: 'ck', oauth_signature: 'a/b=' }
 */
export function parseAuthorizationHeader(header: string | null | undefined): Record<string, string> | null {
  if (typeof header !== 'string') return null;
  const match = /^\s*OAuth\s+(.*?)\s*$/is.exec(header);
  if (!match) return null;
  const body = match[1] ?? '';
  const result: Record<string, string> = {};
  const pair = /\s*([^\s=,"]+)\s*=\s*"([^"]*)"\s*(,|$)/y;
  let position = 0;
  while (position < body.length) {
    pair.lastIndex = position;
    const m = pair.exec(body);
    if (!m) return null;
    let key: string;
    let value: string;
    try {
      key = decodeURIComponent(m[1] ?? '');
      value = decodeURIComponent(m[2] ?? '');
    } catch {
      return null;
    }
    if (Object.prototype.hasOwnProperty.call(result, key)) return null;
    result[key] = value;
    position = pair.lastIndex;
    if (m[3] === '') break;
  }
  if (position < body.length || Object.keys(result).length === 0) return null;
  return result;
}

/**
 * Verifies the signature of a received request in constant time. `oauth` is the parsed header,
 * `form` the form-encoded body parameters if the body is `application/x-www-form-urlencoded`.
 * Only the signature is checked; timestamps, nonces and key lookup are the caller's policy.
 *
 * @example
 * const oauth = parseAuthorizationHeader(request.headers.get('authorization'));
 * const ok = oauth !== null && verifySignature({ method: 'GET', url: request.url, oauth, consumerSecret, tokenSecret });
 */
export function verifySignature(input: {
  method: string;
  url: string;
  form?: OAuthParams;
  oauth: Record<string, string>;
  consumerSecret: string;
  tokenSecret?: string;
}): boolean {
  const received = input.oauth.oauth_signature;
  if (received === undefined) return false;
  if ((input.oauth.oauth_signature_method ?? '').toUpperCase() !== 'HMAC-SHA1') return false;
  const base = signatureBaseString({
    method: input.method,
    url: input.url,
    params: signatureParams({
      url: input.url,
      ...(input.form ? { form: input.form } : {}),
      oauth: input.oauth,
    }),
  });
  const expected = Buffer.from(hmacSha1Signature(base, input.consumerSecret, input.tokenSecret ?? ''));
  const actual = Buffer.from(received);
  return expected.length === actual.length && timingSafeEqual(expected, actual);
}
