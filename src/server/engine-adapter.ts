import type { Store } from '../store/index.ts';
import type { Engine, ImportReport, ImportView as EngineImportView } from '../engine/index.ts';
import type { EnginePort } from './ports.ts';
import type { DeadLetterView, ImportInput, ImportReportView, ImportView } from './backend.ts';
import type { ServiceMetrics } from './metrics.ts';
import type { Logger } from './logger.ts';
import { EngineError } from '../engine/index.ts';
import { ApiError, badRequest, type ErrorDetail } from './api-error.ts';
import { evaluateIngestBody } from './ingest-evaluate.ts';
import { finishedFlushStatus } from './flush-summary.ts';
import { IngestWorkers } from './ingest-workers.ts';

/** An engine import report without the engine's own counters. */
function reportView({ ledgerWrites: _writes, thisCall: _call, ...view }: ImportReport): ImportReportView {
  return view;
}

/** A `too_soon` EngineError as an API error whose `Retry-After` says when to try again (at least 1 s). */
function retryLater(error: EngineError, status: number, code: string): ApiError {
  const seconds = Math.max(1, Math.ceil(((error.retryAt ?? Date.now()) - Date.now()) / 1000));
  return new ApiError({
    status,
    code,
    message: error.message,
    details: error.details,
    headers: { 'retry-after': String(seconds) },
  });
}

/** The engine's options of an import, from the API's. */
function importOptions(sandboxId: string, input: Omit<ImportInput, 'bytes' | 'totalBytes' | 'format'>) {
  return {
    sandboxId,
    mode: input.mode,
    ...(input.segmentId !== undefined ? { segmentId: input.segmentId } : {}),
    ...(input.keyNamespace !== undefined ? { csvKeyNamespace: input.keyNamespace } : {}),
    ...(input.maxRejectedPercent !== undefined ? { maxRejectedShare: input.maxRejectedPercent / 100 } : {}),
    ...(input.maxRemovedPercent !== undefined ? { maxRemovedShare: input.maxRemovedPercent / 100 } : {}),
    ...(input.key !== undefined ? { key: input.key } : {}),
  };
}

function importView(view: EngineImportView): ImportView {
  const iso = (ms: number) => new Date(ms).toISOString();
  return {
    ...view,
    report: reportView(view.report),
    createdAt: iso(view.createdAt),
    updatedAt: iso(view.updatedAt),
    finishedAt: view.finishedAt === null ? null : iso(view.finishedAt),
  };
}

/**
 * The engine as the API sees it. Pending counts are read from the engine's ledger here because the engine exposes no
 * query for them; everything else goes through the engine's own functions.
 */
export function createEngineAdapter(options: {
  engine: Engine;
  store: Store;
  metrics?: ServiceMetrics;
  /** Worker threads that evaluate ingest bodies; 0 evaluates them on the main thread. */
  ingestThreads?: number;
  /** Where deliveries that go on after a request stopped waiting report unexpected failures. */
  logger?: Pick<Logger, 'error'>;
}): EnginePort {
  const { engine, store, metrics, logger } = options;
  /** Deliveries that go on after their request stopped waiting. */
  const background = new Set<Promise<void>>();
  const workers =
    (options.ingestThreads ?? 0) > 0
      ? new IngestWorkers({ size: options.ingestThreads!, profileKey: store.secrets.profileKeyMaterial() })
      : null;
  type Context = Awaited<ReturnType<Engine['evaluationContext']>>;
  // Mappings change rarely; a stale one is caught by the engine's fingerprint check, which drops it from here.
  const contexts = new Map<string, Promise<Context>>();
  const contextOf = (sandboxId: string) => {
    let context = contexts.get(sandboxId);
    if (!context) {
      context = engine.evaluationContext(sandboxId);
      contexts.set(sandboxId, context);
      context.catch(() => contexts.delete(sandboxId));
    }
    return context;
  };

  /** Runs an import and counts it; the engine's refusals become API errors (400, 409). */
  const runImport = async (run: () => Promise<ImportReport>): Promise<ImportReportView> => {
    try {
      const report = await run();
      if (metrics) {
        // This call's rows only: a resumed import's report also counts the attempts before.
        metrics.ingestedProfiles.inc({ outcome: 'accepted' }, report.thisCall.accepted);
        for (const [reason, n] of Object.entries(report.thisCall.excluded))
          metrics.identitiesExcluded.inc({ reason }, n);
      }
      return reportView(report);
    } catch (error) {
      if (
        error instanceof EngineError &&
        ['invalid_file', 'invalid_input', 'source_failed'].includes(error.code)
      ) {
        throw badRequest(
          error.message,
          error.details.length > 0 ? error.details : [{ path: '$', reason: error.message }],
          error.code === 'source_failed' ? 'upload_incomplete' : error.code,
        );
      }
      // A live attempt under the key: the client may try again once it has ended, or gone silent.
      if (error instanceof EngineError && error.code === 'too_soon')
        throw retryLater(error, 409, 'import_running');
      // Another file, or other options under the key.
      if (error instanceof EngineError && error.code === 'conflict')
        throw new ApiError({
          status: 409,
          code: 'import_conflict',
          message: error.message,
          details: error.details,
        });
      throw error;
    }
  };

  return {
    async ingestBody(sandboxId, body, requestId, digest) {
      for (let attempt = 1; ; attempt += 1) {
        const context = await contextOf(sandboxId);
        const evaluated = workers
          ? await workers.evaluate(body, context)
          : evaluateIngestBody(body, context, (namespace, id) => store.profileKeyHash(namespace, id));
        if (evaluated.evaluations.length === 0) {
          throw badRequest(
            `Every profile was rejected (${evaluated.received})`,
            evaluated.rejected.slice(0, 1000).map((r): ErrorDetail => ({
              path: `[${r.index}]${r.path.replace(/^\$/, '')}`,
              reason: r.line === undefined ? r.reason : `line ${r.line}: ${r.reason}`,
            })),
            'validation_failed',
          );
        }
        let r;
        try {
          r = await engine.ingest([], {
            sandboxId,
            requestId,
            ...(digest === undefined ? {} : { requestDigest: digest }),
            evaluated: { evaluations: evaluated.evaluations, fingerprint: context.fingerprint },
          });
        } catch (error) {
          if (error instanceof EngineError && error.code === 'context_changed' && attempt < 3) {
            contexts.delete(sandboxId);
            continue;
          }
          // A body's own digest names requests sent without a key: only a reused key meets another body.
          if (error instanceof EngineError && error.code === 'conflict')
            throw new ApiError({
              status: 409,
              code: 'idempotency_conflict',
              message:
                `Idempotency-Key "${requestId}" was used before with another body, which was not stored: send new ` +
                'profiles under a new key (or without one); a retry sends the same body as the first time',
              details: [{ path: 'idempotency-key', reason: 'used before with another body' }],
            });
          throw error;
        }
        if (metrics && !r.duplicate) {
          metrics.ingestedProfiles.inc({ outcome: 'accepted' }, r.accepted);
          for (const [reason, n] of Object.entries(r.excluded)) metrics.identitiesExcluded.inc({ reason }, n);
        }
        if (metrics && r.duplicate) metrics.ingestedProfiles.inc({ outcome: 'duplicate' }, r.received);
        return {
          received: evaluated.received,
          accepted: r.accepted,
          duplicate: r.duplicate,
          rejected: evaluated.rejected,
          extra: { excluded: r.excluded },
        };
      }
    },
    importStream: (sandboxId, input) =>
      runImport(() =>
        engine.importStream(input.bytes, {
          ...importOptions(sandboxId, input),
          format: input.format,
          totalBytes: input.totalBytes,
          ...(input.name === undefined ? {} : { name: input.name }),
        }),
      ),
    importRanges: (sandboxId, input) =>
      runImport(() =>
        engine.importRanges(input.buffer, {
          ...importOptions(sandboxId, input),
          format: 'parquet',
          name: input.name,
        }),
      ),
    async imports(sandboxId, limit) {
      return (await engine.imports(sandboxId, { limit })).map(importView);
    },
    async importStatus(sandboxId, key) {
      try {
        return importView(await engine.importStatus(sandboxId, key));
      } catch (error) {
        if (error instanceof EngineError && error.code === 'not_found') return undefined;
        throw error;
      }
    },
    async erase(sandboxId, identities) {
      try {
        return await engine.erase(sandboxId, identities);
      } catch (error) {
        if (error instanceof EngineError && error.code === 'invalid_input')
          throw badRequest(error.message, error.details, 'validation_failed');
        throw error;
      }
    },
    async activateNow(sandboxId, audienceId) {
      try {
        const r = await engine.activateNow(sandboxId, audienceId);
        return { ...r, nextAllowedAt: new Date(r.nextAllowedAt).toISOString() };
      } catch (error) {
        if (error instanceof EngineError && error.code === 'not_found') return undefined;
        if (error instanceof EngineError && error.code === 'too_soon')
          throw retryLater(error, 429, 'too_soon');
        throw error;
      }
    },
    profileKeys: (sandboxId) => engine.profileKeySettings(sandboxId),
    async setProfileKeys(sandboxId, namespaces, options) {
      try {
        return await engine.setProfileKeyNamespaces(
          sandboxId,
          namespaces,
          options.rekey === undefined ? {} : { rekey: options.rekey },
        );
      } catch (error) {
        if (error instanceof EngineError && (error.code === 'conflict' || error.code === 'rekey_in_progress'))
          throw new ApiError({
            status: 409,
            code: error.code === 'conflict' ? 'profile_keys_fixed' : 'rekey_in_progress',
            // The engine's message ends with its hint already.
            message: error.message,
            details: error.details,
          });
        if (error instanceof EngineError && error.code === 'invalid_input')
          throw badRequest(error.message, error.details, 'validation_failed');
        throw error;
      }
    },
    async finishProfileRekey(sandboxId, options) {
      try {
        return await engine.finishProfileRekey(sandboxId, options);
      } catch (error) {
        if (error instanceof EngineError && error.code === 'not_found')
          throw new ApiError({
            status: 409,
            code: 'no_rekey',
            message: error.message,
            details: [{ path: 'rekey', reason: 'no re-keying in progress' }],
          });
        throw error;
      }
    },
    consentPolicies: async (sandboxId) => ({ policies: await engine.consentPolicies(sandboxId) }),
    async setConsentPolicies(sandboxId, policies) {
      try {
        return { policies: await engine.setConsentPolicies(sandboxId, policies) };
      } catch (error) {
        if (error instanceof EngineError && error.code === 'invalid_input')
          throw badRequest(error.message, error.details, 'validation_failed');
        throw error;
      }
    },
    async consentPreview(sandboxId, destinationId, segmentIds, mapping) {
      try {
        return await engine.consentPreview(sandboxId, destinationId, segmentIds, mapping);
      } catch (error) {
        if (error instanceof EngineError && error.code === 'not_found') return undefined;
        throw error;
      }
    },
    async reevaluate(scope) {
      await engine.reevaluate(scope);
    },
    close: async () => {
      // Deliveries a request stopped waiting for finish before the store closes (on the API role no worker drains them).
      await Promise.all(background);
      await workers?.close();
    },
    async plan(sandboxId, dataflowId) {
      const plan = await engine.plan(dataflowId, { sandboxId });
      const at = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
      return {
        ...plan,
        audiences: plan.audiences.map((a) => ({ ...a, nextDeliveryAt: at(a.nextDeliveryAt) })),
        totals: { ...plan.totals, nextDeliveryAt: at(plan.totals.nextDeliveryAt) },
      };
    },
    async runs(_sandboxId, dataflowId, range) {
      const r: { from?: number; to?: number } = {};
      if (range.from) r.from = range.from.getTime();
      if (range.to) r.to = range.to.getTime();
      const runs = await engine.runs(dataflowId, r);
      return runs.map((run) => ({ ...run, runStart: new Date(run.startedAt).toISOString() }));
    },
    runTotals: (dataflowIds, window) => engine.runTotals(dataflowIds, window),
    lastReceivedAt: (dataflowIds, since) => engine.lastReceivedAt(dataflowIds, since),
    async flush(sandboxId, dataflowId, { waitMs }) {
      // Given the wait, a rate limit that resets within it is waited out rather than answered as `incomplete`.
      const started = await engine.startFlush({ sandboxId, dataflowId }, { waitMs });
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<null>((resolve) => {
        timer = setTimeout(() => resolve(null), waitMs);
      });
      try {
        const r = await Promise.race([started.done, timeout]);
        if (r !== null)
          return { status: finishedFlushStatus(r.audiences), audiences: r.audiences, skipped: r.skipped };
      } finally {
        clearTimeout(timer);
      }
      // Still delivering: the passes go on here; one that fails records its error on its audience, as the worker's do.
      const settled = started.done.then(
        () => undefined,
        (error: unknown) => logger?.error({ dataflowId, error: String(error) }, 'background delivery failed'),
      );
      background.add(settled);
      void settled.finally(() => background.delete(settled));
      return { status: 'delivering', audienceIds: started.audienceIds };
    },
    resumeCheckedDestination: (sandboxId, destinationId, checkedUpdatedAt) =>
      engine.resumeCheckedDestination({ sandboxId, destinationId, checkedUpdatedAt }),
    pendingTotals: () => engine.pendingTotals(),
    outlook: (_sandboxId, audienceIds) => engine.deliveryOutlook(audienceIds),
    async deadLetters(sandboxId, filter) {
      const letters = await engine.deadLetters(sandboxId, filter);
      return letters.map((d): DeadLetterView => {
        const user: Record<string, string[]> = {};
        for (const op of d.operations)
          for (const [k, v] of Object.entries(op.user)) user[k] = [...(user[k] ?? []), ...v];
        return {
          id: d.id,
          dataflowId: d.dataflowId,
          audienceId: d.audienceId,
          operation: d.operations.map((o) => o.operation).join('+') || 'unknown',
          user,
          error: `${d.errorCode}: ${d.errorMessage}`,
          createdAt: new Date(d.createdAt).toISOString(),
          replayedAt: d.replayedAt === null ? null : new Date(d.replayedAt).toISOString(),
        };
      });
    },
    async replayDeadLetters(sandboxId, selection) {
      try {
        return await engine.replayDeadLetters(sandboxId, selection);
      } catch (error) {
        // Ids the sandbox never had: nothing was replayed.
        if (error instanceof EngineError && error.code === 'not_found')
          throw new ApiError({
            status: 404,
            code: 'not_found',
            message: error.message,
            details: error.details,
          });
        throw error;
      }
    },
    startWorker: () => engine.startWorker(),
  };
}
