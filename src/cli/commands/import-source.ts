import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import type { AsyncBuffer } from 'hyparquet';
import type { ParquetItem } from '../../profile/parquet-rows.ts';
import { CliError, EXIT } from './api-client.ts';
import { describeNetworkFailure } from '../../net/network-failure.ts';

/*
 * Where `tca import` reads its files: paths on this machine, or objects behind http(s) URLs. Cloud storage hands out
 * such URLs for one object without sharing credentials: a presigned S3 URL (`aws s3 presign`), a signed Cloud Storage
 * URL (`gcloud storage sign-url`), an Azure blob URL with a SAS token. Their query string is the credential, so a part
 * is named everywhere (messages, reports, progress) by its URL without the query.
 */

/** One file of an import: a path, standard input (`-`), or an object at an http(s) URL. */
export interface Part {
  kind: 'file' | 'stdin' | 'url';
  /** How messages and reports name it: the absolute path, `stdin`, or the URL without its query string. */
  name: string;
  /** The URL to read it from (with its query string), or null for a file or standard input. */
  url: URL | null;
  /** Its size in bytes, as stored (compressed, for gzip); null for standard input. */
  size: number | null;
  /** What changes when the object does (a file's modification time, an object's ETag): part of the default key. */
  version: string;
  /** Whether byte ranges of it can be read (Parquet is read from its footer): always for files. */
  ranges: boolean;
}

let stdinTaken = false;

const CLOUD_SCHEMES: Record<string, string> = {
  's3:': 'aws s3 presign s3://bucket/key --expires-in 3600',
  'gs:': 'gcloud storage sign-url gs://bucket/object --duration=1h',
  'az:': 'az storage blob generate-sas … --full-uri',
  'abfs:': 'az storage blob generate-sas … --full-uri',
  'abfss:': 'az storage blob generate-sas … --full-uri',
};

/** A URL without the query string and fragment (where signed URLs carry their credentials). */
export function publicName(url: URL): string {
  return `${url.origin}${url.pathname}`;
}

/**
 * The part an argument names: `-` for standard input, a file (checked readable) or an http(s) URL (asked for its
 * size).
 */
export async function resolvePart(arg: string): Promise<Part> {
  if (arg === '-') return { kind: 'stdin', name: 'stdin', url: null, size: null, version: '', ranges: false };
  const scheme = /^([a-z][a-z0-9+.-]*:)\/\//i.exec(arg)?.[1]?.toLowerCase();
  if (scheme !== undefined && scheme in CLOUD_SCHEMES)
    throw new CliError(
      `${arg} is a cloud storage address, which tca import does not read with credentials of its own: ` +
        `give it an https URL of the object, signed for reading, e.g. from \`${CLOUD_SCHEMES[scheme]}\``,
      EXIT.usage,
    );
  if (scheme === 'http:' || scheme === 'https:') return probeUrl(new URL(arg));
  const path = resolve(arg);
  let s;
  try {
    s = await stat(path);
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    const why =
      code === 'ENOENT' ? 'no such file' : code === 'EACCES' || code === 'EPERM' ? 'permission denied' : null;
    throw new CliError(why === null ? `Cannot read ${path}` : `Cannot read ${path}: ${why}`, EXIT.usage);
  }
  if (s.isDirectory())
    throw new CliError(
      `${path} is a directory, not a file: name the files in it (the parts of one export: ${join(path, 'part-*')})`,
      EXIT.usage,
    );
  return {
    kind: 'file',
    name: path,
    url: null,
    size: s.size,
    version: `${s.size}\0${s.mtimeMs}`,
    ranges: true,
  };
}

/**
 * What an answer that is not the object means, as the error to end with: a signature refused or expired (401/403),
 * no such object (404), the storage failing or throttling (5xx, 429: worth trying again).
 */
function refusal(name: string, res: Response): CliError {
  const status = `HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ''}`;
  if (res.status === 401 || res.status === 403)
    return new CliError(
      `${name} was refused (${status}): a signed URL may have expired, or been signed for another object or ` +
        'method; sign a new one for reading (GET)',
      EXIT.refused,
    );
  if (res.status === 404) return new CliError(`${name} was not found (${status})`, EXIT.notFound);
  if (res.status >= 500 || res.status === 429 || res.status === 408)
    return new CliError(`${name} could not be read (${status})`, EXIT.unavailable);
  return new CliError(`${name} could not be read (${status})`, EXIT.refused);
}

function unreachable(name: string, error: unknown): CliError {
  const failure = describeNetworkFailure(error);
  // A proxy that asks for credentials or forbids the host answers the same on every attempt: not retried.
  const settled = failure.proxyStatus === 407 || failure.proxyStatus === 403;
  return new CliError(
    failure.hint === null
      ? `${name} could not be read (${failure.reason})`
      : `${name} could not be read: ${failure.reason}. ${failure.hint}`,
    settled ? EXIT.refused : EXIT.unavailable,
  );
}

async function get(url: URL, name: string, headers: Record<string, string> = {}): Promise<Response> {
  try {
    return await fetch(url, { headers, redirect: 'follow' });
  } catch (error) {
    throw unreachable(name, error);
  }
}

/**
 * Asks for the object's first byte, with GET: a signed URL is signed for one method, so HEAD would be refused. A
 * `206` tells the size (`Content-Range`) and that ranges are served; a `200` tells the size by its length.
 */
async function probeUrl(url: URL): Promise<Part> {
  const name = publicName(url);
  const res = await get(url, name, { range: 'bytes=0-0' });
  await res.body?.cancel();
  let size: number;
  if (res.status === 206) size = Number(/\/(\d+)\s*$/.exec(res.headers.get('content-range') ?? '')?.[1]);
  else if (res.status === 200) size = Number(res.headers.get('content-length') ?? NaN);
  else if (res.status === 416) size = 0;
  else throw refusal(name, res);
  if (!Number.isSafeInteger(size))
    throw new CliError(
      `${name} was served without its size (no Content-Length or Content-Range)`,
      EXIT.refused,
    );
  const version = res.headers.get('etag') ?? res.headers.get('last-modified') ?? '';
  return { kind: 'url', name, url, size, version: `${size}\0${version}`, ranges: res.status === 206 };
}

/**
 * A part's bytes as stored, read from its start. A URL that fails or stops before its end errors the stream with an
 * `EXIT.unavailable` CliError, so an upload attempt that was reading it is tried again.
 */
export async function openPart(part: Part): Promise<Readable> {
  if (part.kind === 'stdin') {
    // Standard input is read once: an attempt after the first has nothing left to send.
    if (stdinTaken) throw new CliError('Standard input was read already', EXIT.usage);
    stdinTaken = true;
    return process.stdin;
  }
  if (part.url === null) return createReadStream(part.name);
  const res = await get(part.url, part.name);
  if (res.status !== 200 || res.body === null) {
    await res.body?.cancel();
    throw refusal(part.name, res);
  }
  const body = Readable.fromWeb(res.body as WebReadableStream<Uint8Array>);
  return Readable.from(
    (async function* () {
      let read = 0;
      try {
        for await (const chunk of body as AsyncIterable<Buffer>) {
          read += chunk.length;
          yield chunk;
        }
      } catch (error) {
        throw unreachable(part.name, error);
      }
      if (part.size !== null && read < part.size)
        throw new CliError(`${part.name} ended after ${read} of its ${part.size} bytes`, EXIT.unavailable);
    })(),
    { objectMode: false },
  );
}

/** An object at a URL read by byte ranges, counting the bytes read. */
class UrlBuffer implements AsyncBuffer {
  constructor(
    private readonly part: Part & { url: URL; size: number },
    private readonly progress: { bytesRead: number },
  ) {}

  get byteLength(): number {
    return this.part.size;
  }

  async slice(start: number, end = this.part.size): Promise<ArrayBuffer> {
    if (end <= start) return new ArrayBuffer(0);
    const res = await get(this.part.url, this.part.name, { range: `bytes=${start}-${end - 1}` });
    if (res.status !== 206) {
      await res.body?.cancel();
      throw res.status === 200
        ? new CliError(`${this.part.name} stopped serving byte ranges`, EXIT.unavailable)
        : refusal(this.part.name, res);
    }
    let bytes: ArrayBuffer;
    try {
      bytes = await res.arrayBuffer();
    } catch (error) {
      throw unreachable(this.part.name, error);
    }
    if (bytes.byteLength !== end - start)
      throw new CliError(`${this.part.name} answered a byte range short`, EXIT.unavailable);
    this.progress.bytesRead += bytes.byteLength;
    return bytes;
  }
}

/** The rows of a Parquet part, a file or an object read by byte ranges; `progress` counts the bytes read. */
export async function* readParquetPart(
  part: Part,
  progress: { bytesRead: number } = { bytesRead: 0 },
): AsyncGenerator<ParquetItem> {
  const { readParquetFile, readParquetRows } = await import('../../profile/index.ts');
  if (part.url === null || part.size === null) yield* readParquetFile(part.name, progress);
  else
    yield* readParquetRows(
      new UrlBuffer({ ...part, url: part.url, size: part.size }, progress),
      part.name,
      (error) => error instanceof CliError,
    );
}
