import type { z } from 'zod';
import { editDistance } from '../text/edit-distance.ts';
import type { ErrorDetail } from './api-error.ts';

/**
 * The fields of a JSON body its schema does not know, each with what it may have meant: a request body is parsed by
 * a schema that drops what it does not know, so `maxBatchAgeSecond` for `maxBatchAgeSeconds` would otherwise be
 * accepted and ignored, leaving the user to find out later that nothing changed. Walks objects, arrays and the
 * wrappers around them (optional, nullable, default, pipes); a record, a union or an object that takes any field
 * ends the walk there.
 *
 * @example
 * unknownFields(z.object({ name: z.string() }), { nmae: 'x' });
 * // [{ path: 'nmae', reason: 'unknown field: did you mean "name"?' }]
 */
export function unknownFields(schema: z.ZodType, value: unknown, path = ''): ErrorDetail[] {
  const def = definition(schema);
  switch (def.type) {
    case 'optional':
    case 'nullable':
    case 'default':
    case 'prefault':
    case 'readonly':
    case 'nonoptional':
    case 'catch':
      return unknownFields(def.innerType as z.ZodType, value, path);
    case 'pipe':
      return unknownFields(def.in as z.ZodType, value, path);
    case 'array':
      return Array.isArray(value)
        ? value.flatMap((item, i) => unknownFields(def.element as z.ZodType, item, `${path}[${i}]`))
        : [];
    case 'object': {
      if (value === null || typeof value !== 'object' || Array.isArray(value)) return [];
      // An object that takes other fields too (a catch-all): nothing is unknown to it.
      if (def.catchall !== undefined && definition(def.catchall as z.ZodType).type !== 'never') return [];
      const shape = def.shape as Record<string, z.ZodType>;
      const known = Object.keys(shape);
      return Object.entries(value as Record<string, unknown>).flatMap(([key, field]) => {
        const at = path === '' ? key : `${path}.${key}`;
        if (Object.hasOwn(shape, key)) return unknownFields(shape[key]!, field, at);
        const query = path === 'query';
        return [
          { path: at, reason: `unknown ${query ? 'parameter' : 'field'}: ${meant(key, known, query)}` },
        ];
      });
    }
    default:
      return [];
  }
}

/** A schema's definition, as zod keeps it. */
function definition(schema: z.ZodType): Record<string, unknown> & { type: string } {
  return (schema as unknown as { _zod: { def: Record<string, unknown> & { type: string } } })._zod.def;
}

/** The known field `key` is closest to, when one is close enough to be a slip; else the fields there are. */
function meant(key: string, known: readonly string[], query: boolean): string {
  let best: { name: string; distance: number } | undefined;
  for (const name of known) {
    const distance = editDistance(key.toLowerCase(), name.toLowerCase(), { transpositions: true });
    if (best === undefined || distance < best.distance) best = { name, distance };
  }
  // A slip: a few letters wrong, or the same letters in another case or with separators changed.
  const plain = (s: string) => s.toLowerCase().replace(/[_-]/g, '');
  const near =
    best !== undefined &&
    (best.distance <= Math.max(1, Math.floor(key.length / 4)) || plain(best.name) === plain(key));
  if (near) return `did you mean "${best!.name}"?`;
  const listed = known.slice(0, 12).join(', ');
  const what = query ? 'this route takes' : 'this object takes';
  return known.length === 0
    ? `${what} no ${query ? 'parameters' : 'fields'}`
    : `${what} ${listed}${known.length > 12 ? ', …' : ''}`;
}
