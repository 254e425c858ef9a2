import { describe, expect, it } from 'vitest';
import { normalizeDeviceId } from './normalize-device-id.ts';

describe('normalizeDeviceId', () => {
  it.each([
    ['DD99CFF7-6186-4602-9DF2-ED3FD0B2D431', 'dd99cff7-6186-4602-9df2-ed3fd0b2d431'],
    [' 4b61639e-47cc-4056-a16a-c8217e029462 ', '4b61639e-47cc-4056-a16a-c8217e029462'],
    ['AF3802A465767E36', 'af3802a465767e36'],
    ['af3802a465767e36', 'af3802a465767e36'],
  ])('accepts %j by shape as %j', (raw, normalized) => {
    expect(normalizeDeviceId(raw)).toEqual({ ok: true, normalized });
  });

  it('uses the kind the namespace implies', () => {
    const uuid = '4b61639e-47cc-4056-a16a-c8217e029462';
    expect(normalizeDeviceId(uuid, { deviceKind: 'idfa' })).toEqual({ ok: true, normalized: uuid });
    expect(normalizeDeviceId(uuid, { deviceKind: 'gaid' })).toEqual({ ok: true, normalized: uuid });
    expect(normalizeDeviceId(uuid, { deviceKind: 'android_id' })).toMatchObject({
      ok: false,
      code: 'device_id_kind_mismatch',
    });
    expect(normalizeDeviceId('af3802a465767e36', { deviceKind: 'idfa' })).toMatchObject({
      ok: false,
      code: 'device_id_kind_mismatch',
    });
    expect(normalizeDeviceId('af3802a465767e36', { deviceKind: 'android_id' })).toEqual({
      ok: true,
      normalized: 'af3802a465767e36',
    });
  });

  it('puts back the dashes of a UUID in a namespace of IDFAs or GAIDs, and only there', () => {
    const bare = 'DD99CFF7618646029DF2ED3FD0B2D431';
    const uuid = 'dd99cff7-6186-4602-9df2-ed3fd0b2d431';
    expect(normalizeDeviceId(bare, { deviceKind: 'idfa' })).toEqual({ ok: true, normalized: uuid });
    expect(normalizeDeviceId(` ${bare.toLowerCase()} `, { deviceKind: 'gaid' })).toEqual({
      ok: true,
      normalized: uuid,
    });
    expect(normalizeDeviceId(bare, { deviceKind: 'android_id' })).toMatchObject({
      ok: false,
      code: 'device_id_invalid',
    });
    expect(normalizeDeviceId('0'.repeat(32), { deviceKind: 'idfa' })).toMatchObject({
      ok: false,
      code: 'device_id_zero',
    });
    expect(normalizeDeviceId(`${bare}0`, { deviceKind: 'idfa' })).toMatchObject({
      ok: false,
      code: 'device_id_invalid',
    });
  });

  it.each([
    ['', 'empty'],
    ['00000000-0000-0000-0000-000000000000', 'device_id_zero'],
    ['0000000000000000', 'device_id_zero'],
    // The AdID example in X's docs has an 11-digit last group.
    ['2f5f5391-3e45-4d02-b645-4575a08f86e', 'device_id_invalid'],
    ['dd99cff761864602 9df2ed3fd0b2d431', 'device_id_invalid'],
    ['dd99cff7618646029df2ed3fd0b2d431', 'device_id_invalid'],
    ['{dd99cff7-6186-4602-9df2-ed3fd0b2d431}', 'device_id_invalid'],
    ['gd99cff7-6186-4602-9df2-ed3fd0b2d431', 'device_id_invalid'],
    ['af3802a465767e3', 'device_id_invalid'],
    ['af38-02a4-6576-7e36', 'device_id_invalid'],
    ['dd99cff7-6186-4602-9df2-ed3fd0b2d431-0000', 'device_id_invalid'],
    ['a'.repeat(5000), 'too_long'],
  ])('rejects %j with %s', (raw, code) => {
    expect(normalizeDeviceId(raw)).toMatchObject({ ok: false, code });
  });
});
