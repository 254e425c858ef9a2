import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  FORBIDDEN_NAME_CHARACTERS,
  sanitizeAudienceName,
  validateAudienceName,
  validateDisplayName,
  validateSegmentId,
} from './naming.ts';

describe('validateAudienceName', () => {
  it('accepts plain names and returns them trimmed', () => {
    expect(validateAudienceName('US and European Shoppers', { field: 'name' })).toEqual({
      ok: true,
      value: 'US and European Shoppers',
    });
    expect(validateAudienceName('  Cart abandoners (30 days) – EU  ', { field: 'mappingName' })).toEqual({
      ok: true,
      value: 'Cart abandoners (30 days) – EU',
    });
    expect(validateAudienceName('Käufer 🛒 #1', { field: 'description' })).toMatchObject({ ok: true });
  });

  it('lists the offending character with its position and suggests a sanitized name', () => {
    const result = validateAudienceName('US, European Shoppers', { field: 'name' });
    expect(result).toEqual({
      ok: false,
      problems: [{ char: ',', index: 2, reason: 'forbidden_character' }],
      suggestion: 'US European Shoppers',
      message: expect.stringContaining('"," at position 2'),
    });
    if (!result.ok) expect(result.message).toContain('Suggestion: "US European Shoppers"');
  });

  it.each([...FORBIDDEN_NAME_CHARACTERS])('refuses %s', (char) => {
    const result = validateAudienceName(`a${char}b`, { field: 'name' });
    expect(result).toMatchObject({
      ok: false,
      problems: [{ char, index: 1, reason: 'forbidden_character' }],
    });
    // The character stood between two words: they stay apart.
    expect(result).toMatchObject({ suggestion: 'a b' });
  });

  it('turns each refused character into a space in the suggestion, collapsing runs and trimming', () => {
    for (const [value, suggestion] of [
      ['Buyers,US EU', 'Buyers US EU'],
      ['Acme: US/EU', 'Acme US EU'],
      ['Buyers, US EU', 'Buyers US EU'],
      ['@Buyers + Sellers?', 'Buyers Sellers'],
      ['50% off; EU', '50 off EU'],
    ] as const) {
      const result = validateAudienceName(value, { field: 'mappingName' });
      expect(result, value).toMatchObject({ ok: false, suggestion });
      if (!result.ok) expect(result.message).toContain(`Suggestion: ${JSON.stringify(suggestion)}.`);
    }
  });

  it('refuses newlines and other control characters, keeping words apart in the suggestion', () => {
    const result = validateAudienceName('Line one\nline\ttwo\u0085', { field: 'description' });
    expect(result).toMatchObject({
      ok: false,
      problems: [
        { char: '\n', index: 8, reason: 'control_character' },
        { char: '\t', index: 13, reason: 'control_character' },
        { char: '\u0085', index: 17, reason: 'control_character' },
      ],
      suggestion: 'Line one line two',
    });
  });

  it('refuses unpaired surrogates but keeps pairs', () => {
    expect(validateAudienceName('a\ud800b', { field: 'name' })).toMatchObject({
      ok: false,
      problems: [{ index: 1, reason: 'invalid_utf16' }],
      suggestion: 'ab',
    });
  });

  it('refuses empty and whitespace-only values', () => {
    for (const value of ['', '   ', '\t']) {
      const result = validateAudienceName(value, { field: 'name' });
      expect(result).toMatchObject({ ok: false, suggestion: '' });
      if (!result.ok) expect(result.problems[0]).toEqual({ char: '', index: 0, reason: 'empty' });
    }
    expect(validateAudienceName('@@@', { field: 'name' })).toMatchObject({ ok: false, suggestion: '' });
  });

  it('enforces the per-field maximum length', () => {
    // Destination and dataflow names: the service's limit.
    expect(validateAudienceName('a'.repeat(200), { field: 'name' })).toMatchObject({ ok: true });
    const long = validateAudienceName(`  ${'a'.repeat(201)}`, { field: 'name' });
    expect(long).toMatchObject({ ok: false, problems: [{ index: 202, reason: 'too_long' }] });
    if (!long.ok) expect(long.suggestion).toHaveLength(200);
    expect(validateAudienceName('a'.repeat(1000), { field: 'description' })).toMatchObject({ ok: true });
    expect(validateAudienceName('a'.repeat(1001), { field: 'description' })).toMatchObject({ ok: false });
    expect(validateAudienceName('x'.repeat(2_000_000), { field: 'mappingName' })).toMatchObject({
      ok: false,
    });
    // A mapping name leaves room under 255 for the " (2)" X may need.
    expect(validateAudienceName('m'.repeat(200), { field: 'mappingName' })).toMatchObject({ ok: true });
    expect(validateAudienceName('m'.repeat(201), { field: 'mappingName' })).toMatchObject({ ok: false });
  });

  it('sanitizeAudienceName returns the valid value or the suggestion', () => {
    expect(sanitizeAudienceName('Buyers: 2024 / Q1', 'name')).toBe('Buyers 2024 Q1');
    expect(sanitizeAudienceName('Buyers:2024/Q1', 'name')).toBe('Buyers 2024 Q1');
    expect(sanitizeAudienceName('Buyers', 'name')).toBe('Buyers');
  });

  it('is total, and every suggestion that is not empty is itself valid', () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.string({ unit: 'binary', maxLength: 300 }), fc.string({ maxLength: 300 })),
        fc.constantFrom('name', 'description', 'mappingName' as const),
        (value, field) => {
          const result = validateAudienceName(value, { field });
          if (result.ok) return;
          expect(result.problems.length).toBeGreaterThan(0);
          if (result.suggestion.length > 0) {
            expect(validateAudienceName(result.suggestion, { field })).toEqual({
              ok: true,
              value: result.suggestion,
            });
          }
        },
      ),
      { numRuns: 2000 },
    );
  });
});

describe('validateDisplayName', () => {
  it("accepts any printable text, X's forbidden characters included, and returns it trimmed", () => {
    expect(validateDisplayName('  CRM to X, daily: US/EU ', { label: 'dataflow name' })).toEqual({
      ok: true,
      value: 'CRM to X, daily: US/EU',
    });
    expect(validateDisplayName('Käufer 🛒', { label: 'segment name' })).toEqual({
      ok: true,
      value: 'Käufer 🛒',
    });
  });

  it('refuses blank names, saying what the name is', () => {
    for (const value of ['', '   ', '\u00a0\u2003']) {
      const result = validateDisplayName(value, { label: 'dataflow name' });
      expect(result, JSON.stringify(value)).toMatchObject({
        ok: false,
        problems: [{ char: '', index: 0, reason: 'empty' }],
        suggestion: '',
      });
      if (!result.ok) expect(result.message).toBe('The dataflow name is empty. Choose a new dataflow name.');
    }
  });

  it('refuses tabs, line breaks and other control characters, suggesting spaces in their place', () => {
    const result = validateDisplayName('Loyal\tCustomers\n', { label: 'segment name' });
    expect(result).toMatchObject({
      ok: false,
      problems: [
        { char: '\t', index: 5, reason: 'control_character' },
        { char: '\n', index: 15, reason: 'control_character' },
      ],
      suggestion: 'Loyal Customers',
    });
    if (!result.ok) {
      expect(result.message).toBe(
        'The segment name contains control characters: "\\t" at position 5, "\\n" at position 15. Use spaces instead of tabs and line breaks. Suggestion: "Loyal Customers".',
      );
    }
  });

  it('refuses names over 200 characters once trimmed', () => {
    expect(validateDisplayName(` ${'a'.repeat(200)} `, { label: 'segment name' })).toMatchObject({
      ok: true,
    });
    expect(validateDisplayName('a'.repeat(201), { label: 'segment name' })).toMatchObject({
      ok: false,
      problems: [{ index: 200, reason: 'too_long' }],
    });
  });

  it('is total, and every suggestion that is not empty is itself valid', () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.string({ unit: 'binary', maxLength: 300 }), fc.string({ maxLength: 300 })),
        (value) => {
          const result = validateDisplayName(value, { label: 'name' });
          if (result.ok) {
            expect(result.value).toBe(value.trim());
            return;
          }
          if (result.suggestion.length > 0)
            expect(validateDisplayName(result.suggestion, { label: 'name' })).toEqual({
              ok: true,
              value: result.suggestion,
            });
        },
      ),
      { numRuns: 1000 },
    );
  });
});

describe('validateSegmentId', () => {
  it('takes an id exactly as given', () => {
    expect(validateSegmentId('7841ba61-23c1-4bb3-a495-00d3a4e3e0d5')).toEqual({
      ok: true,
      value: '7841ba61-23c1-4bb3-a495-00d3a4e3e0d5',
    });
    expect(validateSegmentId('seg crm')).toEqual({ ok: true, value: 'seg crm' });
  });

  it('refuses a blank id without a suggestion', () => {
    for (const value of ['', '   ', '\t']) {
      const result = validateSegmentId(value);
      expect(result, JSON.stringify(value)).toMatchObject({
        ok: false,
        problems: [{ reason: 'empty' }],
        suggestion: '',
      });
      if (!result.ok) expect(result.message).toContain('give the id the source uses in segmentMembership');
    }
  });

  it('refuses whitespace around an id, never trimming it, and suggests the trimmed id', () => {
    const result = validateSegmentId(' seg-crm ');
    expect(result).toMatchObject({
      ok: false,
      problems: [{ char: ' ', index: 0, reason: 'surrounding_whitespace' }],
      suggestion: 'seg-crm',
    });
    if (!result.ok) expect(result.message).toMatch(/matched exactly .* Suggestion: "seg-crm"\.$/);
    expect(validateSegmentId('seg-crm\n')).toMatchObject({
      ok: false,
      problems: [{ char: '\n', index: 7, reason: 'surrounding_whitespace' }],
      suggestion: 'seg-crm',
    });
  });

  it('refuses control characters inside an id, with no suggestion', () => {
    const result = validateSegmentId('seg\tcrm');
    expect(result).toMatchObject({
      ok: false,
      problems: [{ char: '\t', index: 3, reason: 'control_character' }],
      suggestion: '',
    });
    if (!result.ok) expect(result.message).toContain('Copy the id again from the source.');
  });
});
