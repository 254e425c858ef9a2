import { describe, expect, it } from 'vitest';
import type { MappingRow } from '../audience/mapping.ts';
import { parseCsvProfileHeader } from '../profile/index.ts';
import { mappingRowKey } from './dataflow-context.ts';
import {
  decodeEvaluatedItems,
  evaluateImportItems,
  evaluateImportItemsEncoded,
  type ImportTask,
} from './import-evaluate.ts';
import type { PlainEvaluationContext } from './profile-state.ts';

const email: MappingRow = {
  sourceType: 'namespace',
  source: 'Email',
  target: 'email',
  applyTransformation: true,
};
const phone: MappingRow = {
  sourceType: 'namespace',
  source: 'Phone_E.164',
  target: 'phone_number',
  applyTransformation: true,
};
const context: PlainEvaluationContext = {
  rows: [email, phone].map((row) => [mappingRowKey(row), row]),
  keyNamespaces: ['ECID'],
  previousKeyNamespaces: null,
  keyAliases: false,
  dataflows: [
    { id: 'df-open', mapping: [email, phone], rowKeys: [email, phone].map(mappingRowKey), consent: [] },
    {
      id: 'df-consent',
      mapping: [email],
      rowKeys: [mappingRowKey(email)],
      consent: [{ policyId: 'p1', attribute: 'consents.share.val', allowed: ['y'] }],
    },
  ],
};
const hash = (namespace: string, id: string) => `${namespace}|${id}`.replace(/[^a-z0-9]/gi, '0');

function profile(fields: Record<string, unknown>): string {
  return JSON.stringify({ identityMap: {}, segmentMembership: {}, ...fields });
}

// Every shape an item can take: errors, no key, consent refused, rejected identifiers, foreign segments, and segment
// ids holding the characters the packing separates on.
const lines = [
  profile({
    identityMap: {
      ECID: [{ id: 'e1' }],
      Email: [{ id: 'A@Example.com' }],
      'Phone_E.164': [{ id: '+14155550100' }],
    },
    segmentMembership: { ups: { 'seg\n\u0001\u0002a': { status: 'realized' }, b: { status: 'exited' } } },
    attributes: { 'consents.share.val': 'n' },
  }),
  'not json',
  profile({ segmentMembership: 'wrong' }),
  profile({
    identityMap: { Email: [{ id: 'no-at-sign' }], 'Phone_E.164': [{ id: '12' }] },
    segmentMembership: { ups: { a: { status: 'existing' } }, other: { c: { status: 'realized' } } },
  }),
  '',
  profile({
    identityMap: { Email: [{ id: 'b@example.com' }] },
    segmentMembership: { ups: { a: { status: 'realized' } } },
  }),
];

describe('evaluateImportItemsEncoded', () => {
  const tasks: Array<[string, ImportTask]> = [
    ['ndjson', { kind: 'ndjson', chunk: Buffer.from(lines.join('\n')), firstLine: 7, context }],
    [
      'json',
      {
        kind: 'json',
        items: lines.filter((l) => l !== '').map((text, i) => ({ line: i + 1, text })),
        context,
      },
    ],
  ];
  for (const [name, task] of tasks) {
    it(`packs ${name} items that unpack to what evaluateImportItems returns`, () => {
      const plain = evaluateImportItems(task, hash);
      expect(plain.length).toBeGreaterThan(4);
      expect(plain.some((item) => 'errors' in item)).toBe(true);
      expect(plain.some((item) => 'evaluation' in item && item.evaluation.consentDenied.length > 0)).toBe(
        true,
      );
      expect(
        plain.some((item) => 'evaluation' in item && Object.keys(item.evaluation.rejections).length > 0),
      ).toBe(true);
      expect(plain.some((item) => 'evaluation' in item && item.evaluation.foreignSegments.length > 0)).toBe(
        true,
      );
      expect(plain.some((item) => 'evaluation' in item && item.evaluation.key === null)).toBe(true);
      expect(decodeEvaluatedItems(evaluateImportItemsEncoded(task, hash))).toEqual(plain);
    });
  }

  it('packs a CSV batch, and keeps no user apart from no dataflow', () => {
    const header = parseCsvProfileHeader(['profile_key', 'email', 'segment:a']);
    if (!header.ok) throw new Error('bad header');
    const records = [
      { line: 2, record: ['crm-1', 'c@example.com', '1'] },
      { line: 3, record: ['crm-2', '', 'exited'] },
      { line: 4, record: ['', 'd@example.com', 'maybe'] },
    ];
    for (const dataflows of [context.dataflows, []]) {
      const task: ImportTask = {
        kind: 'csv',
        layout: header.layout,
        records,
        keyNamespace: 'CRMID',
        lastQualificationTime: '2026-06-01T00:00:00Z',
        context: { ...context, dataflows },
      };
      const plain = evaluateImportItems(task, hash);
      expect(plain).toHaveLength(3);
      const users = plain.flatMap((item) => ('evaluation' in item ? [item.evaluation.users] : []));
      expect(users.some((u) => u.length > 0 && u.includes(null))).toBe(dataflows.length > 0);
      expect(decodeEvaluatedItems(evaluateImportItemsEncoded(task, hash))).toEqual(plain);
    }
  });

  it('packs an empty batch as an empty string', () => {
    const task: ImportTask = { kind: 'ndjson', chunk: Buffer.from('\n\n'), firstLine: 1, context };
    expect(evaluateImportItemsEncoded(task, hash)).toBe('');
    expect(decodeEvaluatedItems('')).toEqual([]);
  });
});

describe('evaluateImportItems, NDJSON lines too long to be a profile', () => {
  it('rejects a line longer than the limit by its number and evaluates the lines around it', () => {
    const good = (id: string) =>
      profile({ identityMap: { ECID: [{ id }], Email: [{ id: `${id}@example.com` }] } });
    const long = profile({ identityMap: { ECID: [{ id: 'big' }] }, attributes: { blob: 'y'.repeat(500) } });
    const chunk = Buffer.from([good('a'), long, '', good('b')].join('\n'));
    const task: ImportTask = { kind: 'ndjson', chunk, firstLine: 3, context };
    // A chunk above the limit is read line by line: a line above it is never decoded (a file's line can outgrow
    // what a string holds), and is that line's problem alone.
    const items = evaluateImportItems(task, hash, { maxItemBytes: 400 });
    expect(items.map((item) => [item.line, 'errors' in item])).toEqual([
      [3, false],
      [4, true],
      [6, false],
    ]);
    expect(items[1]).toMatchObject({ errors: [{ path: '', reason: expect.stringContaining('400 bytes') }] });
    // Under the limit, the same chunk evaluates as before.
    expect(evaluateImportItems(task, hash).filter((item) => 'errors' in item)).toEqual([]);
  });
});
