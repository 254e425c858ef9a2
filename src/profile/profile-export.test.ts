import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseProfileExport } from './profile-export.ts';

// The sample an AEP HTTP destination documents, with raw XDM fields beside the export sections.
const SAMPLE = {
  person: { birthDate: '1990-01-01', name: { firstName: 'John', lastName: 'Doe' } },
  personalEmail: { address: 'john.doe@acme.com' },
  segmentMembership: {
    ups: {
      '7841ba61-23c1-4bb3-a495-00d3g58fe1d4': {
        lastQualificationTime: '2022-01-11T21:24:39Z',
        status: 'exited',
      },
      '59bd2fkd-3c48-4b18-bf56-4f5c5e6967ae': {
        lastQualificationTime: '2022-01-02T23:37:33Z',
        status: 'realized',
      },
    },
  },
  identityMap: {
    ecid: [
      { id: '14575006536349286404619648085736425115' },
      { id: '66478888669296734530114754794777368480' },
    ],
    email_lc_sha256: [
      { id: '655332b5fa2aea4498bf7a290fff017bc3a4e3e2a0a6c7e1e7bd1cd2d4e8d71c', primary: true },
    ],
  },
};

describe('parseProfileExport', () => {
  it('parses the documented sample and keeps unknown fields', () => {
    const result = parseProfileExport(SAMPLE);
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.profile.segmentMembership).toEqual(SAMPLE.segmentMembership);
    expect(result.profile.identityMap).toEqual(SAMPLE.identityMap);
    expect(result.profile.attributes).toEqual({});
    expect(result.profile['personalEmail']).toEqual({ address: 'john.doe@acme.com' });
    expect(result.profile['person']).toEqual(SAMPLE.person);
  });

  it('refuses a lastQualificationTime on a day its month does not have, and takes a leap day', () => {
    const at = (lastQualificationTime: string) =>
      parseProfileExport({
        segmentMembership: { ups: { s: { status: 'realized', lastQualificationTime } } },
        identityMap: {},
      });
    for (const time of [
      '2022-02-31T00:00:00Z',
      '2023-02-29T10:00:00Z',
      '2022-04-31T10:00:00+02:00',
      '2022-13-01T00:00:00Z',
    ])
      expect(at(time), time).toEqual({
        ok: false,
        errors: [
          {
            path: '$.segmentMembership.ups.s.lastQualificationTime',
            reason: 'must be an ISO 8601 instant, e.g. 2022-01-11T21:24:39Z',
          },
        ],
      });
    for (const time of ['2024-02-29T23:59:59Z', '2022-12-31T00:00:00.5-05:00', '2022-01-11T21:24Z'])
      expect(at(time).ok, time).toBe(true);
  });

  it('accepts all three statuses, names, authenticated states and extra membership fields', () => {
    const result = parseProfileExport({
      segmentMembership: {
        ups: {
          a: { status: 'realized', name: 'Buyers', createdAt: 1700000000000 },
          b: { status: 'existing' },
          c: { status: 'exited', lastQualificationTime: '2024-02-29T12:00:00.123+01:00' },
        },
        CustomerAudienceUpload: {},
      },
      identityMap: {
        Email: [{ id: 'a@b.co', authenticatedState: 'authenticated', primary: false, extra: 1 }],
        GAID: [],
      },
      attributes: { loyalty: { value: 'gold' }, age: 42 },
    });
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.profile.segmentMembership['ups']?.['a']).toEqual({
      status: 'realized',
      name: 'Buyers',
      createdAt: 1700000000000,
    });
    expect(result.profile.identityMap['Email']?.[0]?.['extra']).toBe(1);
    expect(result.profile.attributes).toEqual({ loyalty: { value: 'gold' }, age: 42 });
  });

  it('reports every problem with its JSON path', () => {
    const result = parseProfileExport({
      segmentMembership: {
        ups: {
          'seg-1': { status: 'exiting', lastQualificationTime: 'yesterday' },
          seg2: 'realized',
        },
        broken: [],
      },
      identityMap: {
        email: [{ id: '' }, { id: 'x', authenticatedState: 'maybe', primary: 'yes' }, 'a@b.co'],
        phone: { id: '+1' },
      },
      attributes: [],
    });
    expect(result).toEqual({
      ok: false,
      errors: [
        {
          path: '$.segmentMembership.ups["seg-1"].status',
          reason: 'must be one of realized, existing, exited',
        },
        {
          path: '$.segmentMembership.ups["seg-1"].lastQualificationTime',
          reason: 'must be an ISO 8601 instant, e.g. 2022-01-11T21:24:39Z',
        },
        {
          path: '$.segmentMembership.ups.seg2',
          reason: 'must be an object { status, lastQualificationTime }',
        },
        {
          path: '$.segmentMembership.broken',
          reason: 'must be an object of audience id → { status, lastQualificationTime }',
        },
        { path: '$.identityMap.email[0].id', reason: 'must be a non-empty string' },
        {
          path: '$.identityMap.email[1].authenticatedState',
          reason: 'must be one of ambiguous, authenticated, loggedOut',
        },
        { path: '$.identityMap.email[1].primary', reason: 'must be true or false' },
        { path: '$.identityMap.email[2]', reason: 'must be an object { id, authenticatedState?, primary? }' },
        { path: '$.identityMap.phone', reason: 'must be an array of { id, authenticatedState?, primary? }' },
        { path: '$.attributes', reason: 'must be an object' },
      ],
    });
  });

  it('says to write a status in lowercase when only its case is wrong', () => {
    const result = parseProfileExport({
      segmentMembership: { ups: { a: { status: 'Realized' }, b: { status: 'gone' } } },
      identityMap: {},
    });
    expect(result).toEqual({
      ok: false,
      errors: [
        {
          path: '$.segmentMembership.ups.a.status',
          reason: 'must be one of realized, existing, exited, in lowercase: write "realized"',
        },
        { path: '$.segmentMembership.ups.b.status', reason: 'must be one of realized, existing, exited' },
      ],
    });
  });

  it('refuses an identifier holding U+FFFD (bytes that were not UTF-8), and takes accented UTF-8 text', () => {
    const identityMap = (id: string) => ({ Email: [{ id: 'ok@x.com' }, { id }] });
    const bad = parseProfileExport({ segmentMembership: {}, identityMap: identityMap('jos\ufffd@x.com') });
    expect(bad).toEqual({
      ok: false,
      errors: [{ path: '$.identityMap.Email[1].id', reason: expect.stringMatching(/^holds U\+FFFD.*UTF-8/) }],
    });
    expect(parseProfileExport({ segmentMembership: {}, identityMap: identityMap('josé@x.com') }).ok).toBe(
      true,
    );
  });

  it('requires segmentMembership and identityMap', () => {
    expect(parseProfileExport({})).toMatchObject({
      ok: false,
      errors: [{ path: '$.segmentMembership' }, { path: '$.identityMap' }],
    });
  });

  it.each([null, undefined, 42, 'profile', [], true])('refuses %j as a profile', (input) => {
    expect(parseProfileExport(input)).toEqual({
      ok: false,
      errors: [{ path: '$', reason: 'a profile must be a JSON object' }],
    });
  });

  it('keeps a __proto__ key as data', () => {
    const input = JSON.parse(
      '{"__proto__":{"polluted":true},"segmentMembership":{},"identityMap":{"__proto__":[{"id":"x"}]}}',
    ) as unknown;
    const result = parseProfileExport(input);
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
    expect((result.profile as Record<string, unknown>)['polluted']).toBeUndefined();
    expect(Object.getOwnPropertyNames(result.profile)).toContain('__proto__');
    expect(Object.getOwnPropertyNames(result.profile.identityMap)).toEqual(['__proto__']);
  });

  it('never throws, whatever the input', () => {
    const hostile = new Proxy(
      {},
      {
        ownKeys() {
          throw new TypeError('no');
        },
      },
    );
    expect(parseProfileExport(hostile)).toMatchObject({ ok: false });
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 4 }), (value) => {
        const result = parseProfileExport(value);
        if (!result.ok) expect(result.errors.length).toBeGreaterThan(0);
      }),
      { numRuns: 1000 },
    );
    fc.assert(
      fc.property(
        fc.record({
          segmentMembership: fc.dictionary(
            fc.string(),
            fc.dictionary(fc.string(), fc.jsonValue({ maxDepth: 3 })),
          ),
          identityMap: fc.dictionary(fc.string(), fc.array(fc.jsonValue({ maxDepth: 3 }))),
          attributes: fc.jsonValue({ maxDepth: 3 }),
        }),
        (value) => {
          const result = parseProfileExport(value);
          if (!result.ok) expect(result.errors.length).toBeGreaterThan(0);
        },
      ),
      { numRuns: 1000 },
    );
  });

  it('round-trips: a parsed profile parses to itself', () => {
    const first = parseProfileExport(JSON.parse(JSON.stringify(SAMPLE)));
    expect(first.ok).toBe(true);
    if (!first.ok) return;
    expect(parseProfileExport(first.profile)).toEqual(first);
  });
});
