import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseCsvProfileHeader, parseCsvProfileRow, type CsvProfileLayout } from './csv-profile-row.ts';
import { parseProfileExport } from './profile-export.ts';

function layoutOf(header: string[]): CsvProfileLayout {
  const result = parseCsvProfileHeader(header);
  if (!result.ok) throw new TypeError(JSON.stringify(result.errors));
  return result.layout;
}

describe('parseCsvProfileHeader', () => {
  it('names the delimiter of a file separated by something else than commas', () => {
    for (const [header, named] of [
      ['profile_key;email;segment:4f1c', '";"'],
      ['profile_key\temail', 'tabs'],
      ['profile_key|email', '"|"'],
    ] as const) {
      const result = parseCsvProfileHeader([header]);
      expect(result.ok).toBe(false);
      expect(!result.ok && result.errors).toEqual([
        { path: 'header', reason: expect.stringContaining(`separate its columns with ${named}`) },
      ]);
    }
    // One column of a comma-separated file is only missing columns.
    const alone = parseCsvProfileHeader(['profile_key']);
    expect(!alone.ok && alone.errors.map((e) => e.reason)).toEqual([
      expect.stringContaining('no identity column'),
    ]);
  });

  it('classifies every column by the header convention', () => {
    const result = parseCsvProfileHeader([
      '\ufeffProfile_Key',
      ' Email ',
      'phone_e164',
      'email_sha256',
      'IDFA',
      'gaid',
      'phone',
      'phone_sha256',
      'identity:CRM_ID',
      'segment:4f1c',
      'segment:CustomerAudienceUpload/abc',
      'attr:person.name.firstName',
      'loyalty_tier',
    ]);
    expect(result).toMatchObject({
      ok: true,
      layout: {
        columns: [
          { kind: 'profileKey' },
          { kind: 'identity', namespace: 'Email' },
          { kind: 'identity', namespace: 'Phone_E.164' },
          { kind: 'identity', namespace: 'Email_LC_SHA256' },
          { kind: 'identity', namespace: 'IDFA' },
          { kind: 'identity', namespace: 'GAID' },
          { kind: 'identity', namespace: 'Phone' },
          { kind: 'identity', namespace: 'Phone_SHA256' },
          { kind: 'identity', namespace: 'CRM_ID' },
          { kind: 'segment', namespace: 'ups', segmentId: '4f1c' },
          { kind: 'segment', namespace: 'CustomerAudienceUpload', segmentId: 'abc' },
          { kind: 'attribute', path: 'person.name.firstName' },
          { kind: 'attribute', path: 'loyalty_tier' },
        ],
      },
    });
  });

  it('explains a bad header', () => {
    // One segment in two columns (its namespace named, or not): their cells could say opposite things.
    expect(
      parseCsvProfileHeader([
        'profile_key',
        'email',
        'segment:seg',
        'segment:UPS/seg',
        'attr:x',
        'segment:seg',
      ]),
    ).toEqual({
      ok: false,
      errors: [
        {
          path: 'header column 4',
          reason: 'the column names segment seg of namespace UPS, as column 3 does',
        },
        { path: 'header column 6', reason: 'the column "segment:seg" appears twice' },
      ],
    });
    expect(parseCsvProfileHeader(['email', 'Email', '', 'segment:', 'identity: ', 'attr:'])).toEqual({
      ok: false,
      errors: [
        { path: 'header column 2', reason: 'the column "Email" appears twice' },
        { path: 'header column 3', reason: 'the column has no name' },
        {
          path: 'header column 4',
          reason: '"segment:" must be followed by an audience id, or by <namespace>/<audience id>',
        },
        { path: 'header column 5', reason: '"identity:" must be followed by a namespace' },
        { path: 'header column 6', reason: '"attr:" must be followed by an attribute path' },
        { path: 'header', reason: 'a "profile_key" column is required: it keys each row across imports' },
      ],
    });
    expect(parseCsvProfileHeader(['profile_key', 'segment:a'])).toMatchObject({
      ok: false,
      errors: [{ path: 'header', reason: expect.stringContaining('no identity column') }],
    });
  });
});

describe('parseCsvProfileRow', () => {
  const layout = layoutOf(['profile_key', 'email', 'gaid', 'segment:s1', 'segment:s2', 'segment:s3', 'tier']);

  it('builds a profile AEP-shaped, which the profile parser accepts', () => {
    const result = parseCsvProfileRow(
      layout,
      [' crm-1 ', 'Jane@Example.com | jane@work.example.com|Jane@Example.com', '', '1', 'exited', ''],
      { lastQualificationTime: '2026-01-01T00:00:00Z' },
    );
    // Wrong cell count first: the header has seven columns.
    expect(result).toEqual({ ok: false, errors: [{ path: 'row', reason: 'has 6 cells; the header has 7' }] });

    const ok = parseCsvProfileRow(
      layout,
      [' crm-1 ', 'Jane@Example.com | jane@work.example.com|Jane@Example.com', '', '1', 'exited', '', 'gold'],
      { lastQualificationTime: '2026-01-01T00:00:00Z', line: 2 },
    );
    expect(ok).toEqual({
      ok: true,
      profileKey: 'crm-1',
      profile: {
        identityMap: { Email: [{ id: 'Jane@Example.com' }, { id: 'jane@work.example.com' }] },
        segmentMembership: {
          ups: {
            s1: { status: 'realized', lastQualificationTime: '2026-01-01T00:00:00Z' },
            s2: { status: 'exited', lastQualificationTime: '2026-01-01T00:00:00Z' },
          },
        },
        attributes: { tier: { value: 'gold' } },
      },
    });
    if (ok.ok) expect(parseProfileExport(ok.profile)).toEqual({ ok: true, profile: ok.profile });
  });

  it.each([
    ['1', 'realized'],
    ['TRUE', 'realized'],
    ['yes', 'realized'],
    ['Realized', 'realized'],
    ['existing', 'existing'],
    ['0', 'exited'],
    ['false', 'exited'],
    ['No', 'exited'],
    ['exited', 'exited'],
  ])('reads segment cell %j as %s', (cell, status) => {
    const result = parseCsvProfileRow(layout, ['k', 'a@b.co', '', cell, '', '', '']);
    expect(result).toMatchObject({ ok: true, profile: { segmentMembership: { ups: { s1: { status } } } } });
  });

  it('reports bad cells with line and column', () => {
    expect(parseCsvProfileRow(layout, ['', 'a@b.co', '', 'maybe', '', '', ''], { line: 7 })).toEqual({
      ok: false,
      errors: [
        { path: 'line 7, column "profile_key"', reason: 'the profile key is empty' },
        {
          path: 'line 7, column "segment:s1"',
          reason: 'a segment cell is 1/true/yes/realized, existing, 0/false/no/exited, or empty',
        },
      ],
    });
  });

  it('never throws on arbitrary cells', () => {
    fc.assert(
      fc.property(fc.array(fc.string({ unit: 'binary' }), { minLength: 0, maxLength: 9 }), (row) => {
        const result = parseCsvProfileRow(layout, row);
        if (result.ok) expect(parseProfileExport(result.profile).ok).toBe(true);
      }),
      { numRuns: 1000 },
    );
  });
});
