/**
 * Plans the fewest users-endpoint requests for a list of membership changes.
 *
 * X's limits (docs.x.com x-ads-api/audiences/reference, custom_audiences/:id/users): at most 2500
 * operation objects and 5,000,000 bytes of body per request; users per operation are unlimited. So users
 * sharing (operation, effective_at, expires_at) go into one operation object, and requests are filled
 * greedily in a fixed order, with body size tracked incrementally from each user's serialized length
 * (the body is never re-serialized while packing).
 */
import { X_IDENTIFIER_TYPES } from '../identity/types.ts';
import type { XIdentifierType, XUser } from '../identity/types.ts';
import { ValidationError } from './errors.ts';
import type { PackedRequest, UserChange, UserOperation, UserOperationType } from './types.ts';

/** X's cap on operation objects per users request. */
export const MAX_OPERATIONS_PER_REQUEST = 2500;
/** X's cap on the users request body, in bytes. */
export const MAX_BODY_BYTES = 5_000_000;

export interface PackOptions {
  /** Defaults to {@link MAX_OPERATIONS_PER_REQUEST}; lower it only to leave headroom. */
  maxOperations?: number;
  /** Defaults to {@link MAX_BODY_BYTES}. */
  maxBytes?: number;
}

export type PackRejectionCode =
  | 'INVALID_OPERATION'
  | 'NO_IDENTIFIERS'
  | 'UNKNOWN_IDENTIFIER'
  | 'INVALID_IDENTIFIER_VALUE'
  | 'INVALID_TIME'
  | 'EXPIRES_NOT_AFTER_EFFECTIVE'
  | 'USER_TOO_LARGE';

export interface PackRejection {
  index: number;
  code: PackRejectionCode;
  message: string;
}

export interface PackResult {
  requests: PackedRequest[];
  /** Changes that cannot be sent as given; every other input index is in exactly one request. */
  rejected: PackRejection[];
}

const KNOWN = new Set<string>(X_IDENTIFIER_TYPES);

/**
 * `YYYY-MM-DDTHH:MM:SSZ`: the second-precision form every X example uses (milliseconds are dropped).
 *
 * @example
 * formatXTimestamp(new Date('2018-05-15T00:00:00.123Z')); // '2018-05-15T00:00:00Z'
 */
export function formatXTimestamp(date: Date): string {
  return `${date.toISOString().slice(0, 19)}Z`;
}

/** Returns the user with only non-empty known identifier arrays, or a rejection. */
function cleanUser(user: XUser): { user: XUser } | { code: PackRejectionCode; message: string } {
  if (typeof user !== 'object' || user === null) {
    return { code: 'NO_IDENTIFIERS', message: 'user is not an object' };
  }
  let needsCopy = false;
  let count = 0;
  for (const key of Object.keys(user)) {
    const values = (user as Record<string, unknown>)[key];
    if (values === undefined) {
      needsCopy = true;
      continue;
    }
    if (!KNOWN.has(key)) {
      return {
        code: 'UNKNOWN_IDENTIFIER',
        message: `"${key}" is not an identifier the users endpoint accepts (${X_IDENTIFIER_TYPES.join(', ')})`,
      };
    }
    if (!Array.isArray(values) || values.some((v) => typeof v !== 'string' || v === '')) {
      return { code: 'INVALID_IDENTIFIER_VALUE', message: `"${key}" must be an array of non-empty strings` };
    }
    if (values.length === 0) needsCopy = true;
    else count += 1;
  }
  if (count === 0) return { code: 'NO_IDENTIFIERS', message: 'the user has no identifier values' };
  if (!needsCopy) return { user };
  const copy: XUser = {};
  for (const key of Object.keys(user) as XIdentifierType[]) {
    const values = user[key];
    if (values !== undefined && values.length > 0) copy[key] = values;
  }
  return { user: copy };
}

/** Epoch seconds of a date, or null when it is not a valid Date. */
function epochSeconds(date: Date): number | null {
  if (!(date instanceof Date)) return null;
  const ms = date.getTime();
  return Number.isNaN(ms) ? null : Math.floor(ms / 1000);
}

interface Group {
  operation: UserOperationType;
  effectiveAt: string | undefined;
  expiresAt: string | undefined;
  header: string;
  headerBytes: number;
  members: number[];
}

const FOOTER = ']}}';
/** Marks an absent effective_at / expires_at. */
const NONE = -Infinity;

function formatSeconds(seconds: number): string {
  return formatXTimestamp(new Date(seconds * 1000));
}
const FOOTER_BYTES = 3;

function operationHeader(operation: UserOperationType, effectiveAt?: string, expiresAt?: string): string {
  // Must match JSON.stringify of the operation object built in `emit`, key for key.
  let header = `{"operation_type":${JSON.stringify(operation)},"params":{`;
  if (effectiveAt !== undefined) header += `"effective_at":${JSON.stringify(effectiveAt)},`;
  if (expiresAt !== undefined) header += `"expires_at":${JSON.stringify(expiresAt)},`;
  return `${header}"users":[`;
}

/**
 * Plans requests and reports the changes that cannot be sent, instead of throwing.
 *
 * Ordering: X applies operations in array order, and a Delete removes a member matched by any identifier.
 * Deletes are placed before Updates, except when an input Delete comes after an Update (or the reverse)
 * that shares an identifier value: such changes keep their input order, in a later phase.
 *
 * @example
 * const { requests, rejected } = planUserRequests([
 *   { operation: 'Delete', user: { email: [oldHash] } },
 *   { operation: 'Update', user: { email: [newHash] }, expiresAt: new Date('2027-01-01T00:00:00Z') },
 * ]);
 */
export function planUserRequests(changes: readonly UserChange[], options: PackOptions = {}): PackResult {
  const maxOperations = options.maxOperations ?? MAX_OPERATIONS_PER_REQUEST;
  const maxBytes = options.maxBytes ?? MAX_BODY_BYTES;
  const rejected: PackRejection[] = [];
  const users: XUser[] = new Array(changes.length);
  const userJson: string[] = new Array(changes.length);
  const userBytes: number[] = new Array(changes.length);

  // Phases: slot 2k holds Deletes, slot 2k+1 Updates. A change goes to the earliest slot of its kind that
  // is not before the last slot of any change sharing one of its identifier values.
  // Identifier type → value → last slot; per-type maps avoid building a composite key per value.
  const lastSlot = new Map<string, Map<string, number>>();
  const templates = new Map<string, Omit<Group, 'members'>>();
  const slots: Array<Map<string, Group>> = [];
  // Order only matters between a Delete and an Update sharing an identifier; a one-kind batch (the usual
  // initial upload) skips the identifier index entirely.
  let hasDelete = false;
  let hasUpdate = false;
  for (const change of changes) {
    if (change?.operation === 'Delete') hasDelete = true;
    else if (change?.operation === 'Update') hasUpdate = true;
  }
  const trackOrder = hasDelete && hasUpdate;
  // Consecutive changes usually share a group; remember the last one to skip the key lookups.
  let previous: { operation: string; effective: number; expires: number; key: string } | undefined;
  let previousGroup: { slot: number; group: Group } | undefined;

  for (let index = 0; index < changes.length; index++) {
    const change = changes[index]!;
    const operation = change?.operation;
    if (operation !== 'Update' && operation !== 'Delete') {
      rejected.push({ index, code: 'INVALID_OPERATION', message: 'operation must be "Update" or "Delete"' });
      continue;
    }
    const cleaned = cleanUser(change.user);
    if ('code' in cleaned) {
      rejected.push({ index, code: cleaned.code, message: cleaned.message });
      continue;
    }
    const effective = change.effectiveAt === undefined ? NONE : epochSeconds(change.effectiveAt);
    const expires = change.expiresAt === undefined ? NONE : epochSeconds(change.expiresAt);
    if (effective === null || expires === null) {
      rejected.push({ index, code: 'INVALID_TIME', message: 'effectiveAt/expiresAt must be valid dates' });
      continue;
    }
    if (effective !== NONE && expires !== NONE && expires <= effective) {
      rejected.push({
        index,
        code: 'EXPIRES_NOT_AFTER_EFFECTIVE',
        message: `expires_at ${formatSeconds(expires)} must be later than effective_at ${formatSeconds(effective)} (at second precision)`,
      });
      continue;
    }
    let groupKey: string;
    if (
      previous !== undefined &&
      previous.operation === operation &&
      previous.effective === effective &&
      previous.expires === expires
    ) {
      groupKey = previous.key;
    } else {
      groupKey = operation === 'Delete' ? `D${effective}|${expires}` : `U${effective}|${expires}`;
      previous = { operation, effective, expires, key: groupKey };
      previousGroup = undefined;
    }
    let template = templates.get(groupKey);
    if (!template) {
      const header = operationHeader(
        operation,
        effective === NONE ? undefined : formatSeconds(effective),
        expires === NONE ? undefined : formatSeconds(expires),
      );
      template = {
        operation,
        effectiveAt: effective === NONE ? undefined : formatSeconds(effective),
        expiresAt: expires === NONE ? undefined : formatSeconds(expires),
        header,
        headerBytes: Buffer.byteLength(header),
      };
      templates.set(groupKey, template);
    }
    // A user that needed no cleaning serializes to the text the caller may hold already.
    const json =
      change.json !== undefined && cleaned.user === change.user ? change.json : JSON.stringify(cleaned.user);
    const bytes = Buffer.byteLength(json);
    if (2 + template.headerBytes + bytes + FOOTER_BYTES > maxBytes) {
      rejected.push({
        index,
        code: 'USER_TOO_LARGE',
        message: `one user serializes to ${bytes} bytes, more than a request may carry (${maxBytes})`,
      });
      continue;
    }
    users[index] = cleaned.user;
    userJson[index] = json;
    userBytes[index] = bytes;

    const parity = operation === 'Delete' ? 0 : 1;
    let slot = parity;
    if (trackOrder) {
      let latest = -1;
      for (const key in cleaned.user) {
        let seenByValue = lastSlot.get(key);
        if (!seenByValue) lastSlot.set(key, (seenByValue = new Map()));
        for (const value of cleaned.user[key as XIdentifierType]!) {
          const seen = seenByValue.get(value);
          if (seen !== undefined && seen > latest) latest = seen;
        }
      }
      if (latest >= 0) slot = latest % 2 === parity ? latest : latest + 1;
      for (const key in cleaned.user) {
        const seenByValue = lastSlot.get(key)!;
        for (const value of cleaned.user[key as XIdentifierType]!) seenByValue.set(value, slot);
      }
    }

    let group: Group | undefined;
    if (previousGroup !== undefined && previousGroup.slot === slot) group = previousGroup.group;
    else {
      while (slots.length <= slot) slots.push(new Map());
      const groups = slots[slot]!;
      group = groups.get(groupKey);
      if (!group) {
        group = { ...template, members: [] };
        groups.set(groupKey, group);
      }
      previousGroup = { slot, group };
    }
    group.members.push(index);
  }

  const requests: PackedRequest[] = [];
  let current: { groups: Array<{ group: Group; members: number[] }>; bytes: number } = {
    groups: [],
    bytes: 2,
  };

  const flush = () => {
    if (current.groups.length === 0) return;
    requests.push(emit(current.groups, users, userJson, current.bytes));
    current = { groups: [], bytes: 2 };
  };

  for (const groups of slots) {
    for (const group of groups.values()) {
      let open: { group: Group; members: number[] } | undefined;
      for (const index of group.members) {
        const size = userBytes[index]!;
        if (open) {
          if (current.bytes + 1 + size <= maxBytes) {
            open.members.push(index);
            current.bytes += 1 + size;
            continue;
          }
          flush();
        }
        const opened = (current.groups.length > 0 ? 1 : 0) + group.headerBytes + size + FOOTER_BYTES;
        if (current.groups.length >= maxOperations || current.bytes + opened > maxBytes) flush();
        const added = (current.groups.length > 0 ? 1 : 0) + group.headerBytes + size + FOOTER_BYTES;
        open = { group, members: [index] };
        current.groups.push(open);
        current.bytes += added;
      }
    }
  }
  flush();
  return { requests, rejected };
}

function emit(
  parts: Array<{ group: Group; members: number[] }>,
  users: XUser[],
  userJson: string[],
  bytes: number,
): PackedRequest {
  const operations: UserOperation[] = [];
  const pieces: string[] = [];
  const changeIndexes: number[] = [];
  const operationChangeIndexes: number[][] = [];
  for (const { group, members } of parts) {
    const params: UserOperation['params'] = {} as UserOperation['params'];
    if (group.effectiveAt !== undefined) params.effective_at = group.effectiveAt;
    if (group.expiresAt !== undefined) params.expires_at = group.expiresAt;
    params.users = members.map((i) => users[i]!);
    operations.push({ operation_type: group.operation, params });
    pieces.push(group.header + members.map((i) => userJson[i]!).join(',') + FOOTER);
    for (const i of members) changeIndexes.push(i);
    operationChangeIndexes.push(members);
  }
  const body = `[${pieces.join(',')}]`;
  return { operations, body, bytes, changeIndexes, operationChangeIndexes, userCount: changeIndexes.length };
}

/**
 * Packs membership changes into the fewest users-endpoint requests within X's limits (≤ 2500 operation
 * objects, ≤ 5,000,000 body bytes). Throws a {@link ValidationError} naming every change that cannot be
 * sent; use {@link planUserRequests} to get those as data instead.
 *
 * @example
 * const requests = packUserChanges(changes);
 * for (const request of requests) await client.postUsers(accountId, audienceId, request);
 */
export function packUserChanges(changes: readonly UserChange[], options: PackOptions = {}): PackedRequest[] {
  const { requests, rejected } = planUserRequests(changes, options);
  if (rejected.length > 0) {
    throw new ValidationError({
      message: `${rejected.length} of ${changes.length} user changes cannot be sent (first: change ${rejected[0]!.index}, ${rejected[0]!.message})`,
      hint: 'Fix or drop the listed changes (details[].changeIndex), or call planUserRequests to get them as data.',
      details: rejected.map((r) => ({
        source: 'client' as const,
        code: r.code,
        message: r.message,
        changeIndex: r.index,
      })),
    });
  }
  return requests;
}

/**
 * The input change indexes a users-request error points at: the users of each operation named in
 * `operation_errors` (narrowed to one user when X gives its position). Empty when the error is
 * request-level, in which case the caller bisects `request.changeIndexes`.
 *
 * @example
 * catch (error) { if (error instanceof ValidationError) quarantine(changeIndexesForError(request, error)); }
 */
export function changeIndexesForError(
  request: Pick<PackedRequest, 'operationChangeIndexes'>,
  error: { details: ReadonlyArray<{ source: string; operationIndex?: number; userIndex?: number }> },
): number[] {
  const found = new Set<number>();
  for (const detail of error.details) {
    if (detail.source !== 'operation_errors' || detail.operationIndex === undefined) continue;
    const members = request.operationChangeIndexes[detail.operationIndex];
    if (!members) continue;
    if (detail.userIndex !== undefined && members[detail.userIndex] !== undefined)
      found.add(members[detail.userIndex]!);
    else for (const index of members) found.add(index);
  }
  return [...found].sort((a, b) => a - b);
}
