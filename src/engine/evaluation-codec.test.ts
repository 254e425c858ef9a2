import { describe, expect, it } from 'vitest';
import {
  decodeEvaluation,
  encodeEvaluation,
  EVALUATION_SEPARATOR,
  FIELD_SEPARATOR,
} from './evaluation-codec.ts';
import type { ProfileEvaluation } from './profile-state.ts';

const base: ProfileEvaluation = {
  key: 'k:00ff',
  previousKey: null,
  aliasKeys: [],
  laterAliasKeys: [],
  laterKey: false,
  valuesText: '{"email|Email|1":["ab"]}',
  users: ['{"email":["ab"]}'],
  consentDenied: [],
  rejections: {},
  memberships: new Map([['seg-a', true]]),
  foreignSegments: [],
};

describe('evaluation codec', () => {
  it('packs each evaluation in a line that unpacks as it was, whatever its fields hold', () => {
    const evaluations: ProfileEvaluation[] = [
      base,
      // No dataflow (no users) and one dataflow whose user is null must not read alike.
      { ...base, key: null, users: [] },
      // A re-keyed sandbox's evaluation carries the key before.
      { ...base, previousKey: 'u:ab12' },
      // A merged profile's evaluation carries the keys of its other ids.
      { ...base, aliasKeys: ['k:11aa', 'k:22bb'] },
      // The keys of its ids in later key namespaces, apart.
      { ...base, laterAliasKeys: ['k:33cc'] },
      { ...base, aliasKeys: ['k:11aa'], laterAliasKeys: ['k:33cc', 'k:44dd'] },
      // A profile keyed by a later key namespace says so.
      { ...base, laterKey: true },
      { ...base, users: [null] },
      { ...base, users: [null, '{"email":["cd"]}', null], consentDenied: [0, 2] },
      {
        ...base,
        // Separators inside segment ids, reasons and values: JSON escapes them.
        valuesText: '{"consent:consents.share.val":["n\\n\\u0001"]}',
        rejections: { 'email|Email|1': ['invalid_email', 'weird\n\u0001\u0002'] },
        memberships: new Map([
          ['seg\n\u0001\u0002', false],
          ['-', true],
        ]),
        foreignSegments: ['other\nseg', ''],
      },
      { ...base, memberships: new Map() },
    ];
    for (const evaluation of evaluations) {
      const line = encodeEvaluation(evaluation);
      expect(line).not.toContain(EVALUATION_SEPARATOR);
      expect(decodeEvaluation(line.split(FIELD_SEPARATOR))).toEqual(evaluation);
      // Fields may follow others on a line.
      expect(decodeEvaluation(['7', 'v', ...line.split(FIELD_SEPARATOR)], 2)).toEqual(evaluation);
    }
  });
});
