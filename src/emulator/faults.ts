import { z } from 'zod';
import { defaultFaultBody as defaultBody } from './x-errors.ts';

/** One scripted fault: what it matches, how many times it fires, and what it does. */
export const scriptedFaultSchema = z.object({
  /** HTTP method to match (any when absent). */
  method: z.string().optional(),
  /** Regular expression (source) tested against the request path (any when absent). */
  path: z.string().optional(),
  /** How many matching requests the fault applies to; default 1. */
  times: z.number().int().positive().default(1),
  /** Matching requests to let through before the fault starts firing; default 0. */
  after: z.number().int().nonnegative().default(0),
  /** Status of the injected response; absent with `drop`, `delayMs` or `countMismatch` alone. */
  status: z.number().int().min(100).max(599).optional(),
  headers: z.record(z.string(), z.string()).optional(),
  /** A string is sent as is (HTML when it starts with `<`), anything else as JSON. Absent: X's envelope. */
  body: z.unknown().optional(),
  /** Drop the connection instead of answering (a network error for the client). */
  drop: z.boolean().optional(),
  /** Hold the response this long (combined with a status, or delaying the real response). */
  delayMs: z.number().int().nonnegative().optional(),
  /** Process the users request but report success_count/total_count one lower than sent. */
  countMismatch: z.boolean().optional(),
});

/** Probabilities per request of a random fault (each 0..1). */
export const faultRatesSchema = z.object({
  /** 500 INTERNAL_ERROR or 503 SERVICE_UNAVAILABLE (half with retry-after). */
  serverError: z.number().min(0).max(1).optional(),
  /** 429 TOO_MANY_REQUESTS with a reset one second ahead. */
  rateLimited: z.number().min(0).max(1).optional(),
  /** Delay the response by `latencyMs`. */
  latency: z.number().min(0).max(1).optional(),
  latencyMs: z.number().int().nonnegative().optional(),
  /** Users endpoint only: report a count one lower than sent. */
  countMismatch: z.number().min(0).max(1).optional(),
});

export const faultsRequestSchema = z.object({
  faults: z.array(scriptedFaultSchema).default([]),
  rates: faultRatesSchema.optional(),
});

export type ScriptedFault = z.input<typeof scriptedFaultSchema>;
export type FaultRates = z.infer<typeof faultRatesSchema>;
export type FaultsRequest = z.input<typeof faultsRequestSchema>;

interface ActiveFault {
  spec: z.output<typeof scriptedFaultSchema>;
  pattern: RegExp | null;
  seen: number;
  fired: number;
}

/** What to do with one request. */
export interface FaultDecision {
  drop: boolean;
  delayMs: number;
  countMismatch: boolean;
  /** An injected response; the request is not handled when present. */
  response: { status: number; headers: Record<string, string>; body: string | null } | null;
  label: string | null;
}

const NONE: FaultDecision = { drop: false, delayMs: 0, countMismatch: false, response: null, label: null };

export class FaultInjector {
  #faults: ActiveFault[] = [];
  #rates: FaultRates = {};

  /** Adds scripted faults (after those already queued) and merges the random rates. */
  add(request: z.output<typeof faultsRequestSchema>): void {
    for (const spec of request.faults) {
      this.#faults.push({
        spec,
        pattern: spec.path === undefined ? null : new RegExp(spec.path),
        seen: 0,
        fired: 0,
      });
    }
    if (request.rates) this.#rates = { ...this.#rates, ...request.rates };
  }

  clear(): void {
    this.#faults = [];
    this.#rates = {};
  }

  /** Scripted faults still queued and the random rates, for the admin API. */
  describe(): { faults: Array<Record<string, unknown>>; rates: FaultRates } {
    return {
      faults: this.#faults.map((f) => ({ ...f.spec, remaining: f.spec.times - f.fired })),
      rates: { ...this.#rates },
    };
  }

  /**
   * Decides the fault for a request: the first scripted fault that matches and has firings left, else
   * the random rates drawn with `random`.
   */
  decide(
    method: string,
    path: string,
    isUsersEndpoint: boolean,
    random: () => number,
    nowSeconds: number,
  ): FaultDecision {
    for (const fault of this.#faults) {
      const { spec } = fault;
      if (spec.method !== undefined && spec.method.toUpperCase() !== method.toUpperCase()) continue;
      if (fault.pattern !== null && !fault.pattern.test(path)) continue;
      fault.seen += 1;
      if (fault.seen <= spec.after) continue;
      fault.fired += 1;
      if (fault.fired >= spec.times) this.#faults = this.#faults.filter((f) => f !== fault);
      return scripted(spec, nowSeconds);
    }
    return this.#random(isUsersEndpoint, random, nowSeconds);
  }

  #random(isUsersEndpoint: boolean, random: () => number, nowSeconds: number): FaultDecision {
    const rates = this.#rates;
    const decision: FaultDecision = { ...NONE };
    if (rates.latency && random() < rates.latency) {
      decision.delayMs = rates.latencyMs ?? 1000;
      decision.label = 'latency';
    }
    if (rates.serverError && random() < rates.serverError) {
      const unavailable = random() < 0.5;
      const status = unavailable ? 503 : 500;
      const headers: Record<string, string> = unavailable && random() < 0.5 ? { 'retry-after': '1' } : {};
      return {
        ...decision,
        response: { status, headers, body: defaultBody(status) },
        label: `random ${status}`,
      };
    }
    if (rates.rateLimited && random() < rates.rateLimited) {
      return {
        ...decision,
        response: { status: 429, headers: limitHeaders(nowSeconds + 1), body: defaultBody(429) },
        label: 'random 429',
      };
    }
    if (isUsersEndpoint && rates.countMismatch && random() < rates.countMismatch) {
      return { ...decision, countMismatch: true, label: 'random count mismatch' };
    }
    return decision;
  }
}

function limitHeaders(resetSeconds: number): Record<string, string> {
  return {
    'x-rate-limit-limit': '1500',
    'x-rate-limit-remaining': '0',
    'x-rate-limit-reset': String(resetSeconds),
  };
}

function scripted(spec: z.output<typeof scriptedFaultSchema>, nowSeconds: number): FaultDecision {
  const decision: FaultDecision = {
    drop: spec.drop ?? false,
    delayMs: spec.delayMs ?? 0,
    countMismatch: spec.countMismatch ?? false,
    response: null,
    label: spec.drop ? 'drop' : spec.status !== undefined ? `scripted ${spec.status}` : 'scripted',
  };
  if (spec.status !== undefined) {
    const headers: Record<string, string> = spec.status === 429 ? limitHeaders(nowSeconds + 1) : {};
    let body: string | null;
    if (spec.body === undefined) body = defaultBody(spec.status);
    else if (typeof spec.body === 'string') body = spec.body;
    else body = JSON.stringify(spec.body);
    if (body !== null) {
      headers['content-type'] =
        typeof spec.body === 'string' && spec.body.trimStart().startsWith('<')
          ? 'text/html; charset=utf-8'
          : typeof spec.body === 'string'
            ? 'text/plain; charset=utf-8'
            : 'application/json; charset=utf-8';
    }
    decision.response = { status: spec.status, headers: { ...headers, ...spec.headers }, body };
  }
  return decision;
}
