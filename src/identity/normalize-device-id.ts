import { accepted, rejected, type DeviceKind, type Normalized } from './identity-result.ts';
import { MAX_RAW_LENGTH } from './text-guards.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const ANDROID_ID = /^[0-9a-f]{16}$/;
/** A UUID that lost its dashes on the way (some exports store IDFAs and AdIDs as 32 hex digits). */
const BARE_UUID = /^([0-9a-f]{8})([0-9a-f]{4})([0-9a-f]{4})([0-9a-f]{4})([0-9a-f]{12})$/;
// iOS returns this IDFA, and Android this AdID, when the user has limited ad tracking: it identifies nobody.
const ZERO_UUID = '00000000-0000-0000-0000-000000000000';
const ZERO_ANDROID_ID = '0000000000000000';

/**
 * Normalizes a mobile device identifier. IDFA and GAID (AdID) are UUIDs, lowercase with dashes; an Android ID is 16 hex
 * characters, lowercase, without dashes. The kind comes from the source namespace when known (`options.deviceKind`),
 * otherwise from the shape. The all-zero value (limited ad tracking) is refused. In a namespace of IDFAs or GAIDs, 32 hex
 * digits are the UUID without its dashes and get them back; of unknown kind, 32 hex digits are more likely an MD5 of
 * something else, and are refused.
 *
 * @example
 * normalizeDeviceId('DD99CFF7-6186-4602-9DF2-ED3FD0B2D431'); // { ok: true, normalized: 'dd99cff7-6186-4602-9df2-ed3fd0b2d431' }
 * normalizeDeviceId('DD99CFF7618646029DF2ED3FD0B2D431', { deviceKind: 'idfa' }); // { ok: true, normalized: 'dd99cff7-6186-4602-9df2-ed3fd0b2d431' }
 * normalizeDeviceId('af3802a465767e36', { deviceKind: 'idfa' }); // { ok: false, code: 'device_id_kind_mismatch', … }
 */
export function normalizeDeviceId(raw: string, options: { deviceKind?: DeviceKind } = {}): Normalized {
  if (raw.length > MAX_RAW_LENGTH) return tooLong();
  const kind = options.deviceKind;
  const trimmed = raw.trim().toLowerCase();
  if (trimmed.length === 0) return rejected('empty', 'The device ID is empty.');
  const value = kind === 'idfa' || kind === 'gaid' ? trimmed.replace(BARE_UUID, '$1-$2-$3-$4-$5') : trimmed;
  const shape: 'uuid' | 'android_id' | null = UUID.test(value)
    ? 'uuid'
    : ANDROID_ID.test(value)
      ? 'android_id'
      : null;
  if (shape === null) {
    return rejected(
      'device_id_invalid',
      'The device ID is neither a UUID (8-4-4-4-12 hex, IDFA/GAID) nor a 16-hex-digit Android ID.',
    );
  }
  // Untyped callers may pass anything; only the three kinds narrow the shape.
  if (kind === 'idfa' || kind === 'gaid' || kind === 'android_id') {
    const expected = kind === 'android_id' ? 'android_id' : 'uuid';
    if (shape !== expected) {
      return rejected(
        'device_id_kind_mismatch',
        kind === 'android_id'
          ? 'The source namespace holds Android IDs (16 hex digits), but the value is a UUID.'
          : `The source namespace holds ${kind.toUpperCase()}s (UUIDs with dashes), but the value is not a UUID.`,
      );
    }
  }
  if (value === ZERO_UUID || value === ZERO_ANDROID_ID) {
    return rejected(
      'device_id_zero',
      'The device ID is all zeros (the user limited ad tracking); it matches nobody.',
    );
  }
  return accepted(value);
}

function tooLong(): Normalized {
  return rejected('too_long', 'The device ID is far longer than any device identifier.');
}
