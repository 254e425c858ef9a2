import { z } from 'zod';
import type { Route } from './route-def.ts';
import { ErrorSchema } from './schemas.ts';
import { PERMISSION_DESCRIPTIONS, PERMISSIONS } from './permissions.ts';

type Json = Record<string, unknown>;

const ERROR_RESPONSES: Record<string, string> = {
  '400': 'Invalid request: every problem is listed in error.details',
  '401': 'Missing or invalid token',
  '403': 'The token lacks a permission this route needs',
  '404': 'No such object in the token’s sandbox, or no such route',
  '413': 'Body or item count over the limit',
  '415': 'The body’s content type is not one the route accepts',
  '503':
    'Busy (ingest bodies held at TCA_INGEST_MAX_PENDING_BYTES) or the store cannot take writes: nothing was kept; send it again after Retry-After',
};

/**
 * Builds the OpenAPI 3.1 document from the route table: the same zod schemas that validate requests describe them.
 * Named schemas (`.meta({ id })`) become `components.schemas`; request bodies use the input side of each schema
 * (defaults optional) and responses the output side.
 */
export function buildOpenApi(routes: readonly Route[], info: { version: string; serverUrl?: string }): Json {
  const components: Record<string, unknown> = {};
  const convert = (schema: z.ZodType, io: 'input' | 'output'): Json => {
    const json = z.toJSONSchema(schema, { target: 'draft-2020-12', io, unrepresentable: 'any' }) as Json;
    const suffix = io === 'input' ? 'Input' : '';
    const defs = (json['$defs'] ?? {}) as Record<string, unknown>;
    delete json['$defs'];
    delete json['$schema'];
    const rename = (id: string) => (id.endsWith('Input') ? id : id + suffix);
    const rewrite = (node: unknown): unknown => {
      if (Array.isArray(node)) return node.map(rewrite);
      if (node !== null && typeof node === 'object') {
        const out: Json = {};
        for (const [k, v] of Object.entries(node)) {
          out[k] =
            k === '$ref' && typeof v === 'string' && v.startsWith('#/$defs/')
              ? `#/components/schemas/${rename(v.slice('#/$defs/'.length))}`
              : rewrite(v);
        }
        return out;
      }
      return node;
    };
    for (const [id, def] of Object.entries(defs)) components[rename(id)] = rewrite(def);
    const top = rewrite(json) as Json;
    // A named top-level schema is emitted as a component and referenced, so clients get one type per name.
    const id = (z.globalRegistry.get(schema) as { id?: string } | undefined)?.id;
    if (id !== undefined) {
      const ref = `#/components/schemas/${rename(id)}`;
      // zod writes a named root as a reference to its own `$defs` entry, already a component: keep that definition.
      if (top['$ref'] !== ref) components[rename(id)] = top;
      return { $ref: ref };
    }
    return top;
  };

  const paths: Record<string, Record<string, unknown>> = {};
  for (const r of routes) {
    const path = r.path.replace(/:([A-Za-z_]+)/g, '{$1}');
    const parameters: Json[] = [];
    for (const [where, schema] of [
      ['path', r.params],
      ['query', r.query],
    ] as const) {
      if (!schema) continue;
      const json = convert(schema, 'input');
      const props = (json['properties'] ?? {}) as Record<string, unknown>;
      const required = new Set((json['required'] ?? []) as string[]);
      for (const [name, s] of Object.entries(props)) {
        parameters.push({ name, in: where, required: where === 'path' || required.has(name), schema: s });
      }
    }
    for (const [name, description] of Object.entries(r.headers ?? {})) {
      parameters.push({
        name,
        in: 'header',
        required: false,
        schema: { type: 'string', minLength: 1, maxLength: 200 },
        description,
      });
    }
    const op: Json = {
      operationId: operationId(r),
      summary: r.summary,
      tags: [r.tag],
      security: [{ bearer: [] }],
      'x-permissions': [...r.permissions],
      description:
        r.permissions.length === 0
          ? 'Any valid token.'
          : `Permissions: ${r.permissions.map((p) => `**${p}**`).join(', ')}.`,
    };
    if (parameters.length > 0) op['parameters'] = parameters;
    if (r.streamBody) {
      const content: Json = {};
      for (const [type, description] of Object.entries(r.streamBody.contentTypes))
        content[type] = { schema: { type: 'string', description } };
      op['requestBody'] = { required: true, content };
    } else if (r.body) {
      const body = convert(r.body, 'input');
      const content: Json = {};
      if (r.rawBody) {
        content['application/json'] = { schema: { oneOf: [body, { type: 'array', items: body }] } };
        content['application/x-ndjson'] = {
          schema: { type: 'string', description: 'One profile export per line' },
        };
      } else {
        content['application/json'] = { schema: body };
      }
      // A body schema that accepts nothing at all (an empty body) makes the body optional.
      op['requestBody'] = { required: !r.body.safeParse(undefined).success, content };
    }
    const responses: Json = {};
    const success = (description: string) =>
      r.response === null
        ? { description: 'No content' }
        : { description, content: { 'application/json': { schema: convert(r.response, 'output') } } };
    responses[String(r.status)] = success('Success');
    for (const [status, description] of Object.entries(r.otherStatuses ?? {}))
      responses[status] = success(description);
    const errorRef = convert(ErrorSchema, 'output');
    for (const [code, description] of Object.entries(ERROR_RESPONSES)) {
      if (code === '413' && (!r.body || r.streamBody)) continue;
      if (code === '415' && !r.rawBody && !r.streamBody) continue;
      if (code === '503' && !r.rawBody) continue;
      if (code === '400' && !r.body && !r.query && !r.params) continue;
      responses[code] = { description, content: { 'application/json': { schema: errorRef } } };
    }
    for (const [code, description] of Object.entries(r.errors ?? {}))
      responses[code] = { description, content: { 'application/json': { schema: errorRef } } };
    op['responses'] = responses;
    (paths[path] ??= {})[r.method.toLowerCase()] = op;
  }

  return {
    openapi: '3.1.0',
    info: {
      title: 'x-custom-audiences API',
      version: info.version,
      description:
        'Activate audiences to X Custom Audiences. Every object belongs to the sandbox of the calling token; objects of ' +
        'other sandboxes answer 404. Errors use `{ "error": { "code", "message", "details": [{ "path", "reason" }] } }`.\n\n' +
        'Permissions:\n' +
        PERMISSIONS.map((p) => `- **${p}**: ${PERMISSION_DESCRIPTIONS[p]}`).join('\n'),
    },
    ...(info.serverUrl === undefined ? {} : { servers: [{ url: info.serverUrl }] }),
    paths,
    components: {
      schemas: components,
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'An API token (tca_…)' } },
    },
  };
}

function operationId(r: Route): string {
  const parts = r.path
    .replace('/api/v1/', '')
    .split('/')
    .map((p) =>
      p.startsWith(':')
        ? 'By' + cap(p.slice(1))
        : cap(p.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase())),
    );
  return r.method.toLowerCase() + parts.join('');
}

function cap(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}
