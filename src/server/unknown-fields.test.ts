import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { unknownFields } from './unknown-fields.ts';

const schema = z
  .object({
    name: z.string().optional(),
    maxBatchAgeSeconds: z.number().int().default(900),
    audiences: z
      .array(z.object({ segmentId: z.string(), endDate: z.string().nullable().optional() }))
      .optional(),
    settings: z.record(z.string(), z.unknown()).optional(),
    extra: z.looseObject({ kept: z.string() }).optional(),
  })
  .refine((v) => v.name !== '', { message: 'no empty name' });

describe('unknownFields', () => {
  it('names a misspelt field with the one it is closest to', () => {
    expect(unknownFields(schema, { maxBatchAgeSecond: 60 })).toEqual([
      { path: 'maxBatchAgeSecond', reason: 'unknown field: did you mean "maxBatchAgeSeconds"?' },
    ]);
    // Another case or separators: the same field.
    expect(unknownFields(schema, { max_batch_age_seconds: 60 })).toEqual([
      { path: 'max_batch_age_seconds', reason: 'unknown field: did you mean "maxBatchAgeSeconds"?' },
    ]);
  });

  it('lists the fields there are when nothing is close', () => {
    expect(unknownFields(schema, { colour: 'red' })).toEqual([
      {
        path: 'colour',
        reason: 'unknown field: this object takes name, maxBatchAgeSeconds, audiences, settings, extra',
      },
    ]);
  });

  it('looks into arrays and wrapped objects, with the path of each field', () => {
    expect(
      unknownFields(schema, {
        name: 'x',
        audiences: [{ segmentId: 'a' }, { segmentId: 'b', end_date: '2027-01-01', bogus: 1 }],
      }),
    ).toEqual([
      { path: 'audiences[1].end_date', reason: 'unknown field: did you mean "endDate"?' },
      { path: 'audiences[1].bogus', reason: 'unknown field: this object takes segmentId, endDate' },
    ]);
  });

  it('leaves alone records, objects that take any field, and values of the wrong type', () => {
    expect(
      unknownFields(schema, {
        settings: { anything: 1 },
        extra: { kept: 'k', more: true },
        audiences: 'none',
      }),
    ).toEqual([]);
    expect(unknownFields(schema, null)).toEqual([]);
    expect(unknownFields(schema, [1, 2])).toEqual([]);
  });
});
