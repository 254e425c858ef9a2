import { createHash } from 'node:crypto';
import type { AsyncBuffer } from 'hyparquet';
import { describeNetworkFailure } from '../net/network-failure.ts';
import { describeAllowList, isAllowedUrl, type AllowedOrigin } from '../net/url-allow-list.ts';
import type { ErrorDetail } from './api-error.ts';
import { namedFileFormat, type FileFormat } from '../profile/index.ts';

/*
 * A URL import: the service reads an object behind an http(s) URL (a presigned S3 URL, a signed Cloud Storage URL, an
 * Azure blob URL with a SAS token) and imports it as if it were uploaded. The URL's query string is its credential, so
 * the URL is named everywhere by its origin and path only. Only origins on the allow-list are fetched, redirects
 * included, so a token cannot make the service reach anything else.
 */

/** Redirects followed at most (each to an allowed origin). */
const MAX_REDIRECTS = 5;
/** Time to the response headers; the body then streams for as long as the import reads it. */
const HEADERS_TIMEOUT_MS = 30_000;

/**
 * GETs an object's URL without following redirects (each is checked against the allow-list first), as is (no
 * compression), giving up when its headers take longer than `HEADERS_TIMEOUT_MS`; the body then streams unbounded.
 */
async function requestObject(
  fetchImpl: typeof globalThis.fetch,
  url: URL,
  headers: Record<string, string>,
): Promise<Response> {
  const headersTimeout = new AbortController();
  const timer = setTimeout(() => headersTimeout.abort(), HEADERS_TIMEOUT_MS);
  try {
    return await fetchImpl(url, {
      redirect: 'manual',
      headers: { 'user-agent': 'tca-import', 'accept-encoding': 'identity', ...headers },
      signal: headersTimeout.signal,
    });
  } finally {
    clearTimeout(timer);
  }
}

/** A URL without its query string and fragment (which may hold a credential). */
export const publicUrl = (url: URL): string => `${url.origin}${url.pathname}`;

export interface OpenedUrl {
  /** Where the file was read from, after any redirect: its path names the format, and the import. */
  url: URL;
  body: AsyncIterable<Uint8Array>;
  /** Content-Length, when given. */
  totalBytes: number | null;
  /** What changes when the object does (ETag, else Last-Modified, else the length): part of the default key. */
  version: string;
  /** The ETag, when given: byte ranges are read only from this version of the object (If-Match). */
  etag: string | null;
  /** The response's media type, lower-case, without parameters. */
  contentType: string | null;
  /** Stops reading (the import refused to start). */
  cancel(): Promise<void>;
}

/** Problems with the URL itself: not http(s), or not on the allow-list (which the problem lists). */
export function urlProblems(raw: string, allow: readonly AllowedOrigin[]): ErrorDetail[] {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return [{ path: 'url', reason: 'not a URL; give the full http(s) URL of the file, as a presigned link' }];
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    const hint =
      url.protocol === 's3:' || url.protocol === 'gs:'
        ? ': presign it first (aws s3 presign …, gcloud storage sign-url …)'
        : '';
    return [{ path: 'url', reason: `only http and https URLs are read${hint}` }];
  }
  if (allow.length === 0)
    return [
      {
        path: 'url',
        reason:
          'this service imports from no URL: an administrator lists the origins it may read in TCA_IMPORT_URL_ALLOW (for example https://*.s3.amazonaws.com)',
      },
    ];
  if (!isAllowedUrl(allow, url))
    return [
      {
        path: 'url',
        reason: `${url.origin} is not an origin this service may read (TCA_IMPORT_URL_ALLOW: ${describeAllowList(allow).join(', ')})`,
      },
    ];
  return [];
}

/**
 * Requests the URL, following redirects only to allowed origins; the open body, or problems saying why not (the
 * answer's status, the network failure), naming the URL without its query string.
 */
export async function openImportUrl(
  raw: string,
  allow: readonly AllowedOrigin[],
  fetchImpl: typeof globalThis.fetch = globalThis.fetch,
): Promise<{ ok: true; value: OpenedUrl } | { ok: false; problems: ErrorDetail[] }> {
  const refused = urlProblems(raw, allow);
  if (refused.length > 0) return { ok: false, problems: refused };
  let url = new URL(raw);
  for (let hop = 0; ; hop += 1) {
    let response: Response;
    try {
      response = await requestObject(fetchImpl, url, {});
    } catch (error) {
      return {
        ok: false,
        problems: [{ path: 'url', reason: `${publicUrl(url)}: ${describeNetworkFailure(error).reason}` }],
      };
    }
    const location = response.headers.get('location');
    if (response.status >= 300 && response.status < 400 && location !== null) {
      await response.body?.cancel();
      const next = new URL(location, url);
      if (hop >= MAX_REDIRECTS)
        return {
          ok: false,
          problems: [{ path: 'url', reason: `${publicUrl(url)}: more than ${MAX_REDIRECTS} redirects` }],
        };
      const problems = urlProblems(next.href, allow);
      if (problems.length > 0)
        return {
          ok: false,
          problems: [
            {
              path: 'url',
              reason: `${publicUrl(url)} redirects to ${next.origin}, which is not allowed: ${problems[0]!.reason}`,
            },
          ],
        };
      url = next;
      continue;
    }
    if (!response.ok || response.body === null) {
      await response.body?.cancel();
      const expired = response.status === 403 || response.status === 400;
      return {
        ok: false,
        problems: [
          {
            path: 'url',
            reason: `${publicUrl(url)} answered HTTP ${response.status}${expired ? ' (a presigned URL that expired, or was signed for another object?)' : ''}`,
          },
        ],
      };
    }
    const length = response.headers.get('content-length');
    const version =
      response.headers.get('etag') ??
      response.headers.get('last-modified') ??
      `length:${length ?? 'unknown'}`;
    const body = response.body;
    return {
      ok: true,
      value: {
        url,
        body: body as unknown as AsyncIterable<Uint8Array>,
        totalBytes: length !== null && /^\d+$/.test(length) ? Number(length) : null,
        version,
        etag: response.headers.get('etag'),
        contentType: response.headers.get('content-type')?.split(';')[0]?.trim().toLowerCase() ?? null,
        cancel: () => body.cancel(),
      },
    };
  }
}

/**
 * An object read by byte ranges from where `openImportUrl` found it (after its redirects): how a Parquet file is read,
 * from its end. Each range must come back whole (206, exactly as long as asked) and, when the object has an ETag, from
 * that version (If-Match: a changed object answers 412). Anything else fails the import's source, so the import stops
 * (resumable from its last batch) instead of reading a mix of two versions.
 */
export class RangedUrl implements AsyncBuffer {
  readonly #url: URL;
  readonly #etag: string | null;
  readonly #fetch: typeof globalThis.fetch;
  readonly byteLength: number;

  constructor(
    opened: Pick<OpenedUrl, 'url' | 'etag'> & { totalBytes: number },
    fetchImpl: typeof globalThis.fetch = globalThis.fetch,
  ) {
    this.#url = opened.url;
    this.#etag = opened.etag;
    this.byteLength = opened.totalBytes;
    this.#fetch = fetchImpl;
  }

  async slice(start: number, end = this.byteLength): Promise<ArrayBuffer> {
    if (end <= start) return new ArrayBuffer(0);
    // The engine reports it as the source failing, naming the object.
    const failed = (reason: string, cause?: unknown) =>
      new Error(`bytes ${start}-${end - 1}: ${reason}`, cause !== undefined ? { cause } : {});
    let response: Response;
    try {
      // The object's own URL: a redirect now (not followed) would be to somewhere the allow-list was not asked about.
      response = await requestObject(this.#fetch, this.#url, {
        range: `bytes=${start}-${end - 1}`,
        ...(this.#etag !== null ? { 'if-match': this.#etag } : {}),
      });
    } catch (error) {
      throw failed(describeNetworkFailure(error).reason, error);
    }
    if (response.status !== 206) {
      await response.body?.cancel();
      throw failed(
        response.status === 412
          ? 'the object changed while it was read (its ETag is no longer the one it had)'
          : response.status === 200
            ? 'the server does not serve byte ranges, which a Parquet file is read by'
            : `HTTP ${response.status}${response.status === 403 ? ' (a presigned URL that expired meanwhile?)' : ''}`,
      );
    }
    let bytes: ArrayBuffer;
    try {
      bytes = await response.arrayBuffer();
    } catch (error) {
      throw failed(describeNetworkFailure(error).reason, error);
    }
    if (bytes.byteLength !== end - start)
      throw failed(`${bytes.byteLength} bytes came back of ${end - start}`);
    return bytes;
  }
}

/** The default key of a URL import: the same object (URL without query, and version) resumes the same import. */
export function urlImportKey(
  raw: string,
  version: string,
  allowances: { maxRejectedPercent?: number | undefined; maxRemovedPercent?: number | undefined } = {},
): string {
  // The same object imported again allowing more rejected rows or removals is a new import, not the completed one
  // that removed nobody; without them, the key is what it always was.
  const allowed = [
    ...(allowances.maxRejectedPercent !== undefined ? [`max-rejected:${allowances.maxRejectedPercent}`] : []),
    ...(allowances.maxRemovedPercent !== undefined ? [`max-removed:${allowances.maxRemovedPercent}`] : []),
  ];
  const digest = createHash('sha256')
    .update([`${publicUrl(new URL(raw))}\n${version}`, ...allowed].join('\n'))
    .digest('hex');
  return `url-${digest.slice(0, 32)}`;
}

/** The format a URL's path names (`.csv`, `.json`, `.ndjson`, `.jsonl`, with or without `.gz`), else its media type. */
export function urlFormat(raw: string, contentType: string | null): FileFormat {
  const named = namedFileFormat(new URL(raw).pathname);
  if (named !== null) return named;
  if (contentType === 'text/csv') return 'csv';
  if (contentType === 'application/json') return 'json';
  return 'ndjson';
}
