// What the engine benchmarks share: the emulator's demo credentials and an activated dataflow in the store.
import type { MappingRow } from '../src/audience/mapping.ts';
import { defaultDemoSeed } from '../src/emulator/index.ts';
import type { Audience, Store } from '../src/store/index.ts';

const seed = defaultDemoSeed();

/** The X account and credentials of the emulator's demo seed. */
export const BENCH_ACCOUNT = seed.accounts[0]!.id;
export const BENCH_CREDENTIALS = {
  consumerKey: seed.users[0]!.consumer_key,
  consumerSecret: seed.apps[0]!.consumer_secret,
  accessToken: seed.users[0]!.token,
  accessTokenSecret: seed.users[0]!.token_secret,
};

/** A destination on the demo account and a dataflow activating one audience per segment, from the start. */
export async function benchDataflow(
  store: Store,
  mapping: MappingRow[],
  segments: readonly string[],
): Promise<Audience[]> {
  const destination = await store.destinations.create({
    sandboxId: 'prod',
    name: 'bench',
    accountId: BENCH_ACCOUNT,
    credentials: BENCH_CREDENTIALS,
    status: 'active',
  });
  const flow = await store.dataflows.create({
    sandboxId: 'prod',
    destinationId: destination.id,
    name: 'bench',
    mapping,
  });
  const audiences: Audience[] = [];
  for (const segmentId of segments) {
    audiences.push(
      await store.audiences.create({
        sandboxId: 'prod',
        dataflowId: flow.id,
        segmentId,
        mappingName: `Bench ${segmentId}`,
        startDate: 0,
      }),
    );
  }
  return audiences;
}
