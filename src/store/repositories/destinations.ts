import type { Selectable } from 'kysely';
import { isForeignKeyViolation, StoreError } from '../errors.ts';
import type { DestinationsTable } from '../schema/index.ts';
import { definedOnly, parseJson, type RepositoryContext } from './context.ts';
import type { WebhookFormat } from '../../config/index.ts';
import { credentialsContext, openColumn, pagerDutyKeyContext, webhookContext } from '../sealed-columns.ts';
import type { SecretBox } from '../secret-box.ts';

/** `unverified` until a preflight passes; `unauthorized` when X answers 401/403 (re-authorize); `error` otherwise. */
export type DestinationStatus = 'unverified' | 'active' | 'unauthorized' | 'error';

/** The X connection secrets. Write-only: never returned by `get`/`list`, only by `getCredentials`. */
export interface DestinationCredentials {
  consumerKey: string;
  consumerSecret: string;
  accessToken?: string;
  accessTokenSecret?: string;
  /** Other secrets a login flow keeps between steps, e.g. a pending request token. */
  extra?: Record<string, string>;
}

export interface Destination {
  id: string;
  sandboxId: string;
  name: string;
  description: string | null;
  accountId: string;
  /** Whether credentials are stored (never the credentials themselves). */
  hasCredentials: boolean;
  apiBaseUrl: string | null;
  marketingActions: string[];
  /** Where its alerts are posted. A secret (a chat webhook's URL carries its token): sealed at rest, never shown. */
  alertWebhookUrl: string | null;
  /** What its alert webhook takes: `json` (the documented notification), `slack`, `teams` or `google-chat`. */
  alertWebhookFormat: WebhookFormat;
  /** Addresses its alerts are also emailed to (besides the installation's `TCA_ALERT_EMAIL_TO`). */
  alertEmailTo: string[];
  /** Whether its alerts also open incidents with a PagerDuty routing key of its own (never the key itself). */
  hasAlertPagerDutyKey: boolean;
  /**
   * The alert types its own webhook, PagerDuty key and recipients receive (`src/server/alerts.ts`), or null for
   * every type. The installation's targets receive every type whatever this says.
   */
  alertTypes: string[] | null;
  status: DestinationStatus;
  statusReason: string | null;
  createdAt: number;
  updatedAt: number;
}

export interface CreateDestinationInput {
  sandboxId: string;
  name: string;
  description?: string | null;
  accountId: string;
  credentials?: DestinationCredentials | null;
  apiBaseUrl?: string | null;
  marketingActions?: readonly string[];
  alertWebhookUrl?: string | null;
  alertWebhookFormat?: WebhookFormat;
  alertEmailTo?: readonly string[];
  /** A PagerDuty Events API v2 routing key its alerts also go to. Write-only: sealed, never returned. */
  alertPagerDutyKey?: string | null;
  alertTypes?: readonly string[] | null;
  status?: DestinationStatus;
  statusReason?: string | null;
}

export interface UpdateDestinationInput {
  name?: string;
  description?: string | null;
  accountId?: string;
  apiBaseUrl?: string | null;
  marketingActions?: readonly string[];
  alertWebhookUrl?: string | null;
  alertWebhookFormat?: WebhookFormat;
  alertEmailTo?: readonly string[];
  alertPagerDutyKey?: string | null;
  alertTypes?: readonly string[] | null;
  status?: DestinationStatus;
  statusReason?: string | null;
}

const DESTINATION_COLUMNS = [
  'id',
  'sandbox_id',
  'name',
  'description',
  'account_id',
  'api_base_url',
  'marketing_actions',
  'alert_webhook_url',
  'alert_email_to',
  'alert_webhook_format',
  'alert_types',
  'status',
  'status_reason',
  'created_at',
  'updated_at',
] as const;

type DestinationRow = Omit<Selectable<DestinationsTable>, 'credentials' | 'alert_pagerduty_key'> & {
  has_credentials: number | boolean;
  has_pagerduty_key: number | boolean;
};

const alertTypesColumn = (types: readonly string[] | null): string | null =>
  types === null ? null : JSON.stringify([...types]);

const toDestination = (row: DestinationRow, secrets: SecretBox): Destination => ({
  id: row.id,
  sandboxId: row.sandbox_id,
  name: row.name,
  description: row.description,
  accountId: row.account_id,
  hasCredentials: Boolean(row.has_credentials),
  hasAlertPagerDutyKey: Boolean(row.has_pagerduty_key),
  apiBaseUrl: row.api_base_url,
  marketingActions: parseJson<string[]>(row.marketing_actions, 'destinations.marketing_actions'),
  alertWebhookUrl:
    row.alert_webhook_url === null
      ? null
      : openColumn(secrets, row.alert_webhook_url, webhookContext(row.id)),
  alertEmailTo: parseJson<string[]>(row.alert_email_to, 'destinations.alert_email_to'),
  // Written only from WEBHOOK_FORMATS (the API's schema checks it).
  alertWebhookFormat: row.alert_webhook_format as WebhookFormat,
  alertTypes:
    row.alert_types === null ? null : parseJson<string[]>(row.alert_types, 'destinations.alert_types'),
  status: row.status as DestinationStatus,
  statusReason: row.status_reason,
  createdAt: row.created_at,
  updatedAt: row.updated_at,
});

/**
 * A destination's own PagerDuty routing key, decrypted, or null when it has none (or is not in `sandboxId`, when
 * given). The alert sender reads it by destination id alone, as each event is sent.
 */
export async function alertPagerDutyKeyOf(
  ctx: Pick<RepositoryContext, 'db' | 'secrets'>,
  id: string,
  sandboxId?: string,
): Promise<string | null> {
  let query = ctx.db.selectFrom('destinations').select('alert_pagerduty_key').where('id', '=', id);
  if (sandboxId !== undefined) query = query.where('sandbox_id', '=', sandboxId);
  const row = await query.executeTakeFirst();
  return row?.alert_pagerduty_key ? ctx.secrets.open(row.alert_pagerduty_key, pagerDutyKeyContext(id)) : null;
}

/** Destinations (X connections). Credentials are sealed with the store's SecretBox before they reach the database. */
export function destinationRepository(ctx: RepositoryContext) {
  const seal = (id: string, credentials: DestinationCredentials | null | undefined) =>
    credentials ? ctx.secrets.seal(JSON.stringify(credentials), credentialsContext(id)) : null;
  const sealWebhook = (id: string, url: string | null) =>
    url === null ? null : ctx.secrets.seal(url, webhookContext(id));
  const sealPagerDutyKey = (id: string, key: string | null) =>
    key === null ? null : ctx.secrets.seal(key, pagerDutyKeyContext(id));

  const select = (sandboxId: string) =>
    ctx.db
      .selectFrom('destinations')
      .select(DESTINATION_COLUMNS)
      .select((eb) => eb.case().when('credentials', 'is', null).then(0).else(1).end().as('has_credentials'))
      .select((eb) =>
        eb.case().when('alert_pagerduty_key', 'is', null).then(0).else(1).end().as('has_pagerduty_key'),
      )
      .where('sandbox_id', '=', sandboxId);

  const get = async (sandboxId: string, id: string): Promise<Destination | undefined> => {
    const row = await select(sandboxId).where('id', '=', id).executeTakeFirst();
    return row && toDestination(row, ctx.secrets);
  };

  return {
    async create(input: CreateDestinationInput): Promise<Destination> {
      const id = ctx.newId('dst');
      const now = ctx.now();
      await ctx.db
        .insertInto('destinations')
        .values({
          id,
          sandbox_id: input.sandboxId,
          name: input.name,
          description: input.description ?? null,
          account_id: input.accountId,
          credentials: seal(id, input.credentials),
          api_base_url: input.apiBaseUrl ?? null,
          marketing_actions: JSON.stringify([...(input.marketingActions ?? [])]),
          alert_webhook_url: sealWebhook(id, input.alertWebhookUrl ?? null),
          alert_email_to: JSON.stringify([...(input.alertEmailTo ?? [])]),
          alert_webhook_format: input.alertWebhookFormat ?? 'json',
          alert_pagerduty_key: sealPagerDutyKey(id, input.alertPagerDutyKey ?? null),
          alert_types: alertTypesColumn(input.alertTypes ?? null),
          status: input.status ?? 'unverified',
          status_reason: input.statusReason ?? null,
          created_at: now,
          updated_at: now,
        })
        .execute();
      const created = await get(input.sandboxId, id);
      if (!created) throw new StoreError('not_found', `Destination ${id} vanished after insert`);
      return created;
    },

    get,

    async list(sandboxId: string): Promise<Destination[]> {
      const rows = await select(sandboxId).orderBy('created_at').orderBy('id').execute();
      return rows.map((row) => toDestination(row, ctx.secrets));
    },

    /** Applies the fields given; undefined if the destination does not exist in this sandbox. */
    async update(
      sandboxId: string,
      id: string,
      patch: UpdateDestinationInput,
    ): Promise<Destination | undefined> {
      const values = definedOnly({
        name: patch.name,
        description: patch.description,
        account_id: patch.accountId,
        api_base_url: patch.apiBaseUrl,
        marketing_actions: patch.marketingActions && JSON.stringify([...patch.marketingActions]),
        alert_webhook_url:
          patch.alertWebhookUrl === undefined ? undefined : sealWebhook(id, patch.alertWebhookUrl),
        alert_email_to: patch.alertEmailTo && JSON.stringify([...patch.alertEmailTo]),
        alert_webhook_format: patch.alertWebhookFormat,
        alert_pagerduty_key:
          patch.alertPagerDutyKey === undefined ? undefined : sealPagerDutyKey(id, patch.alertPagerDutyKey),
        alert_types: patch.alertTypes === undefined ? undefined : alertTypesColumn(patch.alertTypes),
        status: patch.status,
        status_reason: patch.statusReason,
      });
      const result = await ctx.db
        .updateTable('destinations')
        .set({ ...values, updated_at: ctx.now() })
        .where('sandbox_id', '=', sandboxId)
        .where('id', '=', id)
        .executeTakeFirst();
      return result.numUpdatedRows > 0n ? get(sandboxId, id) : undefined;
    },

    /** Replaces (or with null, clears) the credentials; false if the destination does not exist in this sandbox. */
    async setCredentials(
      sandboxId: string,
      id: string,
      credentials: DestinationCredentials | null,
    ): Promise<boolean> {
      const result = await ctx.db
        .updateTable('destinations')
        .set({ credentials: seal(id, credentials), updated_at: ctx.now() })
        .where('sandbox_id', '=', sandboxId)
        .where('id', '=', id)
        .executeTakeFirst();
      return result.numUpdatedRows > 0n;
    },

    /** Its own PagerDuty routing key, decrypted; undefined if the destination is not in this sandbox or has none. */
    async getAlertPagerDutyKey(sandboxId: string, id: string): Promise<string | undefined> {
      return (await alertPagerDutyKeyOf(ctx, id, sandboxId)) ?? undefined;
    },

    /** The decrypted credentials; undefined if the destination is not in this sandbox or has none. */
    async getCredentials(sandboxId: string, id: string): Promise<DestinationCredentials | undefined> {
      const row = await ctx.db
        .selectFrom('destinations')
        .select('credentials')
        .where('sandbox_id', '=', sandboxId)
        .where('id', '=', id)
        .executeTakeFirst();
      if (!row?.credentials) return undefined;
      return parseJson<DestinationCredentials>(
        ctx.secrets.open(row.credentials, credentialsContext(id)),
        'credentials',
      );
    },

    /**
     * Deletes the destination; false if it does not exist in this sandbox. Throws a `conflict` StoreError while
     * dataflows still use it.
     */
    async delete(sandboxId: string, id: string): Promise<boolean> {
      try {
        const result = await ctx.db
          .deleteFrom('destinations')
          .where('sandbox_id', '=', sandboxId)
          .where('id', '=', id)
          .executeTakeFirst();
        return result.numDeletedRows > 0n;
      } catch (cause) {
        if (isForeignKeyViolation(cause)) {
          throw new StoreError('conflict', `Destination ${id} is used by dataflows`, {
            cause,
            hint: 'Delete its dataflows first',
          });
        }
        throw cause;
      }
    },
  };
}

export type DestinationRepository = ReturnType<typeof destinationRepository>;
