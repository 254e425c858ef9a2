import { z } from 'zod';

/** Ads-account permissions as `authenticated_user_access` reports them (docs.x.com campaign management). */
export const X_PERMISSIONS = [
  'ACCOUNT_ADMIN',
  'AD_MANAGER',
  'CREATIVE_MANAGER',
  'CAMPAIGN_ANALYST',
  'ANALYST',
  'PARTNER_AUDIENCE_MANAGER',
  'TWEET_COMPOSER',
] as const;

const isoTime = z
  .string()
  .refine((s) => !Number.isNaN(Date.parse(s)), { message: 'expected an ISO 8601 time' });

/** The seed document of `POST /_emulator/seed` and `tca emulator --seed FILE`. */
export const emulatorSeedSchema = z.object({
  apps: z
    .array(
      z.object({
        consumer_key: z.string().min(1),
        consumer_secret: z.string().min(1),
        /** false models an app without Ads API access: 403 UNAUTHORIZED_CLIENT_APPLICATION on every route. */
        ads_access: z.boolean().optional(),
        /** false models an app not allowlisted for the Audience API: 403 on custom audience routes only. */
        audience_access: z.boolean().optional(),
      }),
    )
    .default([]),
  users: z
    .array(
      z.object({
        user_id: z.string().min(1),
        consumer_key: z.string().min(1),
        token: z.string().min(1),
        token_secret: z.string().min(1),
        screen_name: z.string().optional(),
      }),
    )
    .default([]),
  accounts: z
    .array(
      z.object({
        id: z.string().min(1),
        name: z.string(),
        created_at: isoTime.optional(),
        approval_status: z.string().default('ACCEPTED'),
        timezone: z.string().optional(),
        access: z
          .array(z.object({ user_id: z.string().min(1), permissions: z.array(z.string()) }))
          .default([]),
      }),
    )
    .default([]),
});

export type EmulatorSeed = z.input<typeof emulatorSeedSchema>;
export type ParsedSeed = z.output<typeof emulatorSeedSchema>;

export type SeedParseResult =
  { ok: true; seed: ParsedSeed } | { ok: false; errors: Array<{ path: string; reason: string }> };

/** Validates a seed document; errors name the offending path. */
export function parseEmulatorSeed(input: unknown): SeedParseResult {
  const result = emulatorSeedSchema.safeParse(input);
  if (result.success) return { ok: true, seed: result.data };
  return {
    ok: false,
    errors: result.error.issues.map((issue) => ({ path: issue.path.join('.'), reason: issue.message })),
  };
}

/**
 * The demo app, user and ads account the emulator starts with when no seed is given.
 *
 * @example
 * const emulator = createEmulator({ seed: defaultDemoSeed() });
 */
export function defaultDemoSeed(): ParsedSeed {
  return {
    apps: [{ consumer_key: 'demo-consumer-key', consumer_secret: 'demo-consumer-secret' }],
    users: [
      {
        user_id: '2417045708',
        screen_name: 'demo_advertiser',
        consumer_key: 'demo-consumer-key',
        token: '2417045708-demo-access-token',
        token_secret: 'demo-access-token-secret',
      },
    ],
    accounts: [
      {
        id: '18ce54d4x5t',
        name: 'Demo Advertiser',
        created_at: '2024-01-15T09:30:00Z',
        approval_status: 'ACCEPTED',
        timezone: 'America/Los_Angeles',
        access: [{ user_id: '2417045708', permissions: ['ACCOUNT_ADMIN', 'PARTNER_AUDIENCE_MANAGER'] }],
      },
    ],
  };
}
