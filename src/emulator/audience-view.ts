import type { EmulatorContext } from './context.ts';
import { MIN_TARGETABLE_SIZE } from './state.ts';
import type { AccountRecord, AudienceRecord } from './state.ts';
import { isoSeconds } from './time-format.ts';

/**
 * Runs the processing X does in the background (every 6–8 hours there) once the configured delay has
 * passed since the first unprocessed change, so reads see a size only after "processing".
 */
export function processIfDue(ctx: EmulatorContext, audience: AudienceRecord): void {
  if (audience.pendingSince === null) return;
  const now = ctx.now();
  if (now >= audience.pendingSince + ctx.settings.processingDelayMs) {
    ctx.state.processAudience(audience, now, ctx.settings.matchRate);
  }
}

/**
 * The custom audience object (docs.x.com audiences reference). Until the first processing run the size
 * is null with PROCESSING; afterwards a matched size below 100 reads as null with TOO_SMALL, as X's
 * examples show. `shape: 'update'` follows X's PUT example, which carries `is_owner` instead of
 * `owner_account_id`.
 */
export function audienceJson(
  audience: AudienceRecord,
  shape: 'default' | 'update' = 'default',
): Record<string, unknown> {
  const size = audience.processedSize;
  let reasons: string[];
  let audienceSize: number | null = null;
  if (size === null) reasons = ['PROCESSING', 'TOO_SMALL'];
  else if (size < MIN_TARGETABLE_SIZE) reasons = ['TOO_SMALL'];
  else {
    reasons = [];
    audienceSize = size;
  }
  const owner = shape === 'update' ? { is_owner: true } : { owner_account_id: audience.accountId };
  return {
    targetable: reasons.length === 0,
    name: audience.name,
    targetable_types: ['CRM', 'EXCLUDED_CRM'],
    audience_type: 'CRM',
    description: audience.description,
    permission_level: 'READ_WRITE',
    ...owner,
    id: audience.id,
    reasons_not_targetable: reasons,
    created_at: isoSeconds(audience.createdAt),
    updated_at: isoSeconds(audience.updatedAt),
    partner_source: 'OTHER',
    deleted: audience.deleted,
    audience_size: audienceSize,
  };
}

/** The ads account object (docs.x.com campaign management, GET accounts/:account_id). */
export function accountJson(account: AccountRecord): Record<string, unknown> {
  return {
    name: account.name,
    business_name: null,
    timezone: account.timezone,
    timezone_switch_at: isoSeconds(account.createdAt),
    id: account.id,
    created_at: isoSeconds(account.createdAt),
    updated_at: isoSeconds(account.updatedAt),
    industry_type: null,
    business_id: null,
    approval_status: account.approvalStatus,
    deleted: false,
  };
}
