/**
 * Tolerant readers for X's response objects. X documents the fields, but older fixtures and versions
 * differ (e.g. `owner_account_id` vs `is_owner`, `user_id` as string or number), so every field is read
 * defensively and the raw object is kept.
 */
import { TransientError } from './errors.ts';
import type { AuthenticatedUserAccess, CustomAudience, XAccount } from './types.ts';

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const str = (v: unknown): string | null =>
  typeof v === 'string' ? v : typeof v === 'number' ? String(v) : null;
const strings = (v: unknown): string[] =>
  Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];

function invalid(what: string, path?: string): TransientError {
  return new TransientError({
    message: `X Ads API returned an unexpected ${what}${path ? ` for ${path}` : ''}`,
    reason: 'invalid_response',
    hint: 'The response did not have the documented shape; if this persists, check the API version and base URL.',
    ...(path === undefined ? {} : { path }),
  });
}

/** `data` of a response body, which must be an object. */
export function dataObject(body: unknown, path?: string): Record<string, unknown> {
  if (isRecord(body) && isRecord(body.data)) return body.data;
  throw invalid('body (no data object)', path);
}

/** `data` of a response body, which must be an array. */
export function dataArray(body: unknown, path?: string): unknown[] {
  if (isRecord(body) && Array.isArray(body.data)) return body.data;
  throw invalid('body (no data array)', path);
}

/** `next_cursor`, or null when absent or null. */
export function nextCursor(body: unknown): string | null {
  if (!isRecord(body)) return null;
  const cursor = body.next_cursor;
  return typeof cursor === 'string' && cursor !== '' ? cursor : null;
}

export function parseAccount(data: Record<string, unknown>, path?: string): XAccount {
  const id = str(data.id);
  if (id === null) throw invalid('account object (no id)', path);
  const created = typeof data.created_at === 'string' ? Date.parse(data.created_at) : NaN;
  return {
    id,
    name: str(data.name),
    approvalStatus: str(data.approval_status),
    createdAt: Number.isNaN(created) ? null : created,
    timezone: str(data.timezone),
    deleted: data.deleted === true,
    raw: data,
  };
}

export function parseAccess(data: Record<string, unknown>, path?: string): AuthenticatedUserAccess {
  const userId = str(data.user_id);
  if (userId === null) throw invalid('authenticated_user_access object (no user_id)', path);
  return { userId, permissions: strings(data.permissions) };
}

export function parseCustomAudience(data: unknown, path?: string): CustomAudience {
  if (!isRecord(data)) throw invalid('custom audience (not an object)', path);
  const id = str(data.id);
  if (id === null) throw invalid('custom audience (no id)', path);
  return {
    id,
    name: str(data.name) ?? '',
    description: str(data.description),
    audienceType: str(data.audience_type),
    audienceSize: typeof data.audience_size === 'number' ? data.audience_size : null,
    targetable: data.targetable === true,
    targetableTypes: strings(data.targetable_types),
    reasonsNotTargetable: strings(data.reasons_not_targetable),
    permissionLevel: str(data.permission_level),
    ownerAccountId: str(data.owner_account_id),
    partnerSource: str(data.partner_source),
    deleted: data.deleted === true,
    createdAt: str(data.created_at),
    updatedAt: str(data.updated_at),
    raw: data,
  };
}

/** `{ success_count, total_count }` of the users endpoint, or null when either is missing. */
export function parseUsersCounts(body: unknown): { successCount: number; totalCount: number } | null {
  if (!isRecord(body) || !isRecord(body.data)) return null;
  const success = body.data.success_count;
  const total = body.data.total_count;
  const num = (v: unknown) =>
    typeof v === 'number' ? v : typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : undefined;
  const s = num(success);
  const t = num(total);
  return s === undefined || t === undefined ? null : { successCount: s, totalCount: t };
}
