import type { Kysely } from 'kysely';
import type { Database } from './schema/index.ts';
import type { SecretBox } from './secret-box.ts';

/**
 * Columns that hold a secret: a destination's X credentials, and where alerts go. A chat tool's incoming webhook URL
 * (Slack, Teams, Google Chat) carries the token that lets anyone post to the channel, and a PagerDuty routing key
 * opens incidents, so these are sealed like credentials, each bound to its row or use by its context, and re-sealed by
 * a key rotation. A value written before they were sealed (alert targets only: credentials always were) is sealed at
 * the next open that may write (see `sealPlaintextColumns`); until then it is read as it is.
 */
/** What a destination's sealed credentials are bound to (the additional authenticated data). */
export const credentialsContext = (id: string) => `destination:${id}`;
export const webhookContext = (destinationId: string) => `destination-webhook:${destinationId}`;
/** `destinations.alert_pagerduty_key`: a destination's own PagerDuty routing key. */
export const pagerDutyKeyContext = (destinationId: string) => `destination-pagerduty:${destinationId}`;
/** `alert_states.urls`: the JSON array of targets an alert was sent to. */
export const ALERT_TARGETS_CONTEXT = 'alert-targets';
/** `alert_outbox.url`: a queued notification's target. */
export const OUTBOX_TARGET_CONTEXT = 'alert-outbox';

/** Whether a stored value is sealed (`v1.<keyId>.<data>`); a URL, a target or a JSON array never starts so. */
export function isSealed(value: string): boolean {
  return value.startsWith('v1.');
}

/** A sealed column's value as written, or one written before it was sealed. */
export function openColumn(box: SecretBox, value: string, context: string): string {
  return isSealed(value) ? box.open(value, context) : value;
}

/** What a rotation reports re-sealing: credentials, and alert targets (everything else). */
type SealedKind = 'credentials' | 'alertTargets';

interface SealedColumn {
  table: 'destinations' | 'alert_states' | 'alert_outbox';
  key: 'id';
  column: 'credentials' | 'alert_webhook_url' | 'alert_pagerduty_key' | 'urls' | 'url';
  context: (key: string) => string;
  kind: SealedKind;
}

const SEALED_COLUMNS: readonly SealedColumn[] = [
  {
    table: 'destinations',
    key: 'id',
    column: 'credentials',
    context: credentialsContext,
    kind: 'credentials',
  },
  {
    table: 'destinations',
    key: 'id',
    column: 'alert_webhook_url',
    context: webhookContext,
    kind: 'alertTargets',
  },
  {
    table: 'destinations',
    key: 'id',
    column: 'alert_pagerduty_key',
    context: pagerDutyKeyContext,
    kind: 'alertTargets',
  },
  {
    table: 'alert_states',
    key: 'id',
    column: 'urls',
    context: () => ALERT_TARGETS_CONTEXT,
    kind: 'alertTargets',
  },
  {
    table: 'alert_outbox',
    key: 'id',
    column: 'url',
    context: () => OUTBOX_TARGET_CONTEXT,
    kind: 'alertTargets',
  },
];

/**
 * Seals every value of the sealed columns again, under `next`: each is opened with `previous` (or read as it is, if
 * it was never sealed). Runs inside the key rotation's transaction. Returns how many values were re-sealed, by kind.
 */
export async function resealColumns(
  db: Kysely<Database>,
  previous: SecretBox,
  next: SecretBox,
): Promise<Record<SealedKind, number>> {
  const count: Record<SealedKind, number> = { credentials: 0, alertTargets: 0 };
  for (const c of SEALED_COLUMNS) {
    const rows = await readColumn(db, c, false);
    for (const row of rows) {
      const context = c.context(row.key);
      await writeColumn(db, c, row.key, next.seal(openColumn(previous, row.value, context), context));
    }
    count[c.kind] += rows.length;
  }
  return count;
}

/** Seals the values written before their column was sealed (a no-op once done); the number sealed. */
export async function sealPlaintextColumns(db: Kysely<Database>, box: SecretBox): Promise<number> {
  let count = 0;
  for (const c of SEALED_COLUMNS) {
    const rows = await readColumn(db, c, true);
    for (const row of rows) await writeColumn(db, c, row.key, box.seal(row.value, c.context(row.key)));
    count += rows.length;
  }
  return count;
}

async function readColumn(
  db: Kysely<Database>,
  c: SealedColumn,
  plaintextOnly: boolean,
): Promise<Array<{ key: string; value: string }>> {
  // Kysely cannot type a table chosen at run time; the three shapes are listed above.
  const query = (db as unknown as Kysely<Record<string, Record<string, string | null>>>)
    .selectFrom(c.table)
    .select([`${c.key} as key`, `${c.column} as value`])
    .where(c.column, 'is not', null);
  const rows = (await (
    plaintextOnly ? query.where(c.column, 'not like', 'v1.%') : query
  ).execute()) as Array<{
    key: string;
    value: string;
  }>;
  return rows;
}

async function writeColumn(db: Kysely<Database>, c: SealedColumn, key: string, value: string): Promise<void> {
  await (db as unknown as Kysely<Record<string, Record<string, string | null>>>)
    .updateTable(c.table)
    .set({ [c.column]: value })
    .where(c.key, '=', key)
    .execute();
}
