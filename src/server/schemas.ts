import { CONSENT_ATTRIBUTES, CONSENT_OPERATORS, CONSENT_VALUES } from '../audience/consent.ts';
import { z } from 'zod';
import { MAX_AUDIENCE_TEXT_LENGTH } from '../audience/naming.ts';
import { X_IDENTIFIER_TYPES } from '../identity/types.ts';
import { ALERT_TYPES, SUBSCRIBABLE_TYPES } from './alert-types.ts';
import { WEBHOOK_FORMATS } from '../config/index.ts';
import { PERMISSIONS } from './permissions.ts';
import { RUN_FILTER_KINDS } from './run-filters.ts';

// Request and response schemas of the REST API. They validate requests and generate the OpenAPI document
// (src/server/openapi.ts), so each is written once.

const id = z.string().min(1).max(200);
const timestamp = z.string().meta({ description: 'ISO-8601 timestamp', example: '2026-01-31T12:00:00.000Z' });
const DAY_SHAPE = /^\d{4}-\d{2}-\d{2}$/;
// A day of the calendar: Date.parse takes 2026-02-30 as March 2nd and 2026-13-01 as nothing, so the day must read back.
// A value of another shape is the pattern's problem alone.
const isCalendarDay = (day: string): boolean => {
  if (!DAY_SHAPE.test(day)) return true;
  const ms = Date.parse(`${day}T00:00:00.000Z`);
  return Number.isFinite(ms) && new Date(ms).toISOString().slice(0, 10) === day;
};
const dateOnly = z
  .string()
  .regex(DAY_SHAPE, 'must be a date as YYYY-MM-DD')
  .refine(isCalendarDay, 'is not a day of the calendar (month 01–12, day within that month), e.g. 2026-02-28')
  .meta({ example: '2026-02-01' });

export const ErrorSchema = z
  .object({
    error: z.object({
      code: z.string().meta({ example: 'invalid_request' }),
      message: z.string(),
      details: z.array(z.object({ path: z.string(), reason: z.string() })),
    }),
  })
  .meta({ id: 'Error' });

export const IdParams = z.object({ id });

export const ImportKeyParams = z.object({
  key: z.string().min(1).max(200).meta({ description: 'The import key (the Idempotency-Key of its upload)' }),
});

export const OkSchema = z.object({ ok: z.literal(true) });

// --- sandboxes and tokens ---------------------------------------------------------------------------------------

export const SandboxSchema = z
  .object({ name: z.string(), createdAt: timestamp, current: z.boolean() })
  .meta({ id: 'Sandbox' });
export const SandboxListSchema = z.object({ items: z.array(SandboxSchema) });
export const SandboxCreateSchema = z.object({
  name: z
    .string()
    .regex(/^[a-z][a-z0-9-]{0,62}$/, 'must be lowercase letters, digits and dashes, starting with a letter')
    .meta({ example: 'staging' }),
});

export const PermissionSchema = z.enum(PERMISSIONS);

// --- audit trail ------------------------------------------------------------------------------------------------

export const AuditEventSchema = z
  .object({
    id,
    at: timestamp,
    sandbox: z.string().meta({ description: 'The sandbox the change was made in' }),
    token: z.object({ id, name: z.string() }).meta({ description: 'The API token that made the change' }),
    method: z.enum(['POST', 'PUT', 'PATCH', 'DELETE']),
    route: z.string().meta({ example: '/api/v1/dataflows/:id' }),
    action: z.string().meta({ description: 'What the route does' }),
    target: z
      .string()
      .nullable()
      .meta({ description: 'The id of the resource changed or created, when one' }),
    status: z
      .number()
      .int()
      .meta({ description: 'The HTTP status answered (403: refused for a permission)' }),
    fields: z
      .array(z.string())
      .meta({ description: 'The top-level body fields sent; values are never kept' }),
  })
  .meta({ id: 'AuditEvent' });
export const AuditEventListSchema = z.object({
  items: z.array(AuditEventSchema),
  nextCursor: z
    .string()
    .nullable()
    .meta({ description: 'Pass as `cursor` for the next (older) page; null at the end' }),
});
const allSandboxes = z
  .enum(['true', 'false'])
  .optional()
  .transform((v) => v === 'true')
  .meta({ description: "true: every sandbox's events (needs Manage Sandboxes)" });

/** A page size in a query string (`?limit=50`): one message for text, fractions and numbers out of range alike. */
function pageLimit(max: number, dflt: number) {
  return z.coerce
    .number({ error: `must be a whole number from 1 to ${max}` })
    .int()
    .min(1)
    .max(max)
    .default(dflt);
}
export const AuditQuerySchema = z.object({
  limit: pageLimit(1000, 100),
  cursor: z.string().max(200).optional(),
  target: id.optional(),
  allSandboxes,
});

export const AuditFeedQuerySchema = z.object({
  after: z
    .string()
    .max(200)
    .optional()
    .meta({ description: 'The cursor the last page answered; omitted: from the oldest event kept' }),
  limit: pageLimit(1000, 500),
  allSandboxes,
});

export const AuditFeedSchema = z.object({
  items: z.array(AuditEventSchema),
  cursor: z.string().nullable().meta({
    description:
      'Pass as `after` on the next poll: the last event returned (the one given when none is new); null before any event',
  }),
});

export const TokenSchema = z
  .object({
    id,
    name: z.string(),
    sandbox: z.string(),
    permissions: z.array(PermissionSchema),
    createdAt: timestamp,
    lastUsedAt: timestamp.nullable(),
    revokedAt: timestamp.nullable(),
  })
  .meta({ id: 'Token' });
export const TokenListSchema = z.object({ items: z.array(TokenSchema) });
export const TokenCreateSchema = z.object({
  name: z.string().min(1).max(100).meta({ example: 'aep-streaming' }),
  permissions: z.array(PermissionSchema).min(1),
  sandbox: z.string().optional().meta({
    description: "Sandbox of the new token; defaults to the caller's. Other sandboxes need Manage Sandboxes.",
  }),
});
export const TokenCreatedSchema = TokenSchema.extend({
  token: z.string().meta({ description: 'The secret, shown only in this response.' }),
});
export const SettingsSchema = z
  .object({
    xLogin: z.object({
      defaultApp: z.boolean().meta({
        description:
          '"Log in with X" works without app keys: the service has a default X app (TCA_X_CONSUMER_KEY, or the demo app)',
      }),
    }),
    importUrls: z.object({
      origins: z.array(z.string()).meta({
        description:
          'Origins a URL import may read (TCA_IMPORT_URL_ALLOW), `*.` for any subdomain; empty: URL imports are off',
      }),
    }),
    auditForward: z
      .object({
        collector: z.string().meta({ description: 'TCA_AUDIT_FORWARD_URL without its query string' }),
        format: z.enum(['ndjson', 'splunk']),
        forwardedThrough: z.string().nullable().meta({
          description: 'When the last event the collector acknowledged was recorded; null before the first',
        }),
        waiting: z
          .number()
          .int()
          .min(0)
          .meta({ description: 'Events recorded after it, not yet acknowledged' }),
      })
      .nullable()
      .optional()
      .meta({
        description:
          'Where the audit trail is pushed (TCA_AUDIT_FORWARD_URL), null when it is not; only for tokens with Manage Tokens',
      }),
    outboundProxy: z
      .object({
        http: z
          .string()
          .nullable()
          .meta({ description: 'HTTP_PROXY, credentials hidden; null: http URLs go direct' }),
        https: z
          .string()
          .nullable()
          .meta({ description: 'HTTPS_PROXY, credentials hidden; null: https URLs go direct' }),
        noProxy: z
          .array(z.string())
          .meta({ description: 'NO_PROXY entries: reached directly, as is loopback' }),
      })
      .nullable()
      .optional()
      .meta({
        description:
          'The proxy (HTTP, SOCKS5 or SOCKS4) outbound requests (X, collectors, webhooks) go through, null when none; only for tokens with Manage Tokens',
      }),
    alertWebhook: z
      .object({
        origin: z
          .string()
          .meta({ description: 'The origin of TCA_ALERT_WEBHOOK_URL (its path may hold a secret)' }),
        signed: z
          .boolean()
          .meta({ description: 'Notifications carry x-tca-signature (TCA_ALERT_WEBHOOK_SECRET)' }),
        format: z.enum(WEBHOOK_FORMATS).meta({
          description: 'What it takes (TCA_ALERT_WEBHOOK_FORMAT): json, slack, teams or google-chat',
        }),
      })
      .nullable()
      .optional()
      .meta({
        description:
          "The installation's alert webhook (every sandbox's alerts go to it), null when none; only for tokens with Manage Tokens",
      }),
    alertPagerDuty: z
      .object({
        events: z.string().meta({ description: 'The origin of the PagerDuty Events API the alerts go to' }),
      })
      .nullable()
      .optional()
      .meta({
        description:
          'PagerDuty (TCA_ALERT_PAGERDUTY_ROUTING_KEY): every alert triggers an incident; null when not set; only for tokens with Manage Tokens',
      }),
    alertEmail: z
      .object({
        to: z.array(z.string()).meta({ description: 'Who every alert is emailed to (TCA_ALERT_EMAIL_TO)' }),
        smtp: z
          .string()
          .meta({ description: 'The SMTP server, scheme, host and port only (never its credentials)' }),
        proxy: z.string().nullable().meta({
          description:
            'The egress proxy the SMTP server is reached through (HTTP CONNECT, SOCKS5 or SOCKS4; HTTPS_PROXY, else HTTP_PROXY, unless NO_PROXY names it), without its credentials; null: directly',
        }),
      })
      .nullable()
      .optional()
      .meta({ description: 'Alert emails; null when not set up; only for tokens with Manage Tokens' }),
  })
  .meta({ id: 'Settings' });
export const WhoAmISchema = z.object({
  tokenId: z.string(),
  name: z.string(),
  sandbox: z.string(),
  permissions: z.array(PermissionSchema),
});

// --- destinations ---------------------------------------------------------------------------------------------------

export const CredentialsSchema = z
  .object({
    consumerKey: z.string().min(1).max(500),
    consumerSecret: z.string().min(1).max(500),
    accessToken: z.string().min(1).max(500),
    accessTokenSecret: z.string().min(1).max(500),
  })
  .meta({ id: 'Credentials', description: 'OAuth 1.0a credentials; write-only (never returned).' });

const accountId = z
  .string()
  .regex(/^[A-Za-z0-9]{1,32}$/, 'must be an X Ads account id such as 18ce54d4x5t')
  .meta({ example: '18ce54d4x5t' });

export const DestinationStatusSchema = z.enum(['unverified', 'active', 'unauthorized', 'error']).meta({
  description:
    'unverified: not checked since it was made or its connection changed; active: the preflight passed; ' +
    'unauthorized: X refused the credentials (log in again or paste fresh tokens); error: another check failed ' +
    '(statusReason says which)',
});

const destinationAlertTypes = z
  .array(z.enum(SUBSCRIBABLE_TYPES))
  .max(SUBSCRIBABLE_TYPES.length * 2)
  .nullable()
  .meta({
    description:
      "The alert types its own webhook, PagerDuty key and email recipients receive; null: every alert type, [] none. The installation's webhook, PagerDuty key and recipients receive every alert type whatever this says. The run notifications (`dataflow_run_started`, `dataflow_run_succeeded`) go only to a destination's own webhook and recipients, and only when listed here",
    example: ['dataflow_failed', 'dataflow_paused'],
  });

export const DestinationSchema = z
  .object({
    id,
    sandbox: z.string(),
    name: z.string(),
    description: z.string(),
    accountId: z.string(),
    apiBaseUrl: z.string(),
    marketingActions: z.array(z.string()),
    alertWebhook: z
      .object({
        origin: z.string().meta({ example: 'https://hooks.slack.com' }),
        format: z.enum(WEBHOOK_FORMATS).meta({
          description:
            'What the alert webhook takes: json (the documented notification), slack, teams (an Adaptive Card) or google-chat',
        }),
      })
      .nullable()
      .meta({
        description:
          "Where its alerts are posted, or null. Only the origin is shown: the URL is a secret (a chat webhook's carries the token that posts to the channel), sealed at rest and write-only (alertWebhookUrl)",
      }),
    alertEmailTo: z.array(z.string()).meta({
      description:
        "Addresses its alerts are also emailed to, besides the installation's (TCA_ALERT_EMAIL_TO)",
    }),
    hasAlertPagerDutyKey: z.boolean().meta({
      description: 'Its alerts also go to a PagerDuty routing key of its own (the key is never shown)',
    }),
    alertTypes: destinationAlertTypes,
    status: DestinationStatusSchema,
    statusReason: z.string().nullable(),
    hasCredentials: z.boolean(),
    createdAt: timestamp,
    updatedAt: timestamp,
  })
  .meta({ id: 'Destination' });
export const DestinationListSchema = z.object({ items: z.array(DestinationSchema) });

/** Names of destinations and dataflows: the console checks the same limit, so its messages and these agree. */
const entityName = z
  .string()
  .min(1, 'is required')
  .max(MAX_AUDIENCE_TEXT_LENGTH.name, `is longer than ${MAX_AUDIENCE_TEXT_LENGTH.name} characters`);

const destinationFields = {
  name: entityName,
  description: z.string().max(1000),
  accountId,
  credentials: CredentialsSchema,
  apiBaseUrl: z
    .url({ protocol: /^https?$/ })
    .meta({ description: "X Ads API base URL; defaults to the service's" }),
  marketingActions: z.array(z.string().min(1).max(100)).max(50),
  alertWebhookUrl: z.url({ protocol: /^https?$/ }).nullable(),
  alertWebhookFormat: z.enum(WEBHOOK_FORMATS),
  alertEmailTo: z
    .array(z.email().max(254))
    .max(20)
    .meta({ description: 'Needs alert emails set up on the service (TCA_ALERT_EMAIL_FROM, TCA_SMTP_URL)' }),
  alertPagerDutyRoutingKey: z
    .string()
    .regex(/^[A-Za-z0-9]{32}$/, {
      message:
        "must be a PagerDuty Events API v2 integration key: 32 letters and digits (the PagerDuty service's Integrations tab, Events API V2)",
    })
    .nullable()
    .meta({
      description:
        "A PagerDuty Events API v2 routing key: its alerts also open incidents in that service, besides the installation's. Write-only: sealed at rest, never returned (hasAlertPagerDutyKey says whether one is set); null removes it",
    }),
};

export const DestinationCreateSchema = z.object({
  name: destinationFields.name.meta({ example: 'X Ads: Acme US' }),
  description: destinationFields.description.optional(),
  accountId: destinationFields.accountId,
  credentials: destinationFields.credentials.optional(),
  apiBaseUrl: destinationFields.apiBaseUrl.optional(),
  marketingActions: destinationFields.marketingActions.optional(),
  alertWebhookUrl: destinationFields.alertWebhookUrl.optional(),
  alertWebhookFormat: destinationFields.alertWebhookFormat.optional(),
  alertEmailTo: destinationFields.alertEmailTo.optional(),
  alertPagerDutyRoutingKey: destinationFields.alertPagerDutyRoutingKey.optional(),
  alertTypes: destinationAlertTypes.optional(),
});
export const DestinationPatchSchema = DestinationCreateSchema.partial();

export const VerifyCheckSchema = z.object({
  id: z.string().meta({ example: 'permissions' }),
  label: z.string(),
  status: z.enum(['pass', 'fail', 'warn', 'skipped']),
  message: z.string().meta({ description: 'What was found and, when not passing, what to do' }),
  xCode: z.string().optional(),
});
export const VerifyResultSchema = z
  .object({
    accountId: z.string(),
    ok: z.boolean(),
    checks: z.array(VerifyCheckSchema),
    saved: z
      .boolean()
      .optional()
      .meta({
        description:
          'Given when the request named a new connection: true when every check passed and it replaced the stored one; ' +
          'false when nothing was saved (the stored connection and its status are unchanged)',
      }),
    resumedDataflowIds: z
      .array(z.string())
      .optional()
      .meta({
        description:
          'Given when every check passed (and a new connection was saved): the dataflows paused because X refused ' +
          'this destination (401/403) that are active again, before this answer; empty when none was',
      }),
  })
  .meta({ id: 'VerifyResult' });

export const VerifyCandidateSchema = z
  .object({
    accountId: destinationFields.accountId.optional(),
    apiBaseUrl: destinationFields.apiBaseUrl.optional(),
    credentials: destinationFields.credentials.optional(),
  })
  // An empty body checks the stored connection.
  .default({})
  .meta({
    description:
      'A new connection to check before it replaces the stored one: any of accountId, apiBaseUrl and credentials ' +
      '(the stored values stand in for those left out). It is saved only when every check passes. An empty body ' +
      'checks the stored connection.',
  });

export const LoginStartSchema = z
  .object({
    consumerKey: z.string().min(1).max(500).optional(),
    consumerSecret: z.string().min(1).max(500).optional(),
  })
  // An empty body is the same as {}: log in with the service's default app.
  .default({})
  .meta({
    description:
      "The X app to log in with. Omit both to use the service's default app (TCA_X_CONSUMER_KEY / " +
      'TCA_X_CONSUMER_SECRET; GET /api/v1/settings says whether one is configured).',
  });
export const LoginStartResultSchema = z.object({
  authorizeUrl: z
    .string()
    .meta({ description: 'Open this page, authorize the app, and copy the PIN shown.' }),
  requestToken: z.string(),
});
export const LoginCompleteSchema = z.object({
  pin: z
    .string()
    .regex(/^\d{4,10}$/, 'must be the numeric PIN X showed')
    .meta({ example: '4829301' }),
  requestToken: z.string().min(1).optional(),
});

// --- segments -------------------------------------------------------------------------------------------------------

export const SegmentSchema = z
  .object({
    id,
    sandbox: z.string(),
    namespace: z.string(),
    name: z.string(),
    description: z.string(),
    labels: z
      .array(z.string())
      .meta({ description: 'Data-usage labels (C1–C12, I1, I2, S1, S2, PSPD, RHD, custom)' }),
    createdAt: timestamp,
  })
  .meta({ id: 'Segment' });
export const SegmentListSchema = z.object({ items: z.array(SegmentSchema) });
export const SegmentCreateSchema = z.object({
  id: id.meta({
    description: 'The source segment id, as it appears in segmentMembership',
    example: '7841ba61-23c1-4bb3-a495-00d3a4e3e0d5',
  }),
  namespace: z.string().min(1).max(100).default('ups').meta({ description: "'ups' = Segmentation Service" }),
  name: z.string().min(1).max(200),
  description: z.string().max(1000).optional(),
  labels: z.array(z.string()).max(50).optional().meta({
    description:
      'Data-usage labels, checked against the marketing actions of destinations it is activated to',
  }),
});
export const SegmentPatchSchema = z.object({
  name: z.string().min(1).max(200).optional(),
  description: z.string().max(1000).optional(),
  labels: z.array(z.string()).max(50).optional(),
});

// --- dataflows ------------------------------------------------------------------------------------------------------

export const MappingRowSchema = z
  .object({
    sourceType: z.enum(['namespace', 'attribute']),
    source: z.string().min(1).max(300).meta({ example: 'Email' }),
    target: z.enum(X_IDENTIFIER_TYPES),
    applyTransformation: z.boolean().default(false),
  })
  .meta({ id: 'MappingRow' });

export const ActivatedAudienceSchema = z
  .object({
    segmentId: id,
    mappingName: z
      .string()
      .min(1)
      .max(MAX_AUDIENCE_TEXT_LENGTH.mappingName)
      .optional()
      .meta({ description: "The X audience name; defaults to the segment's name" }),
    startDate: dateOnly.optional(),
    endDate: dateOnly.nullable().optional(),
    existingXAudienceId: z
      .string()
      .regex(/^[A-Za-z0-9]{1,64}$/, 'must be an X audience id such as 2906h')
      .nullable()
      .optional()
      .meta({
        description:
          'Attach to this existing X audience instead of creating one. Set it when the segment is added; ' +
          'it cannot change afterwards.',
        example: '2906h',
      }),
    // The X audience in use is read-only: a client that sends back what it read must not turn a created audience
    // into an attached one.
    xAudienceId: z
      .never({
        error:
          'is read-only (the X audience in use); to attach to an existing X audience send existingXAudienceId',
      })
      .optional()
      .meta({ description: 'Read-only (see the response); a request that sends it is refused' }),
    ttlDays: z.number().int().min(1).max(395).nullable().optional(),
    removeMembersAtEnd: z.boolean().optional().meta({
      description:
        'When the end date passes, remove every member from the X audience (default false: members stay, as in AEP)',
    }),
  })
  .meta({ id: 'ActivatedAudienceInput' });

export const DataflowStatusSchema = z.enum(['active', 'paused', 'error']);

/** Guardrails (as AEP's): segments per dataflow and mapping rows per dataflow. */
export const MAX_AUDIENCES_PER_DATAFLOW = 250;
export const MAX_MAPPING_ROWS = 50;
const mappingRows = z
  .array(MappingRowSchema)
  .min(1)
  .max(MAX_MAPPING_ROWS, `at most ${MAX_MAPPING_ROWS} mapping rows per dataflow`);
const activatedAudiences = z
  .array(ActivatedAudienceSchema)
  .min(1)
  .max(
    MAX_AUDIENCES_PER_DATAFLOW,
    `at most ${MAX_AUDIENCES_PER_DATAFLOW} segments per dataflow; activate the rest in another dataflow`,
  );

const noDataAlertHours = z.number().int().min(1).max(720).nullable().meta({
  description:
    'Alert (dataflow_no_data) when no profiles arrive for this many hours while an audience of it is scheduled: a source that stopped sending; null (the default) never',
  example: 26,
});

const onAudienceRemoval = z.enum(['delete', 'keep']).meta({
  description:
    "What happens at X to the audience of a segment removed from the dataflow, and to every audience when the dataflow is deleted: 'delete' (the default) deletes the X audiences this service created, 'keep' leaves them in X. Attached audiences are never deleted. It holds for removals still waiting for the worker too",
});

export const DataflowCreateSchema = z.object({
  name: entityName,
  destinationId: id,
  mapping: mappingRows,
  audiences: activatedAudiences,
  maxBatchAgeSeconds: z.number().int().min(60).max(28_800).optional(),
  noDataAlertHours: noDataAlertHours.optional(),
  onAudienceRemoval: onAudienceRemoval.optional(),
  status: z.enum(['active', 'paused']).optional(),
});
export const DataflowPatchSchema = z.object({
  name: entityName.optional(),
  mapping: mappingRows.optional(),
  audiences: activatedAudiences.optional(),
  maxBatchAgeSeconds: z.number().int().min(60).max(28_800).optional(),
  noDataAlertHours: noDataAlertHours.optional(),
  onAudienceRemoval: onAudienceRemoval.optional(),
  status: z.enum(['active', 'paused']).optional(),
});

export const DataflowAudienceSchema = z.object({
  segmentId: z.string(),
  mappingName: z.string(),
  startDate: z.string().nullable(),
  endDate: z.string().nullable(),
  existingXAudienceId: z
    .string()
    .nullable()
    .meta({ description: 'The existing X audience the user asked to attach to; null = create one' }),
  xAudienceId: z.string().nullable().meta({
    description: 'Read-only: the X audience in use (created or attached); null until the first delivery',
  }),
  ttlDays: z.number().nullable(),
  removeMembersAtEnd: z.boolean(),
});

export const DataflowSchema = z
  .object({
    id,
    sandbox: z.string(),
    name: z.string(),
    destinationId: z.string(),
    status: z.string(),
    statusReason: z.string().nullable(),
    mapping: z.array(MappingRowSchema),
    audiences: z.array(DataflowAudienceSchema),
    maxBatchAgeSeconds: z.number(),
    noDataAlertHours,
    onAudienceRemoval,
    createdAt: timestamp,
    updatedAt: timestamp,
  })
  .meta({ id: 'Dataflow' });
export const DataflowListSchema = z.object({ items: z.array(DataflowSchema) });

export const PlanSchema = z
  .object({ dataflowId: z.string() })
  .catchall(z.unknown())
  .meta({
    id: 'Plan',
    description:
      'The dry-run plan: audiences to create/rename/delete, pending changes, requests, sample payload (hashes only), ' +
      'and the consent policies switched on that hold for each audience.',
  });

export const RunsQuerySchema = z
  .object({
    from: z.iso.datetime({ offset: true }).optional(),
    to: z.iso.datetime({ offset: true }).optional(),
    with: z
      .enum(RUN_FILTER_KINDS)
      .optional()
      .meta({ description: 'Only the runs with identities of this kind (failed, excluded or activated)' }),
  })
  .refine((q) => q.from === undefined || q.to === undefined || Date.parse(q.from) < Date.parse(q.to), {
    path: ['to'],
    message: 'the window must end after it starts',
  });
export const RunSchema = z.object({ runStart: z.string() }).catchall(z.unknown()).meta({
  id: 'Run',
  description: 'An hourly dataflow run: received, activated, excluded and failed counts.',
});
export const RunListSchema = z.object({ items: z.array(RunSchema) });

export const MonitoringQuerySchema = z
  .object({
    range: z.enum(['24h', '7d', '30d']).default('24h').meta({
      description: 'The window ending now: the last 24 hours (default), 7 days or 30 days',
    }),
    from: z.iso
      .datetime({ offset: true })
      .optional()
      .meta({
        description:
          'Custom window start (with to). The window sums the hourly runs that start in it (from inclusive, to ' +
          'exclusive): a run that started before from is left out, since counts are kept per hour',
      }),
    to: z.iso.datetime({ offset: true }).optional().meta({ description: 'Custom window end (default now)' }),
  })
  .refine((q) => q.to === undefined || q.from !== undefined, {
    path: ['from'],
    message: 'a custom window needs from (to alone is not a window)',
  });
const count = z.number().int();
const rate = z.number().nullable().meta({
  description: 'Activated / (activated + excluded + failed), 0–1; null when nothing was processed',
});
/** Why an audience's waiting changes go out when they do (see `nextDelivery` in the engine's schedule). */
const nextDeliveryReason = z
  .enum(['full_request', 'requested', 'batch_window', 'back_off', 'cadence'])
  .nullable()
  .meta({
    description:
      'Why then: full_request (enough changes to fill a request: next tick), requested (a flush was asked for), ' +
      'batch_window (the oldest change reaches the aggregation window), back_off (X asked to wait or a retry is ' +
      'scheduled), cadence (X cadence mode: the window since the last push of the kind)',
  });

export const MonitoringDataflowSchema = z
  .object({
    dataflowId: z.string(),
    name: z.string(),
    destinationId: z.string(),
    destinationName: z.string().nullable(),
    status: z.string(),
    statusReason: z.string().nullable(),
    audiences: count.meta({ description: 'Audiences activated in the dataflow' }),
    membersAtX: count.nullable().meta({
      description: "Sum of the X audiences' last polled sizes; null before any was polled",
    }),
    profilesReceived: count,
    identitiesActivated: count.meta({ description: 'Added plus removed at X' }),
    identitiesAdded: count,
    identitiesRemoved: count,
    identitiesExcluded: count,
    identitiesFailed: count,
    excludedByReason: z.record(z.string(), count),
    failedByCode: z.record(z.string(), count),
    activationRate: rate,
    xRequests: count.meta({ description: 'Users requests sent to X in the window' }),
    pendingChanges: count.meta({ description: 'Changes waiting for delivery now (adds plus removes)' }),
    oldestPendingAt: timestamp
      .nullable()
      .meta({ description: 'When the oldest change waiting now was made' }),
    nextDeliveryAt: timestamp.nullable().meta({
      description:
        "The earliest of its audiences' next delivery times (see Audience); null when nothing waits or the " +
        'dataflow is not active',
    }),
    nextDeliveryReason,
    pendingPeak: count
      .nullable()
      .meta({ description: 'The most changes seen waiting in the window (sampled)' }),
    lastDeliveryAt: timestamp
      .nullable()
      .meta({ description: 'When X last accepted a request of the dataflow' }),
    lastRunAt: timestamp.nullable().meta({
      description: 'Start of the newest hourly run in the window with anything counted',
    }),
    lastProfilesAt: timestamp.nullable().meta({
      description:
        'When the dataflow last received profiles, within the last 31 days (whatever the window); null: none',
    }),
    alertsFiring: count,
    attention: z.array(z.enum(['paused', 'identities_failed', 'alerts_firing', 'not_targetable'])).meta({
      description:
        'Why the dataflow needs a look, empty when it does not: paused by an error, identities failed in the ' +
        "window's runs and not replayed yet (dead letters), alerts firing now, an X audience X has processed and " +
        'will not target',
    }),
  })
  .meta({ id: 'MonitoringDataflow' });
export const MonitoringSchema = z
  .object({
    from: timestamp,
    to: timestamp,
    summary: z.object({
      dataflows: count,
      needingAttention: count.meta({ description: 'Dataflows whose attention list is not empty' }),
      profilesReceived: count,
      identitiesActivated: count,
      identitiesExcluded: count,
      identitiesFailed: count,
      activationRate: rate,
      xRequests: count,
      pendingChanges: count,
      alertsFiring: count,
    }),
    dataflows: z.array(MonitoringDataflowSchema),
  })
  .meta({
    id: 'Monitoring',
    description:
      "Every dataflow of the sandbox at a glance over a window: the runs' counts summed, the changes waiting now, " +
      'the last delivery, the alerts firing, and why it needs a look',
  });

export const FlushQuerySchema = z.object({
  wait: z.coerce
    .number()
    .int()
    .min(0)
    .max(300)
    .default(30)
    .meta({
      description:
        'Seconds to wait for the deliveries to finish (0–300, default 30). Past it the answer is 202 and they go on ' +
        'in the background; 0 answers as soon as they are started',
    }),
});

const DeliveryReportSchema = z.object({
  audienceId: z.string(),
  dataflowId: z.string(),
  outcome: z.enum(['delivered', 'idle', 'deferred', 'retrying', 'paused', 'error', 'removed']).meta({
    description:
      'delivered: changes went out; idle: nothing was pending; deferred: X cadence holds the rest back; ' +
      'retrying: X failed and the delivery retries at nextAttemptAt; paused: the destination needs a fix; ' +
      'error: see message; removed: the audience was removed',
  }),
  requests: z.number().int().meta({ description: 'Users requests X accepted' }),
  added: z.number().int().meta({ description: 'Identifiers X accepted in Update operations' }),
  removed: z.number().int().meta({ description: 'Identifiers X accepted in Delete operations' }),
  deadLettered: z.number().int(),
  xAudience: z
    .enum(['created', 'attached', 'renamed'])
    .optional()
    .meta({
      description:
        'What the pass did to the X audience itself: created it, attached an existing one, or renamed it to a changed ' +
        'mapping name; absent when nothing',
    }),
  message: z.string().optional(),
  nextAttemptAt: z.number().nullable().optional().meta({ description: 'Epoch ms of the next attempt' }),
  rateLimited: z
    .boolean()
    .optional()
    .meta({
      description:
        "true when X's rate limit holds the audience back (outcome retrying): it goes again at nextAttemptAt, when " +
        'the limit resets; a flush waits that out when it comes within its wait',
    }),
});

/** What a flush whose deliveries finished within the wait reports, whatever they came to. */
const finishedFlush = {
  dataflowId: z.string(),
  audiences: z.array(DeliveryReportSchema),
  skipped: z
    .array(z.string())
    .meta({ description: 'Audiences another worker was delivering: they go out with its next pass' }),
};

export const FlushResultSchema = z
  .discriminatedUnion('status', [
    z.object({
      ...finishedFlush,
      status: z.literal('delivered').meta({
        description:
          'Every delivery finished within the wait (200) and every audience delivered or had nothing to deliver ' +
          '(outcome delivered, idle, deferred or removed)',
      }),
    }),
    z.object({
      ...finishedFlush,
      status: z.literal('incomplete').meta({
        description:
          'Every delivery finished within the wait (200), but at least one audience did not deliver (outcome ' +
          'paused, retrying or error): its changes wait, and its message says why. What the others delivered stands',
      }),
    }),
    z.object({
      dataflowId: z.string(),
      status: z
        .literal('delivering')
        .meta({ description: 'The deliveries go on in the background (202); runs and audiences show them' }),
      audienceIds: z.array(z.string()),
    }),
  ])
  .meta({ id: 'FlushResult' });

// --- audiences and dead letters -------------------------------------------------------------------------------------

export const AudienceSchema = z
  .object({
    id: z.string(),
    dataflowId: z.string(),
    segmentId: z.string(),
    name: z.string(),
    xAudienceId: z
      .string()
      .nullable()
      .meta({ description: 'The X audience in use (created or attached); null until the first delivery' }),
    existingXAudienceId: z
      .string()
      .nullable()
      .meta({ description: 'The existing X audience the dataflow was asked to attach to, if any' }),
    size: z.number().nullable(),
    targetable: z.boolean().nullable(),
    reasonsNotTargetable: z.array(z.string()),
    pendingAdds: z.number(),
    pendingRemoves: z.number(),
    oldestPendingAt: z
      .string()
      .nullable()
      .meta({ description: 'Since when the oldest waiting change has waited; null when nothing waits' }),
    nextDeliveryAt: z.string().nullable().meta({
      description:
        'When the worker sends the waiting changes at the latest; null when nothing waits or the dataflow is not active',
    }),
    nextDeliveryReason,
    lastDeliveryAt: z.string().nullable(),
    status: z.string(),
  })
  .meta({ id: 'Audience' });
export const AudienceListSchema = z.object({ items: z.array(AudienceSchema) });
export const AudienceQuerySchema = z.object({ dataflowId: id.optional() });
export const ActivateNowSchema = z
  .object({
    audienceId: z.string(),
    queued: z.number().meta({ description: 'Members queued to be sent to X again with the next delivery' }),
    nextAllowedAt: timestamp.meta({ description: 'When Activate now can run again for this audience' }),
  })
  .meta({ id: 'ActivateNow' });

export const DeadLetterSchema = z
  .object({
    id: z.string(),
    dataflowId: z.string(),
    audienceId: z.string(),
    operation: z.string(),
    user: z.record(z.string(), z.array(z.string())).meta({ description: 'Hashed identifiers only' }),
    error: z.string(),
    createdAt: z.string(),
    replayedAt: z.string().nullable(),
  })
  .meta({ id: 'DeadLetter' });
export const DeadLetterListSchema = z.object({ items: z.array(DeadLetterSchema) });
export const DeadLetterQuerySchema = z.object({
  dataflowId: id.optional(),
  limit: pageLimit(1000, 100),
});
export const DeadLetterReplaySchema = z
  .object({ ids: z.array(id).min(1).max(10_000).optional(), dataflowId: id.optional() })
  .refine((v) => v.ids !== undefined || v.dataflowId !== undefined, {
    message: 'give ids or dataflowId',
    path: ['ids'],
  });
export const DeadLetterReplayResultSchema = z.object({ replayed: z.number() });

export const AlertSchema = z
  .object({
    alertId: z.string(),
    status: z.enum(['firing', 'resolved']),
    type: z
      .enum([...ALERT_TYPES, 'test'])
      .meta({ description: '`test`: a test notification (sent on request, never listed)' }),
    severity: z.enum(['critical', 'warning']),
    dataflowId: z.string(),
    dataflowName: z.string(),
    destinationId: z.string(),
    message: z.string(),
    firedAt: timestamp,
    resolvedAt: timestamp.nullable().meta({ description: 'When the condition cleared; null while firing' }),
    notified: z.boolean().meta({
      description:
        'Whether its firing notification was sent: false while a silence holds it back (and for good when it cleared before the silence ended)',
    }),
    acknowledgedAt: timestamp.nullable().meta({
      description: 'When someone acknowledged it (no reminder is sent after); null while nobody has',
    }),
    acknowledgedBy: z.string().nullable().meta({ description: 'The name of the token that acknowledged it' }),
    details: z.record(z.string(), z.unknown()),
  })
  .meta({ id: 'Alert' });
export const AlertListSchema = z.object({ items: z.array(AlertSchema) });
export const TestAlertResultSchema = z
  .object({
    webhook: z.string().meta({
      description: "The webhook's origin (its URL is a secret), with its format when it is a chat tool's",
      example: 'https://hooks.slack.com (slack)',
    }),
    delivered: z.boolean().meta({ description: 'The webhook answered 2xx' }),
    error: z
      .string()
      .nullable()
      .meta({ description: 'Why it was not delivered (the HTTP status, or the network failure), or null' }),
    notification: z.record(z.string(), z.unknown()).meta({ description: 'The notification as sent' }),
  })
  .meta({ id: 'TestAlertResult' });
// Any type a condition fires as, and the run notifications (a test notification is sent on request, never silenced).
const silenceableType = z.enum(SUBSCRIBABLE_TYPES);
export const AlertSilenceSchema = z
  .object({
    id: z.string(),
    dataflowId: z
      .string()
      .nullable()
      .meta({ description: 'The dataflow it covers; null: every one of the sandbox' }),
    type: silenceableType.nullable().meta({ description: 'The alert type it covers; null: every type' }),
    startsAt: timestamp,
    endsAt: timestamp.meta({
      description: 'When it ends (ending it early sets this to the time it was ended)',
    }),
    state: z.enum(['pending', 'active', 'ended']),
    comment: z.string().meta({ description: 'Why the alerts are silenced' }),
    createdBy: z.string().meta({ description: 'The name of the token that made it' }),
    createdAt: timestamp,
  })
  .meta({ id: 'AlertSilence' });
export const AlertSilenceListSchema = z.object({ items: z.array(AlertSilenceSchema) });
export const AlertSilenceQuerySchema = z.object({
  expired: z
    .enum(['true', 'false'])
    .optional()
    .transform((v) => v === 'true')
    .meta({ description: 'true: the silences that ended in the last 30 days too' }),
});
export const AlertSilenceInputSchema = z
  .object({
    dataflowId: id
      .optional()
      .meta({ description: 'Only this dataflow’s alerts; every dataflow when omitted' }),
    type: silenceableType.optional().meta({ description: 'Only this alert type; every type when omitted' }),
    startsAt: z.iso
      .datetime({ offset: true })
      .optional()
      .meta({ description: 'When it starts (a maintenance window ahead); now when omitted' }),
    endsAt: z.iso
      .datetime({ offset: true })
      .optional()
      .meta({ description: 'When it ends; or give durationMinutes' }),
    durationMinutes: z
      .number()
      .int()
      .min(1)
      .max(43_200)
      .optional()
      .meta({ description: 'How long it lasts from its start (at most 30 days); or give endsAt' }),
    comment: z.string().trim().min(1).max(500).meta({ description: 'Why the alerts are silenced' }),
  })
  .refine((v) => (v.endsAt === undefined) !== (v.durationMinutes === undefined), {
    message: 'give either endsAt or durationMinutes',
    path: ['endsAt'],
  });

export const TestPagerDutyResultSchema = z
  .object({
    events: z.string().meta({ description: 'The origin of the PagerDuty Events API the test went to' }),
    delivered: z.boolean().meta({ description: 'PagerDuty accepted the test trigger (2xx)' }),
    error: z.string().nullable().meta({
      description:
        'Why the trigger was not accepted (the HTTP status, or the network failure), or why the test incident could not be resolved; null when both went through',
    }),
  })
  .meta({ id: 'TestPagerDutyResult' });
export const TestEmailResultSchema = z
  .object({
    to: z.array(z.string()),
    delivered: z.boolean().meta({ description: 'The SMTP server accepted the test email' }),
    error: z
      .string()
      .nullable()
      .meta({ description: 'Why it did not (the SMTP reply or the network failure)' }),
  })
  .meta({ id: 'TestEmailResult' });
export const AlertQuerySchema = z.object({
  status: z
    .enum(['firing', 'resolved'])
    .optional()
    .meta({ description: 'Only firing or only resolved alerts; both when omitted' }),
  dataflowId: id.optional().meta({ description: "Only this dataflow's alerts" }),
  limit: pageLimit(1000, 100),
});

// --- ingest ---------------------------------------------------------------------------------------------------------

export const ProfileExportDocSchema = z
  .object({
    segmentMembership: z.record(
      z.string(),
      z.record(
        z.string(),
        z.object({
          status: z.enum(['realized', 'existing', 'exited']),
          lastQualificationTime: z
            .string()
            .optional()
            .meta({ description: 'An ISO 8601 instant with a zone, e.g. 2022-01-11T21:24:39Z' }),
        }),
      ),
    ),
    identityMap: z.record(z.string(), z.array(z.object({ id: z.string().min(1) }).catchall(z.unknown()))),
    attributes: z.record(z.string(), z.unknown()).optional(),
  })
  .catchall(z.unknown())
  .meta({
    id: 'ProfileExport',
    description:
      'An AEP profile export. The body is one object, a JSON array of them, or NDJSON (application/x-ndjson).',
  });

export const IngestResultSchema = z
  .object({
    requestId: z.string(),
    received: z.number(),
    accepted: z.number(),
    duplicate: z
      .boolean()
      .meta({ description: 'true when this request was already accepted (a retry); nothing changed' }),
    rejected: z.array(
      z.object({
        index: z.number(),
        line: z
          .number()
          .optional()
          .meta({ description: 'NDJSON: the line of the body the item is on (blank lines are no items)' }),
        path: z.string(),
        reason: z.string(),
      }),
    ),
    excluded: z
      .record(z.string(), z.number())
      .optional()
      .meta({
        description:
          'Identities left out, by reason code: each rejected identity under its code, a whole profile once under ' +
          'no_mappable_identifier (no identity the mapping reads), consent_denied or segment_namespace_not_supported. ' +
          'Counted per audience that takes the profile and summed over the dataflows, as their runs count them',
      }),
  })
  .catchall(z.unknown())
  .meta({ id: 'IngestResult' });

const MAX_REJECTED_PERCENT =
  'Mirror mode: the percentage of rows that may be rejected while the members absent from the file are still removed (default 5); above it nobody is removed';
const MAX_REMOVED_PERCENT =
  "Mirror mode: the percentage of the segment's known members that may be absent from the file and removed (default 90; 100 removes any number); above it nobody is removed";

export const ImportQuerySchema = z.object({
  format: z.enum(['ndjson', 'json', 'csv']).optional().meta({
    description: 'Default: from the Content-Type (text/csv, application/x-ndjson, application/json)',
  }),
  mode: z.enum(['incremental', 'mirror']).default('incremental').meta({
    description: 'mirror: the file is the whole segment; its known members absent from the file leave it',
  }),
  segmentId: z
    .string()
    .min(1)
    .max(200)
    .optional()
    .meta({ description: 'Mirror mode: the segment the file holds in full (required then)' }),
  keyNamespace: z
    .string()
    .min(1)
    .max(100)
    .optional()
    .meta({ description: "CSV: the namespace a row's profile_key is hashed under (default CRMID)" }),
  maxRejectedPercent: z.coerce
    .number()
    .min(0)
    .max(100)
    .optional()
    .meta({ description: MAX_REJECTED_PERCENT }),
  maxRemovedPercent: z.coerce.number().min(0).max(100).optional().meta({ description: MAX_REMOVED_PERCENT }),
});

export const ImportUrlSchema = z
  .object({
    url: z.string().min(1).max(8192).meta({
      description:
        'An http(s) URL of the file, on an origin the service may read (TCA_IMPORT_URL_ALLOW): a presigned S3 URL, a signed Cloud Storage URL, an Azure blob URL with a SAS token. Its query string is never stored or shown.',
      example: 'https://exports.s3.amazonaws.com/vip.csv.gz?X-Amz-Signature=…',
    }),
    format: z.enum(['ndjson', 'json', 'csv', 'parquet']).optional().meta({
      description:
        "Default: from the URL's extension (.csv, .json, .ndjson, .jsonl, each maybe .gz; .parquet), else the answer's Content-Type. A Parquet file is read by byte ranges from its end, so the server must answer Range requests and give the object's size",
    }),
    mode: ImportQuerySchema.shape.mode,
    segmentId: ImportQuerySchema.shape.segmentId,
    keyNamespace: ImportQuerySchema.shape.keyNamespace,
    maxRejectedPercent: z.number().min(0).max(100).optional().meta({ description: MAX_REJECTED_PERCENT }),
    maxRemovedPercent: z.number().min(0).max(100).optional().meta({ description: MAX_REMOVED_PERCENT }),
    key: z.string().min(1).max(200).optional().meta({
      description:
        "The import key. Default: one made from the URL without its query string and the object's ETag, so importing the same object again resumes an unfinished import (and answers a completed one's report)",
    }),
  })
  .meta({ id: 'ImportUrl' });

export const ImportReportSchema = z
  .object({
    key: z.string().meta({
      description:
        'The import key (the Idempotency-Key sent, or one the service made): sending the file again with it resumes an unfinished import',
    }),
    attempts: z.number().meta({ description: 'Attempts the import took: 1 unless it was resumed' }),
    replayed: z.boolean().meta({
      description: 'The key names an import completed before: this is its report, and the body was not read',
    }),
    format: z.enum(['ndjson', 'json', 'csv', 'parquet']).meta({
      description: "parquet: a Parquet file imported on the service's machine (`tca import --local`)",
    }),
    mode: z.enum(['incremental', 'mirror']),
    rowsRead: z.number(),
    accepted: z.number(),
    excluded: z
      .record(z.string(), z.number())
      .meta({ description: 'Identities (or profiles) left out, by reason code' }),
    rejectedCount: z.number(),
    rejected: z
      .array(
        z.object({
          line: z.number().meta({ description: 'Line (NDJSON, CSV) or item number (JSON array), 1-based' }),
          errors: z.array(z.object({ path: z.string(), reason: z.string() })),
        }),
      )
      .meta({ description: 'The first 1000 rejected rows; rejectedCount counts them all' }),
    removed: z.number().meta({ description: 'Mirror mode: members absent from the file, now removed' }),
    truncated: z.boolean().meta({
      description:
        'A syntax error stopped reading before the end, or the file looks cut off (an NDJSON last line that is no JSON, without a line break): mirror mode then removed nothing',
    }),
    removalSkipped: z.string().nullable().meta({
      description:
        'Mirror mode read the whole file but removed nobody, and why: more than 5% of its rows were rejected (each may be a member)',
    }),
    warnings: z
      .array(
        z.object({
          code: z.enum(['segment_not_activated', 'column_not_read']),
          segmentIds: z
            .array(z.string())
            .meta({ description: 'segment_not_activated: the segment ids; else empty' }),
          columns: z
            .array(z.string())
            .meta({ description: 'The header columns it is about, as the file names them' }),
          message: z.string().meta({ description: 'What, and what to do' }),
        }),
      )
      .meta({
        description:
          'What was imported but will not reach an audience as the file seems to mean; the rows are imported all the same. `segment_not_activated`: `segment:<id>` columns (CSV, Parquet) naming segments no dataflow of the sandbox activates. `column_not_read`: columns read as attributes nothing reads whose names look like slips for identity or segment columns (`emial`, `phone_number`, `segment_vip`)',
      }),
  })
  .meta({ id: 'ImportReport' });

export const ImportSchema = z
  .object({
    key: z.string(),
    status: z.enum(['running', 'interrupted', 'failed', 'complete']).meta({
      description:
        'interrupted: the upload was cut off or the service stopped; failed: the file could not be read on; both resume',
    }),
    format: z.enum(['ndjson', 'json', 'csv', 'parquet']).meta({
      description: "parquet: a Parquet file imported on the service's machine (`tca import --local`)",
    }),
    mode: z.enum(['incremental', 'mirror']),
    segmentId: z.string().nullable(),
    keyNamespace: z
      .string()
      .meta({ description: 'CSV: the namespace the profile_key column is hashed under' }),
    attempts: z.number(),
    rowsCommitted: z.number().meta({
      description:
        'Rows of the file (lines, array items or CSV records) written so far; a resumed import skips them',
    }),
    error: z.string().nullable().meta({ description: 'Why the last attempt stopped' }),
    report: ImportReportSchema.meta({ description: 'The report so far; the final one once complete' }),
    createdAt: z.string(),
    updatedAt: z.string(),
    finishedAt: z.string().nullable(),
  })
  .meta({ id: 'Import' });

export const ImportListSchema = z.object({ imports: z.array(ImportSchema) });

export const ImportListQuerySchema = z.object({
  limit: pageLimit(500, 50),
});

export const ProfileKeysSchema = z
  .object({
    namespaces: z.array(z.string()).meta({
      description: 'A profile is keyed by the first of these identity namespaces it has (upper case)',
    }),
    isDefault: z
      .boolean()
      .meta({ description: "true when the sandbox names none and the service's default applies" }),
    fixed: z.boolean().meta({
      description:
        'true once the sandbox holds profiles: their keys were made under these namespaces, and a change re-keys them',
    }),
    mergesAcrossNamespaces: z.boolean().meta({
      description:
        'true once the sandbox holds a profile keyed by a namespace after the first (a CRM id alone, a CSV keyed by ' +
        'one): an export carrying ids of several of these namespaces then speaks for the segments it states in place ' +
        'of the profiles those ids key, at one more lookup per id',
    }),
    rekey: z
      .object({
        from: z.array(z.string()).meta({ description: 'The namespaces before the change' }),
        since: z.string().meta({ description: 'When the re-keying began (ISO 8601)' }),
        remaining: z
          .number()
          .int()
          .meta({
            description:
              'Profiles not met under the new keys yet: each takes its new key when it next arrives, or leaves ' +
              'when the re-keying ends with removeRemaining',
          }),
      })
      .nullable()
      .meta({ description: 'The re-keying in progress, or null' }),
  })
  .meta({ id: 'ProfileKeys' });

export const ProfileKeysRekeyFinishSchema = z
  .object({
    settings: ProfileKeysSchema,
    removedProfiles: z.number().int().meta({ description: 'Profiles that left every audience' }),
    removedMemberships: z.number().int().meta({
      description: 'Their audience memberships: each is removed from its X audience by the next delivery',
    }),
  })
  .meta({ id: 'ProfileKeysRekeyFinish' });

export const CustomPolicySchema = z
  .object({
    id: z.string().meta({ description: 'Kept across updates; made (`dup_…`) for a new policy' }),
    name: z.string(),
    action: z.string().meta({ description: 'The marketing action the policy restricts' }),
    labels: z.array(z.string()).meta({ description: 'Data with any of these labels may not be used for it' }),
    enabled: z.boolean(),
  })
  .meta({ id: 'CustomPolicy' });

export const DataUsagePoliciesSchema = z
  .object({
    core: z
      .array(z.object({ name: z.string(), action: z.string().nullable(), labels: z.array(z.string()) }))
      .meta({ description: 'The policies every sandbox has (action null: every activation to X)' }),
    custom: z.array(CustomPolicySchema).meta({ description: "The sandbox's own" }),
  })
  .meta({ id: 'DataUsagePolicies' });

export const DataUsagePoliciesPutSchema = z.object({
  policies: z
    .array(
      z.object({
        id: z.string().min(1).max(64).optional(),
        name: z.string().min(1).max(100),
        action: z.string().min(1).max(100),
        labels: z.array(z.string()).min(1).max(50),
        enabled: z.boolean().optional().meta({ description: 'Default true' }),
      }),
    )
    .max(50)
    .meta({ description: "The sandbox's own policies, the full set: those left out are deleted" }),
});

export const FieldLabelsSchema = z
  .object({
    fields: z
      .array(
        z.object({
          sourceType: z.enum(['namespace', 'attribute']),
          source: z.string().meta({ description: 'An identity namespace (any case) or an attribute path' }),
          labels: z.array(z.string()),
        }),
      )
      .meta({
        description:
          'Data-usage labels on fields a mapping can export: an activation whose mapping exports one is checked ' +
          'against the data-usage policies like a labelled segment',
      }),
  })
  .meta({ id: 'FieldLabels' });

export const FieldLabelsPutSchema = z.object({
  fields: z
    .array(
      z.object({
        sourceType: z.string().min(1).max(20).meta({ description: 'namespace or attribute' }),
        source: z.string().min(1).max(200),
        labels: z.array(z.string()).min(1).max(50),
      }),
    )
    .max(200)
    .meta({ description: 'The full set: fields left out lose their labels' }),
});

export const ConsentPolicySchema = z
  .object({
    id: z.string().meta({ description: 'Kept across updates; made (`cp_…`) for a new policy' }),
    name: z.string(),
    marketingActions: z.array(z.string()).meta({
      description: 'The policy applies to dataflows whose destination has any of these marketing actions',
    }),
    labels: z.array(z.string()).meta({
      description:
        'Data-usage labels (upper case): the policy applies to an activation whose segment, or a field its mapping exports, carries any of them',
    }),
    operator: z.enum(CONSENT_OPERATORS).meta({
      description:
        'With both marketing actions and labels: and (both must match) or or (either one); otherwise unused',
    }),
    attribute: z.enum(CONSENT_ATTRIBUTES).meta({ description: 'The XDM consent attribute the policy reads' }),
    allowedValues: z.array(z.enum(CONSENT_VALUES)).meta({
      description:
        'A profile is exported only when the attribute holds one of these (or an alternative holds); absent counts ' +
        'as no consent',
    }),
    alternatives: z
      .array(
        z.object({ attribute: z.enum(CONSENT_ATTRIBUTES), allowedValues: z.array(z.enum(CONSENT_VALUES)) }),
      )
      .meta({
        description:
          'Conditions any of which also lets a profile through (OR); a profile must pass every policy that applies (AND)',
      }),
    enabled: z.boolean(),
  })
  .meta({ id: 'ConsentPolicy' });

const ConsentConditionPutSchema = z.object({
  attribute: z
    .string()
    .min(1)
    .max(100)
    .meta({ description: `One of ${CONSENT_ATTRIBUTES.join(', ')}` }),
  allowedValues: z
    .array(z.string().min(1).max(10))
    .min(1)
    .max(11)
    .optional()
    .meta({ description: `Default ["y"]; any of ${CONSENT_VALUES.join(', ')}` }),
});

export const ConsentPoliciesSchema = z
  .object({ policies: z.array(ConsentPolicySchema) })
  .meta({ id: 'ConsentPolicies' });

export const ConsentPoliciesPutSchema = z.object({
  policies: z
    .array(
      z.object({
        id: z.string().min(1).max(64).optional(),
        name: z.string().min(1).max(100),
        marketingActions: z.array(z.string().min(1).max(100)).max(20).optional().meta({
          description: 'Default none; a policy names at least one marketing action or label',
        }),
        labels: z.array(z.string().min(1).max(50)).max(20).optional().meta({
          description: 'Default none: data-usage labels (C1…C12, S1…, your own) of segments or mapped fields',
        }),
        operator: z.string().max(10).optional().meta({ description: 'and (default) or or' }),
        ...ConsentConditionPutSchema.shape,
        alternatives: z.array(ConsentConditionPutSchema).max(5).optional().meta({
          description: 'Default none: conditions any of which also lets a profile through (OR)',
        }),
        enabled: z.boolean().optional().meta({ description: 'Default true' }),
      }),
    )
    .max(50)
    .meta({ description: 'The full set: policies left out are deleted' }),
});

export const ConsentPreviewQuerySchema = z.object({
  destinationId: z.string().min(1).max(100).optional().meta({
    description: 'Count the policies that apply to this destination; without it, every policy on its own',
  }),
  segmentIds: z
    .string()
    .min(1)
    .max(10_000)
    .optional()
    .meta({ description: 'Comma-separated segment ids (at most 250) to count the known members of' }),
  fields: z
    .string()
    .min(1)
    .max(10_000)
    .optional()
    .meta({
      description:
        'Comma-separated fields the mapping exports, as namespace:<identity namespace> or attribute:<path> (at most ' +
        '50): policies on labels apply through their labels too',
    }),
});

const ConsentCountsSchema = z.object({
  profiles: z.number(),
  consenting: z.number().meta({ description: 'Those that pass every counted policy switched on' }),
  denied: z
    .array(z.object({ policyId: z.string(), profiles: z.number() }))
    .meta({ description: 'Per counted policy (switched off ones too), the profiles it leaves out' }),
});

export const ConsentPreviewSchema = z
  .object({
    policies: z.array(ConsentPolicySchema).meta({
      description:
        'The policies counted: those that apply to the destination through its marketing actions (every policy ' +
        'without a destination), switched on or off; only those switched on restrict anything',
    }),
    all: ConsentCountsSchema.meta({ description: 'Every profile the sandbox knows' }),
    segments: z
      .array(z.object({ segmentId: z.string() }).extend(ConsentCountsSchema.shape))
      .meta({ description: "Each segment's known members" }),
  })
  .meta({ id: 'ConsentPreview' });

export const ProfileKeysPatchSchema = z.object({
  namespaces: z.array(z.string().min(1).max(100)).min(1).max(10).nullable().meta({
    description: 'In order of preference, e.g. ["CUSTOMERID", "ECID"]; null returns to the default',
  }),
  rekey: z
    .boolean()
    .optional()
    .meta({
      description:
        'Required (true) once the sandbox holds profiles: each profile takes its key under the new namespaces when it ' +
        'next arrives, found by the key it had before',
    }),
});

export const ProfileKeysRekeyFinishPostSchema = z.object({
  removeRemaining: z.boolean().meta({
    description:
      'true: profiles not met under the new keys leave every audience (removed from X by the next delivery) and ' +
      'keep nothing; false: they stay as they are',
  }),
});

export const ErasurePostSchema = z.object({
  identities: z
    .array(
      z.object({
        namespace: z
          .string()
          .min(1)
          .max(100)
          .meta({
            description:
              "One of the sandbox's profile key namespaces (ECID, CRMID by default), or an identity namespace its " +
              'mappings read (Email, say: matched on the hash the mapping stores); any case',
          }),
        id: z
          .string()
          .min(1)
          .max(1000)
          .meta({ description: 'The id as the profile exports carry it (hashed at once)' }),
      }),
    )
    .min(1)
    .max(1000),
});

export const ErasureSchema = z
  .object({
    profiles: z.number().meta({ description: 'Profiles found and erased' }),
    audiences: z.number().meta({
      description: 'Audience memberships left: the next delivery removes them from their X audiences',
    }),
    notFound: z.number().meta({ description: 'Identities that match no profile' }),
    skipped: z.array(z.object({ index: z.number(), reason: z.string() })).meta({
      description:
        'Identities that cannot name a profile here (no key or mapped namespace, or an invalid id), with why',
    }),
  })
  .meta({ id: 'Erasure' });
