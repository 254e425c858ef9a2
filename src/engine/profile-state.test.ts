import { describe, expect, it } from 'vitest';
import { parseProfileExport } from '../profile/index.ts';
import { evaluateProfile, type EvaluationContext } from './profile-state.ts';

const context: EvaluationContext = {
  rows: new Map(),
  keyNamespaces: ['ECID', 'CRMID'],
  previousKeyNamespaces: null,
  keyAliases: false,
  dataflows: [],
};
const keyHash = (namespace: string, id: string) => `${namespace}/${id}`;

function evaluate(identityMap: Record<string, Array<{ id: string }>>) {
  const parsed = parseProfileExport({ segmentMembership: {}, identityMap });
  if (!parsed.ok) throw new Error('not a profile');
  return evaluateProfile(parsed.profile, context, keyHash);
}

describe('evaluateProfile keys', () => {
  it('keys a profile by the ids of a key namespace however its spellings split them', () => {
    const split = evaluate({ ECID: [{ id: 'b' }], ecid: [{ id: 'a' }] });
    const together = evaluate({ ECID: [{ id: 'a' }, { id: 'b' }] });
    expect(split).toMatchObject({ key: 'k:ECID/a', aliasKeys: ['k:ECID/b'] });
    expect(together).toMatchObject({ key: split.key, aliasKeys: split.aliasKeys });
    // The same id under both spellings is one id.
    expect(evaluate({ ECID: [{ id: 'a' }], Ecid: [{ id: 'a' }] })).toMatchObject({
      key: 'k:ECID/a',
      aliasKeys: [],
    });
  });

  it('keys no profile by a blank id, which would make one profile of everyone who has it', () => {
    expect(evaluate({ ECID: [{ id: '  ' }], CRMID: [{ id: 'c1' }] })).toMatchObject({
      key: 'k:CRMID/c1',
      laterKey: true,
    });
    expect(evaluate({ ECID: [{ id: ' ' }, { id: 'e1' }] })).toMatchObject({
      key: 'k:ECID/e1',
      aliasKeys: [],
    });
    expect(evaluate({ ECID: [{ id: '\t' }] }).key).toBeNull();
  });
});
