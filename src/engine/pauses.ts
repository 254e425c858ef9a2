import type { Destination, StoreTransaction } from '../store/index.ts';
import type { XAdsError } from '../xads/errors.ts';
import { EngineError } from './errors.ts';
import type { EngineRuntime } from './runtime.ts';

/**
 * What the operator must do, by error kind and X code. X's hint is added only where the sentence here is generic (a
 * 403 with another code): where this one already names the cause and the fix, the hint would say it a second time.
 */
export function pauseMessage(error: XAdsError): { code: string; message: string } {
  const code = error.xCode ?? (error.kind === 'auth' ? 'UNAUTHORIZED_ACCESS' : 'FORBIDDEN');
  // No clock among the causes of a 401: the client signs again with X's time when X refuses the timestamp.
  // A 401 without an HTTP status is ours: the destination has no access token to sign with, so nothing reached X.
  if (error.kind === 'auth' && error.status === undefined)
    return {
      code: 'MISSING_CREDENTIALS',
      message:
        'The destination has no X access token, so nothing can be sent to X. Log in with X for this destination (tca destinations login, or Log in with X in the console) or set its credentials; delivery resumes once the destination verifies. (MISSING_CREDENTIALS)',
    };
  const specific =
    error.kind === 'auth'
      ? "X refused the credentials (401): the access token was revoked, the user changed their password, or the app's keys were regenerated or belong to another app. Log in again for this destination (PIN flow) or update its credentials; delivery resumes once the destination verifies."
      : code === 'UNAUTHORIZED_CLIENT_APPLICATION'
        ? "The X app may not use the Ads API or its Audience API (custom audiences) (403). Have X grant the app that access (Ads API access with Custom Audiences, requested in X's developer portal), then verify the destination; or update it with the credentials of an app that has it. Delivery resumes once the destination verifies."
        : code === 'ACCOUNT_NOT_FOUND'
          ? 'The ads account is not accessible to this user (403). Have an account administrator give the user access at ads.x.com, then verify the destination; or update it if the account id or credentials were wrong. Delivery resumes once the destination verifies.'
          : undefined;
  if (specific !== undefined) return { code, message: `${specific} (${code})` };
  const fix =
    'X refused the action (403). Fix the access at X (give the user the Partner Audience Manager permission on the ads account at ads.x.com, or fix the app access), then verify the destination; or update it if the credentials change. Delivery resumes once the destination verifies.';
  return { code, message: `${fix} (${code}${error.hint ? `: ${error.hint}` : ''})` };
}

/**
 * Pauses a dataflow after a 401/403: every pending change is kept, the status says what to fix, and the worker
 * resumes it when the destination is updated and verifies.
 */
export async function pauseDataflow(
  rt: EngineRuntime,
  input: { dataflowId: string; destination: Destination; error: XAdsError },
): Promise<void> {
  const now = rt.now();
  const { code, message } = pauseMessage(input.error);
  await rt.store.transaction(async (tx) => {
    await tx.db
      .insertInto('engine_dataflow_pauses')
      .values({
        dataflow_id: input.dataflowId,
        reason_code: code,
        message,
        paused_at: now,
        destination_updated_at: input.destination.updatedAt,
        last_verify_at: null,
      })
      .onConflict((oc) =>
        oc
          .column('dataflow_id')
          .doUpdateSet({ reason_code: code, message, destination_updated_at: input.destination.updatedAt }),
      )
      .execute();
    await tx.db
      .updateTable('dataflows')
      .set({ status: 'paused', status_reason: message, updated_at: now })
      .where('id', '=', input.dataflowId)
      .where('status', '=', 'active')
      .execute();
    // The connection says so too. Its `updated_at` stays: a change to it after the pause is what resumes.
    await tx.db
      .updateTable('destinations')
      .set({ status: input.error.kind === 'auth' ? 'unauthorized' : 'error', status_reason: message })
      .where('id', '=', input.destination.id)
      .execute();
  });
  rt.logger.warn({ dataflowId: input.dataflowId, code }, 'dataflow paused');
}

/**
 * After a delivery X accepted through `destination`: the status an engine pause gave it (`unauthorized`/`error`, with
 * a pause's message as its reason) no longer holds, since the connection works (access fixed at X, the dataflow resumed
 * by hand), so the destination is `active` again, as a passing verify would make it. Left as it is while a dataflow
 * of the destination is still paused on X's refusal (a verify resumes it), or when the status came from elsewhere (a
 * failed verify: its checks, not one delivery, say what is wrong). A destination already fine costs no query: the
 * caller passes the destination it read for the delivery. True when it was made active.
 */
export async function clearDestinationPause(rt: EngineRuntime, destination: Destination): Promise<boolean> {
  if (destination.status !== 'error' && destination.status !== 'unauthorized') return false;
  const reason = destination.statusReason;
  if (reason === null) return false;
  const cleared = await rt.store.transaction(async (tx) => {
    const pauses = await tx.db
      .selectFrom('engine_dataflow_pauses as p')
      .innerJoin('dataflows as f', 'f.id', 'p.dataflow_id')
      .select(['p.dataflow_id as dataflowId', 'p.message as message', 'f.status as status'])
      .where('f.sandbox_id', '=', destination.sandboxId)
      .where('f.destination_id', '=', destination.id)
      .execute();
    if (pauses.some((p) => p.status === 'paused') || !pauses.some((p) => p.message === reason)) return false;
    const updated = await tx.db
      .updateTable('destinations')
      .set({ status: 'active', status_reason: null })
      .where('id', '=', destination.id)
      .where('status', '=', destination.status)
      .where('status_reason', '=', reason)
      .executeTakeFirst();
    if (Number(updated.numUpdatedRows) !== 1) return false;
    // Their dataflows deliver again (resumed by hand): nothing left to resume, only the pauses to forget.
    for (const pause of pauses)
      await tx.db.deleteFrom('engine_dataflow_pauses').where('dataflow_id', '=', pause.dataflowId).execute();
    return true;
  });
  if (cleared)
    rt.logger.info(
      { destinationId: destination.id },
      'destination active again: X accepted a delivery after the pause',
    );
  return cleared;
}

/**
 * Stops a dataflow X will not serve as it stands: an audience name X refuses, or a create, rename or delete X answers
 * with a 400 (the same request would be refused again). Status `failed` with what to fix (the `dataflow_failed` alert
 * says it); every pending change is kept, and delivery resumes when the user sets the dataflow `active` again. False
 * when the dataflow was not active (a user paused or deleted it), which is left as it is.
 */
export async function failDataflow(
  rt: EngineRuntime,
  input: { dataflowId: string; audienceId: string; message: string },
): Promise<boolean> {
  const now = rt.now();
  const stopped = await rt.store.transaction(async (tx) => {
    await tx.db
      .updateTable('engine_audiences')
      .set({ last_error: input.message, updated_at: now })
      .where('id', '=', input.audienceId)
      .execute();
    const result = await tx.db
      .updateTable('dataflows')
      .set({ status: 'failed', status_reason: input.message, updated_at: now })
      .where('id', '=', input.dataflowId)
      .where('status', '=', 'active')
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  });
  rt.logger.warn(
    { dataflowId: input.dataflowId, audienceId: input.audienceId, error: input.message },
    'dataflow failed',
  );
  return stopped;
}

/**
 * Resumes dataflows the engine paused whose destination changed since (new credentials, say) and now verifies.
 * Returns the ids resumed.
 */
export async function resumeVerified(rt: EngineRuntime): Promise<string[]> {
  const pauses = await rt.store.db.selectFrom('engine_dataflow_pauses').selectAll().execute();
  const resumed: string[] = [];
  for (const pause of pauses) {
    const flow = await rt.store.db
      .selectFrom('dataflows')
      .selectAll()
      .where('id', '=', pause.dataflow_id)
      .executeTakeFirst();
    if (!flow || flow.status === 'deleted') {
      await rt.store.db
        .deleteFrom('engine_dataflow_pauses')
        .where('dataflow_id', '=', pause.dataflow_id)
        .execute();
      continue;
    }
    const destination = await rt.store.destinations.get(flow.sandbox_id, flow.destination_id);
    if (!destination || destination.updatedAt <= pause.destination_updated_at) continue;
    const now = rt.now();
    try {
      const client = await rt.clientFor(destination);
      const result = await client.verify(destination.accountId);
      if (!result.ok) throw new EngineError('delivery_failed', 'the destination does not pass verification');
    } catch (error) {
      await rt.store.db
        .updateTable('engine_dataflow_pauses')
        .set({ last_verify_at: now, destination_updated_at: destination.updatedAt })
        .where('dataflow_id', '=', pause.dataflow_id)
        .execute();
      rt.logger.warn(
        { dataflowId: pause.dataflow_id, error: String(error) },
        'destination still does not verify',
      );
      continue;
    }
    await rt.store.transaction((tx) => resumeDataflow(tx, pause.dataflow_id, destination.id, now));
    resumed.push(pause.dataflow_id);
    rt.logger.info({ dataflowId: pause.dataflow_id }, 'dataflow resumed');
  }
  return resumed;
}

/**
 * Resumes at once the dataflows the engine paused on a destination that has just passed its checks (`POST …/verify`,
 * a login, an update that ran the preflight), so the answer to that request already finds them active; the worker's
 * `resumeVerified` is left for the cases no such request saw (a destination changed by another process, say).
 *
 * `checkedUpdatedAt` is the destination's `updatedAt` when the checks ran: only pauses recorded with that state of
 * the connection or an earlier one are lifted. A delivery that read the destination after a new connection was saved
 * and still got a 401 records a later state, and waits for the worker. One transaction, read and write, so processes
 * sharing a PostgreSQL store see the pause lifted entirely or not at all. Returns the ids resumed, in id order.
 */
export async function resumeCheckedDestination(
  rt: EngineRuntime,
  input: { sandboxId: string; destinationId: string; checkedUpdatedAt: number },
): Promise<string[]> {
  const now = rt.now();
  const resumed = await rt.store.transaction(async (tx) => {
    const pauses = await tx.db
      .selectFrom('engine_dataflow_pauses as p')
      .innerJoin('dataflows as f', 'f.id', 'p.dataflow_id')
      .select(['p.dataflow_id as dataflowId', 'f.status as status'])
      .where('f.sandbox_id', '=', input.sandboxId)
      .where('f.destination_id', '=', input.destinationId)
      .where('p.destination_updated_at', '<=', input.checkedUpdatedAt)
      .orderBy('p.dataflow_id')
      .execute();
    const ids: string[] = [];
    for (const pause of pauses) {
      // Deleted, or set active (or failed) by a user since: nothing to resume, only the pause to forget.
      if (pause.status !== 'paused') {
        await tx.db
          .deleteFrom('engine_dataflow_pauses')
          .where('dataflow_id', '=', pause.dataflowId)
          .execute();
        continue;
      }
      await resumeDataflow(tx, pause.dataflowId, input.destinationId, now);
      ids.push(pause.dataflowId);
    }
    return ids;
  });
  for (const dataflowId of resumed)
    rt.logger.info(
      { dataflowId, destinationId: input.destinationId },
      'dataflow resumed: the destination verifies',
    );
  return resumed;
}

/**
 * Lifts the engine's pause of a dataflow whose destination verifies, inside the caller's transaction: the pause row
 * goes, the dataflow is active again (unless it is no longer paused), its audiences retry at once, and the
 * destination is active.
 */
async function resumeDataflow(
  tx: StoreTransaction,
  dataflowId: string,
  destinationId: string,
  now: number,
): Promise<void> {
  await tx.db.deleteFrom('engine_dataflow_pauses').where('dataflow_id', '=', dataflowId).execute();
  await tx.db
    .updateTable('dataflows')
    .set({ status: 'active', status_reason: null, updated_at: now })
    .where('id', '=', dataflowId)
    .where('status', '=', 'paused')
    .execute();
  await tx.db
    .updateTable('engine_audiences')
    .set({ failures: 0, next_attempt_at: null, updated_at: now })
    .where('dataflow_id', '=', dataflowId)
    .execute();
  await tx.db
    .updateTable('destinations')
    .set({ status: 'active', status_reason: null })
    .where('id', '=', destinationId)
    .execute();
}
