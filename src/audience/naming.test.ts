import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FORBIDDEN_NAME_CHARACTERS, sanitizeAudienceName, validateAudienceName } from './naming.ts';

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
    expect(result).toMatchObject({ suggestion: 'ab' });
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
