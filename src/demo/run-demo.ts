import type { Config } from '../config/index.ts';
import { createEmulator, defaultDemoSeed, type Emulator, type RunningEmulator } from '../emulator/index.ts';
import { DEFAULT_SANDBOX_ID } from '../store/index.ts';
import { startService, readAdminToken, type Service, type StartServiceOptions } from '../server/service.ts';
import { DEMO_SEGMENTS, syntheticProfiles } from './synthetic-profiles.ts';

/** A step of the demo that could not complete; the message says which and why. */
export class DemoError extends Error {
  override readonly name = 'DemoError';
}

export const DEMO_DESTINATION_NAME = 'X Ads demo (emulator)';
export const DEMO_DATAFLOW_NAME = 'Demo CRM audiences to X';
const DEMO_PROFILES = 3000;
const BATCH = 500;

export interface DemoSummary {
  consoleUrl: string;
  apiUrl: string;
  emulatorUrl: string | null;
  adminToken: string | undefined;
  adminTokenFile: string;
  destinationId: string;
  dataflowId: string;
  profilesSent: number;
  audiences: Array<{ name: string; xAudienceId: string | null; size: number | null }>;
  identitiesActivated: number;
  excludedByReason: Record<string, number>;
  rejectedProfiles: number;
}

export interface DemoHandle {
  service: Service;
  emulator: Emulator | null;
  summary: DemoSummary;
  close(): Promise<void>;
}

/**
 * The one-command demo: the service on the embedded store, the built-in X emulator (unless TCA_X_API_BASE_URL points at
 * a real API), a demo destination, segments and dataflow (created once, reused on later runs), and a few thousand
 * synthetic profiles streamed through the ingest API and delivered.
 */
export async function runDemo(config: Config, options: StartServiceOptions = {}): Promise<DemoHandle> {
  let emulator: Emulator | null = null;
  let running: RunningEmulator | null = null;
  let apiBaseUrl = config.xApiBaseUrl;
  if (!config.xApiBaseUrl || !config.xApiBaseUrlExplicit) {
    // Audiences are sized 20 s after a change, not X's hours, so the demo shows sizes while you watch.
    emulator = createEmulator({ seed: defaultDemoSeed(), processingDelayMs: 20_000 });
    running = await listenWithFallback(emulator, config.emulatorPort);
    apiBaseUrl = running.url;
  }
  // With the built-in emulator, connections made in the console go to it too, and "Log in with X" is one click: the
  // emulator's app is the default unless the operator set one.
  const demoApp = defaultDemoSeed().apps[0];
  const serviceConfig: Config = emulator
    ? {
        ...config,
        xApiBaseUrl: apiBaseUrl,
        xDefaultApp:
          config.xDefaultApp ??
          (demoApp
            ? { consumerKey: demoApp.consumer_key, consumerSecret: demoApp.consumer_secret }
            : undefined),
      }
    : config;
  const service = await startService(serviceConfig, {
    ...options,
    engineTuning: { healthIntervalMs: 60_000, ...(options.engineTuning ?? {}) },
  });
  const close = async () => {
    await service.close();
    await running?.close();
  };
  try {
    const summary = await seedAndStream(service, { apiBaseUrl, emulator, emulatorUrl: running?.url ?? null });
    return { service, emulator, summary, close };
  } catch (e) {
    await close();
    throw e;
  }
}

async function listenWithFallback(emulator: Emulator, port: number): Promise<RunningEmulator> {
  try {
    return await emulator.listen({ port, host: '127.0.0.1' });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw e;
    return emulator.listen({ port: 0, host: '127.0.0.1' });
  }
}

async function seedAndStream(
  service: Service,
  ctx: { apiBaseUrl: string; emulator: Emulator | null; emulatorUrl: string | null },
): Promise<DemoSummary> {
  const { store, engine } = service;
  const sandboxId = DEFAULT_SANDBOX_ID;
  const seed = defaultDemoSeed();
  const app = seed.apps[0]!;
  const user = seed.users[0]!;
  const account = seed.accounts[0]!;
  const credentials = {
    consumerKey: app.consumer_key,
    consumerSecret: app.consumer_secret,
    accessToken: user.token,
    accessTokenSecret: user.token_secret,
  };

  // Destination: found by name so re-runs reuse it; the emulator's URL may change between runs.
  let destination = (await store.destinations.list(sandboxId)).find((d) => d.name === DEMO_DESTINATION_NAME);
  if (!destination) {
    destination = await store.destinations.create({
      sandboxId,
      name: DEMO_DESTINATION_NAME,
      description: 'Demo connection to the built-in X Ads API emulator',
      accountId: account.id,
      credentials: ctx.emulator ? credentials : null,
      apiBaseUrl: ctx.apiBaseUrl,
      marketingActions: ['Onsite Advertising'],
    });
  } else if (ctx.emulator) {
    await store.destinations.setCredentials(sandboxId, destination.id, credentials);
    destination =
      (await store.destinations.update(sandboxId, destination.id, { apiBaseUrl: ctx.apiBaseUrl })) ??
      destination;
  }
  await service.backend.destinations.verify(sandboxId, destination.id);

  for (const s of DEMO_SEGMENTS) {
    await store.segments.upsert({
      sandboxId,
      id: s.id,
      namespace: 'ups',
      name: s.name,
      description: s.description,
    });
  }

  let dataflow = (await store.dataflows.list(sandboxId)).find((d) => d.name === DEMO_DATAFLOW_NAME);
  if (!dataflow) {
    const created = await service.backend.dataflows.create(sandboxId, {
      name: DEMO_DATAFLOW_NAME,
      destinationId: destination.id,
      mapping: [
        { sourceType: 'namespace', source: 'Email', target: 'email', applyTransformation: true },
        { sourceType: 'namespace', source: 'Phone', target: 'phone_number', applyTransformation: true },
      ],
      audiences: DEMO_SEGMENTS.map((s) => ({ segmentId: s.id })),
      maxBatchAgeSeconds: 60,
    });
    if (!created.ok) throw new DemoError(`demo dataflow refused: ${JSON.stringify(created.problems)}`);
    // A consent policy to look at, switched off: the activation wizard's consent preview shows what it would leave out.
    if ((await engine.consentPolicies(sandboxId)).length === 0) {
      await engine.setConsentPolicies(sandboxId, [
        {
          name: 'Onsite ads need sharing consent',
          marketingActions: ['Onsite Advertising'],
          attribute: 'consents.share.val',
          allowedValues: ['y'],
          enabled: false,
        },
      ]);
    }
    dataflow = await store.dataflows.get(sandboxId, created.value.id);
  } else if (ctx.emulator) {
    // A fresh emulator holds none of the audiences an earlier run created: deliver everything again.
    await engine.recreateXAudiences(dataflow.id);
  }
  if (!dataflow) throw new DemoError('demo dataflow missing');

  const token = await demoToken(service);
  const profiles = syntheticProfiles(DEMO_PROFILES);
  let rejected = 0;
  for (let i = 0; i < profiles.length; i += BATCH) {
    const body = profiles
      .slice(i, i + BATCH)
      .map((p) => JSON.stringify(p))
      .join('\n');
    const res = await fetch(`${service.url}/api/v1/ingest/profiles`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${token.value}`,
        'content-type': 'application/x-ndjson',
        'idempotency-key': `demo-v2-${i / BATCH}`,
      },
      body,
    });
    const result = (await res.json()) as { rejected?: unknown[]; error?: { message: string } };
    if (res.status !== 202)
      throw new DemoError(`demo ingest failed (${res.status}): ${result.error?.message ?? ''}`);
    rejected += result.rejected?.length ?? 0;
  }
  await token.release();

  await engine.flush({ sandboxId, dataflowId: dataflow.id });
  if (ctx.emulator) {
    ctx.emulator.admin.configure({ processingDelayMs: 0 });
    ctx.emulator.admin.process();
    ctx.emulator.admin.configure({ processingDelayMs: 20_000 });
    await store.db
      .updateTable('dataflow_audiences')
      .set({ health_checked_at: null })
      .where('dataflow_id', '=', dataflow.id)
      .execute();
    await engine.pollHealth();
  }

  const audiences = await store.audiences.list(sandboxId, { dataflowId: dataflow.id });
  const runs = await engine.runs(dataflow.id, { from: Date.now() - 86_400_000, to: Date.now() + 3_600_000 });
  const excludedByReason: Record<string, number> = {};
  let activated = 0;
  for (const r of runs) {
    activated += r.identitiesAdded;
    for (const [k, v] of Object.entries(r.excludedByReason))
      excludedByReason[k] = (excludedByReason[k] ?? 0) + v;
  }
  return {
    consoleUrl: `${service.url}/`,
    apiUrl: `${service.url}/api/v1`,
    emulatorUrl: ctx.emulatorUrl,
    adminToken: service.adminToken,
    adminTokenFile: service.adminTokenFile,
    destinationId: destination.id,
    dataflowId: dataflow.id,
    profilesSent: profiles.length,
    audiences: audiences.map((a) => ({
      name: a.xAudienceName ?? a.mappingName,
      xAudienceId: a.xAudienceId,
      size: a.audienceSize,
    })),
    identitiesActivated: activated,
    excludedByReason,
    rejectedProfiles: rejected,
  };
}

/** The admin token when its file is there and valid; otherwise a short-lived ingest token. */
async function demoToken(service: Service): Promise<{ value: string; release(): Promise<void> }> {
  const fromFile = service.adminToken ?? (await readAdminToken(service.config.dataDir));
  if (fromFile && (await service.store.apiTokens.authenticate(fromFile)))
    return { value: fromFile, release: async () => undefined };
  const { token, apiToken } = await service.store.apiTokens.create({
    sandboxId: DEFAULT_SANDBOX_ID,
    name: 'demo-ingest',
    permissions: ['Ingest Profiles'],
  });
  return {
    value: token,
    release: async () => void (await service.store.apiTokens.revoke(DEFAULT_SANDBOX_ID, apiToken.id)),
  };
}

export function formatDemoSummary(s: DemoSummary): string {
  const lines = [
    '',
    'x-custom-audiences is running (demo).',
    '',
    `  Console:   ${s.consoleUrl}`,
    `  API:       ${s.apiUrl}  (OpenAPI: ${s.apiUrl}/openapi.json)`,
    ...(s.emulatorUrl ? [`  Emulator:  ${s.emulatorUrl}  (built-in X Ads API emulator)`] : []),
    s.adminToken
      ? `  Admin token (shown once; also in ${s.adminTokenFile}):\n    ${s.adminToken}`
      : `  Admin token: in ${s.adminTokenFile}`,
    '',
    `  Streamed ${s.profilesSent} synthetic profiles through POST /api/v1/ingest/profiles (${s.rejectedProfiles} rejected).`,
    `  Audiences on X (${s.audiences.length}):`,
    ...s.audiences.map(
      (a) =>
        `    - ${a.name}: ${a.xAudienceId ?? 'not created yet'}${a.size === null ? '' : `, size ${a.size}`}`,
    ),
    `  Identities activated: ${s.identitiesActivated}`,
    `  Excluded by reason: ${
      Object.entries(s.excludedByReason)
        .map(([k, v]) => `${k} ${v}`)
        .join(', ') || 'none'
    }`,
    '',
    '  Try: TCA_TOKEN=$(cat ' + s.adminTokenFile + ') node bin/tca.js audiences',
    '  Stop with Ctrl-C.',
    '',
  ];
  return lines.join('\n');
}
