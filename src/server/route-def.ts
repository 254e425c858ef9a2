import type { z } from 'zod';
import type { Permission } from './permissions.ts';
import type { ServiceBackend } from './backend.ts';

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/** Who is calling: resolved from the Bearer token. */
export interface Principal {
  tokenId: string;
  name: string;
  sandboxId: string;
  sandbox: string;
  permissions: readonly Permission[];
}

export interface HandlerContext<P, Q, B> {
  params: P;
  query: Q;
  body: B;
  principal: Principal;
  backend: ServiceBackend;
  /** The raw request body, for routes that parse their own format (`rawBody: true`). */
  rawBody: string;
  /**
   * The request body as it arrives, unread, for routes that stream it (`streamBody`); null elsewhere. Its declared
   * length (Content-Length) is `bodyLength`, null when the client sent it chunked.
   */
  bodyStream: AsyncIterable<Uint8Array> | null;
  bodyLength: number | null;
  headers: Headers;
  /** Lets a handler pick the response status when the route allows several (e.g. 200 vs 202). */
  setStatus(status: number): void;
  /**
   * Says the request changed nothing (a PATCH of what is stored already): it answers as usual, but no audit event is
   * recorded, since the trail lists changes.
   */
  unchanged(): void;
}

/** One line of the route table. */
export interface Route {
  method: HttpMethod;
  path: string;
  /** Every listed permission is required; an empty list means any valid token. */
  permissions: readonly Permission[];
  summary: string;
  tag: string;
  params?: z.ZodType;
  query?: z.ZodType;
  body?: z.ZodType;
  /** The handler reads the body itself (ingest: JSON, JSON array or NDJSON). `body` then only documents it. */
  rawBody?: { contentTypes: string[] };
  /**
   * The handler streams the body (file uploads of any size): it is neither read nor buffered, and no body-size limit
   * applies. `description` documents it per content type.
   */
  streamBody?: { contentTypes: Record<string, string> };
  /** Request headers the handler reads (documented in the OpenAPI document; the handler checks them). */
  headers?: Record<string, string>;
  /**
   * The route runs a file import: at most TCA_MAX_CONCURRENT_IMPORTS run at once in the process, and a request beyond
   * them waits its turn before its body is read.
   */
  importSlot?: boolean;
  status: number;
  /** Other success statuses the handler may pick (`setStatus`), with when: the same response schema. */
  otherStatuses?: Record<number, string>;
  /**
   * Error statuses of this route beyond those every route may answer (400, 401, 403, 404, …), with their codes and
   * when, e.g. `{ 409: '`conflict`: the destination is in use' }`: documented with the error schema.
   */
  errors?: Record<number, string>;
  response: z.ZodType | null;
  /**
   * A change through this route goes to the audit trail (the default for POST, PUT, PATCH and DELETE); false for
   * the data plane (profile streams), which runs and metrics count instead.
   */
  audit?: boolean;
  handler: (ctx: HandlerContext<unknown, unknown, unknown>) => Promise<unknown>;
}

/** Builds a route-table line with the handler typed from its schemas. */
export function route<
  P extends z.ZodType = z.ZodType<Record<string, never>>,
  Q extends z.ZodType = z.ZodType<Record<string, never>>,
  B extends z.ZodType = z.ZodType<undefined>,
  R extends z.ZodType | null = null,
>(def: {
  method: HttpMethod;
  path: string;
  permissions: readonly Permission[];
  summary: string;
  tag: string;
  params?: P;
  query?: Q;
  body?: B;
  rawBody?: { contentTypes: string[] };
  streamBody?: { contentTypes: Record<string, string> };
  headers?: Record<string, string>;
  importSlot?: boolean;
  status: number;
  otherStatuses?: Record<number, string>;
  errors?: Record<number, string>;
  response: R;
  audit?: boolean;
  handler: (
    ctx: HandlerContext<z.output<P>, z.output<Q>, z.output<B>>,
  ) => Promise<R extends z.ZodType ? z.input<R> : void>;
}): Route {
  return def as unknown as Route;
}

/**
 * What a route does in a few words, for the audit trail: its summary up to the first stop, colon or parenthesis.
 *
 * @example
 * auditAction('Change a destination (new credentials re-verify it)'); // 'Change a destination'
 */
export function auditAction(summary: string): string {
  const head = summary.split(/[.:;(]/, 1)[0]!.trim();
  return head.length > 100 ? `${head.slice(0, 99)}…` : head;
}

/**
 * The media type of a Content-Type header, lower case and without parameters (`''` when absent).
 *
 * @example
 * mediaType('Text/CSV; charset=utf-8'); // 'text/csv'
 */
export function mediaType(contentType: string | null | undefined): string {
  return (contentType ?? '').split(';')[0]!.trim().toLowerCase();
}
