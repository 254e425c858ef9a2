import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { sha256Hex } from '../identity/index.ts';
import type { ProfileExport } from '../profile/index.ts';
import {
  applyMapping,
  deviceKindForNamespace,
  isHashedNamespace,
  standardNamespace,
  validateMapping,
  type MappingRow,
} from './mapping.ts';

const row = (
  source: string,
  target: MappingRow['target'],
  applyTransformation: boolean,
  sourceType: MappingRow['sourceType'] = 'namespace',
): MappingRow => ({ sourceType, source, target, applyTransformation });

function profile(parts: Partial<ProfileExport>): ProfileExport {
  return { segmentMembership: {}, identityMap: {}, attributes: {}, ...parts };
}

describe('namespace helpers', () => {
  it('knows hashed namespaces, standard or custom', () => {
    expect(isHashedNamespace('Email_LC_SHA256')).toBe(true);
    expect(isHashedNamespace('phone_sha256')).toBe(true);
    expect(isHashedNamespace('CRM_EMAIL_SHA256')).toBe(true);
    expect(isHashedNamespace('Email')).toBe(false);
    expect(isHashedNamespace('Phone_E.164')).toBe(false);
    expect(isHashedNamespace('SHA256_Thing')).toBe(false);
  });

  it('knows the device kind a namespace implies', () => {
    expect(deviceKindForNamespace('IDFA')).toBe('idfa');
    expect(deviceKindForNamespace('gaid')).toBe('gaid');
    expect(deviceKindForNamespace('Android_ID')).toBe('android_id');
    expect(deviceKindForNamespace('Email')).toBeUndefined();
  });

  it('recognizes standard namespaces without case', () => {
    expect(standardNamespace('email_lc_sha256')).toBe('Email_LC_SHA256');
    expect(standardNamespace('PHONE_E.164')).toBe('Phone_E.164');
    expect(standardNamespace('ECID')).toBeUndefined();
  });
});

describe('validateMapping', () => {
  it('accepts the typical X mapping', () => {
    expect(
      validateMapping([
        row('Email', 'email', true),
        row('Email_LC_SHA256', 'email', false),
        row('Phone_E.164', 'phone_number', true),
        row('Phone_SHA256', 'phone_number', false),
        row('IDFA', 'device_id', true),
        row('GAID', 'device_id', true),
        row('CRM_ID', 'partner_user_id', false),
        row('CUSTOM_SHA256', 'email', false),
        row('CustomHandles', 'handle', true),
        row('CustomHashedHandles', 'handle', false),
        row('person.xHandle', 'handle', true, 'attribute'),
        row('person.emailDigest', 'email', false, 'attribute'),
      ]),
    ).toEqual({ ok: true });
  });

  it('requires at least one identity target', () => {
    expect(validateMapping([])).toEqual({
      ok: false,
      problems: [
        {
          index: -1,
          field: 'rows',
          reason: 'map at least one source to an X identifier (e.g. Email → email)',
        },
      ],
    });
    expect(validateMapping('Email → email')).toMatchObject({
      ok: false,
      problems: [{ index: -1, field: 'rows' }],
    });
  });

  it('refuses Apply transformation on hashed sources', () => {
    expect(
      validateMapping([row('Email_LC_SHA256', 'email', true), row('MY_SHA256', 'handle', true)]),
    ).toMatchObject({
      ok: false,
      problems: [
        {
          index: 0,
          field: 'applyTransformation',
          reason: expect.stringContaining('already holds SHA-256 digests'),
        },
        { index: 1, field: 'applyTransformation' },
      ],
    });
  });

  it('requires Apply transformation on plain standard sources of hashed targets', () => {
    for (const [source, target] of [
      ['Email', 'email'],
      ['Phone', 'phone_number'],
      ['Phone_E.164', 'phone_number'],
      ['IDFA', 'device_id'],
      ['GAID', 'device_id'],
    ] as const) {
      expect(validateMapping([row(source, target, false)])).toMatchObject({
        ok: false,
        problems: [
          {
            index: 0,
            field: 'applyTransformation',
            reason: expect.stringContaining('turn "Apply transformation" on'),
          },
        ],
      });
    }
  });

  it('rejects unknown targets, bad rows and mismatched standard namespaces', () => {
    const result = validateMapping([
      { sourceType: 'namespace', source: 'Email', target: 'ip_address', applyTransformation: true },
      { sourceType: 'segment', source: '', target: 'email', applyTransformation: 'yes' },
      null,
      row('Email', 'partner_user_id', false),
      row('CRM', 'partner_user_id', true),
      row('IDFA', 'email', true),
      row('x'.repeat(256), 'email', true, 'attribute'),
    ]);
    expect(result).toEqual({
      ok: false,
      problems: [
        { index: 0, field: 'target', reason: expect.stringContaining('unknown target') },
        { index: 1, field: 'sourceType', reason: expect.any(String) },
        { index: 1, field: 'source', reason: expect.any(String) },
        { index: 1, field: 'applyTransformation', reason: 'must be true or false' },
        { index: 2, field: 'rows', reason: expect.any(String) },
        { index: 3, field: 'target', reason: 'the Email namespace can only be mapped to email' },
        {
          index: 4,
          field: 'applyTransformation',
          reason: expect.stringContaining('partner_user_id unhashed'),
        },
        { index: 5, field: 'target', reason: 'the IDFA namespace can only be mapped to device_id' },
        { index: 6, field: 'source', reason: 'must be at most 255 characters' },
      ],
    });
  });

  it('refuses the same source mapped to the same target twice: namespaces without case, attribute paths exactly', () => {
    const result = validateMapping([
      row('Email', 'email', true),
      row('email', 'email', true),
      row('CRM_ID', 'partner_user_id', false),
      row('CRM_ID', 'partner_user_id', false),
      row('person.email', 'email', true, 'attribute'),
      row('person.Email', 'email', true, 'attribute'),
      row('person.email', 'email', true, 'attribute'),
      row('MY_KEY', 'handle', true),
      row('my_key', 'handle', false),
    ]);
    expect(result).toEqual({
      ok: false,
      problems: [
        {
          index: 1,
          field: 'source',
          reason:
            'maps the namespace "email" to email again: row 1 ("Email" → email) already does (namespace names match ' +
            'without regard to case). Remove one of the two rows',
        },
        {
          index: 3,
          field: 'source',
          reason:
            'maps the namespace "CRM_ID" to partner_user_id again: row 3 ("CRM_ID" → partner_user_id) already does. Remove one of the two rows',
        },
        {
          index: 6,
          field: 'source',
          reason: expect.stringContaining('maps the attribute "person.email" to email again: row 5 ('),
        },
        { index: 8, field: 'source', reason: expect.stringContaining('differ in "Apply transformation"') },
      ],
    });
    // The same source to another target, or another source to the same target, is no repeat.
    expect(
      validateMapping([
        row('CRM_ID', 'partner_user_id', false),
        row('CRM_ID', 'handle', true),
        row('Email', 'email', true),
        row('Email', 'email', true, 'attribute'),
      ]),
    ).toEqual({ ok: true });
    // The API names the other row by its JSON path.
    expect(
      validateMapping([row('Email', 'email', true), row('EMAIL', 'email', true)], {
        rowName: (i) => `mapping[${i}]`,
      }),
    ).toMatchObject({
      ok: false,
      problems: [{ index: 1, reason: expect.stringContaining('mapping[0] ("Email"') }],
    });
  });

  it('never throws on arbitrary input', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 3 }), (value) => {
        const result = validateMapping(value);
        expect(typeof result.ok).toBe('boolean');
      }),
      { numRuns: 500 },
    );
  });
});

describe('applyMapping', () => {
  const digest = sha256Hex('jane@example.com');

  it('normalizes, hashes and de-duplicates into an X user', () => {
    const result = applyMapping(
      [
        row('Email', 'email', true),
        row('Email_LC_SHA256', 'email', false),
        row('Phone', 'phone_number', true),
        row('IDFA', 'device_id', true),
        row('CRM_ID', 'partner_user_id', false),
      ],
      profile({
        identityMap: {
          email: [{ id: ' Jane@Example.com ' }, { id: 'jane@example.com' }, { id: 'not-an-email' }],
          email_lc_sha256: [{ id: digest.toUpperCase() }, { id: 'jane@example.com' }],
          Phone: [{ id: '(212) 555-0100' }],
          IDFA: [{ id: 'DD99CFF7-6186-4602-9DF2-ED3FD0B2D431' }, { id: 'af3802a465767e36' }],
          CRM_ID: [{ id: ' crm-1 ' }],
          ECID: [{ id: '123' }],
        },
      }),
      { region: 'US' },
    );
    expect(result.user).toEqual({
      email: [digest],
      device_id: ['68f1e36d59114f15c1db66ec89e47691b6afdc629e463f86189976f8614edd41'],
      phone_number: [sha256Hex('+12125550100')],
      partner_user_id: ['crm-1'],
    });
    expect(result.rejected).toEqual([
      { source: 'Email', target: 'email', code: 'email_missing_at', message: expect.any(String) },
      { source: 'Email_LC_SHA256', target: 'email', code: 'hash_invalid', message: expect.any(String) },
      { source: 'IDFA', target: 'device_id', code: 'device_id_kind_mismatch', message: expect.any(String) },
    ]);
    // Rejections describe the problem, never the value.
    expect(JSON.stringify(result.rejected)).not.toContain('not-an-email');
  });

  it('never hashes a hashed namespace again, even if the row asks', () => {
    const result = applyMapping(
      [row('Email_LC_SHA256', 'email', true)],
      profile({ identityMap: { Email_LC_SHA256: [{ id: digest }] } }),
    );
    expect(result.user).toEqual({ email: [digest] });
  });

  it('without Apply transformation treats values as digests and refuses plain ones', () => {
    const result = applyMapping(
      [row('Email', 'email', false)],
      profile({ identityMap: { Email: [{ id: 'jane@example.com' }] } }),
    );
    expect(result).toEqual({
      user: {},
      rejected: [{ source: 'Email', target: 'email', code: 'hash_invalid', message: expect.any(String) }],
    });
  });

  it('reads attributes: exact keys, dotted paths, freeform {value}, raw XDM fields, lists and numbers', () => {
    const result = applyMapping(
      [
        row('personalEmail.address', 'email', true, 'attribute'),
        row('loyalty.handle', 'handle', true, 'attribute'),
        row('social.xId', 'twitter_id', true, 'attribute'),
        row('phones', 'phone_number', true, 'attribute'),
        row('missing.path', 'email', true, 'attribute'),
        row('blank', 'email', true, 'attribute'),
        row('flag', 'partner_user_id', false, 'attribute'),
      ],
      profile({
        attributes: {
          'loyalty.handle': { value: '@AdsAPI' },
          social: { xId: 143567 },
          phones: { value: ['+12125550100', '+12125550100', '+442079460958'] },
          blank: {},
          flag: true,
        },
        personalEmail: { address: 'John.Doe@Acme.com' },
      }),
    );
    expect(result.user).toEqual({
      email: [sha256Hex('john.doe@acme.com')],
      phone_number: [sha256Hex('+12125550100'), sha256Hex('+442079460958')],
      handle: ['49e0be2aeccfb51a8dee4c945c8a70a9ac500cf6f5cb08112575f74db9b1470d'],
      twitter_id: ['617b8747525a154b1ecf75a42d883df00e0dd6d0f981bea57ac7bdce73e57eae'],
    });
    expect(result.rejected).toEqual([
      { source: 'flag', target: 'partner_user_id', code: 'not_text', message: expect.any(String) },
    ]);
  });

  it('every sent value is a digest except partner_user_id', () => {
    fc.assert(
      fc.property(
        fc.array(fc.string({ unit: 'binary', maxLength: 40 }), { maxLength: 5 }),
        fc.constantFrom('email', 'device_id', 'phone_number', 'handle', 'twitter_id' as const),
        fc.boolean(),
        (ids, target, transform) => {
          const result = applyMapping(
            [row('Custom', target, transform)],
            profile({ identityMap: { Custom: ids.map((id) => ({ id })) } }),
            { region: 'US' },
          );
          for (const value of result.user[target] ?? []) expect(value).toMatch(/^[0-9a-f]{64}$/);
          expect((result.user[target]?.length ?? 0) + result.rejected.length).toBeLessThanOrEqual(ids.length);
        },
      ),
      { numRuns: 1000 },
    );
  });
});
