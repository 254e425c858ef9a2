import { describe, expect, it } from 'vitest';
import { BACKENDS } from '../store/backends.ts';
import { seededRandom, setup, usersRequests, xAudienceIdOf, xIdentifiers, type Harness } from './harness.ts';
import {
  createFlow,
  expectedIdentifiers,
  exportOf,
  makePopulation,
  type ModelProfile,
} from './population.ts';

const HOUR = 3_600_000;

interface ModelAudience {
  id: string;
  segment: string;
  start: number;
  end: number | null;
  backfilled: boolean;
  /** What X should hold, per member key. */
  exported: Map<string, string[]>;
  /** `exported` at the previous flush (to count audiences that needed a request). */
  previous: string;
}

const memberKey = (p: ModelProfile) =>
  p.ecid ? `k:${p.ecid}` : `u:${expectedIdentifiers(p).sort().join(',')}`;
const active = (a: ModelAudience, t: number) => t >= a.start && (a.end === null || t < a.end);

for (const backend of BACKENDS) {
  describe(`end to end against the emulator (${backend.name})`, () => {
    let h: Harness | undefined;

    // Pages of 7 ledger rows: each full page's last request waits for the next pages to fill it up.
    for (const pageSize of [null, 7]) {
      it(`keeps every X audience equal to the expected set with near-minimal requests${pageSize === null ? '' : ` (pages of ${pageSize} rows)`}`, async () => {
        h = await setup(backend, pageSize === null ? {} : { tuning: { pageSize } });
        const random = seededRandom(backend.name === 'sqlite' ? 1 : 2);
        const t0 = h.clock.now();
        const segments = [
          { id: 'seg-loyal', name: 'Loyal customers', startDate: t0 - HOUR },
          { id: 'seg-later', name: 'Starts later', startDate: t0 + 90 * 60_000 },
          { id: 'seg-ending', name: 'Ends soon', startDate: t0 - HOUR, endDate: t0 + 70 * 60_000 },
        ];
        const { audiences } = await createFlow(h, segments);
        const model: ModelAudience[] = audiences.map((a, i) => ({
          id: a.id,
          segment: segments[i]!.id,
          start: segments[i]!.startDate,
          end: segments[i]!.endDate ?? null,
          backfilled: false,
          exported: new Map(),
          previous: '[]',
        }));
        const people = makePopulation(240, random);
        let minimumRequests = 0;
        let requestId = 0;

        const apply = (
          p: ModelProfile,
          statuses: Record<string, 'realized' | 'existing' | 'exited'>,
          identityChanged: boolean,
          now: number,
        ) => {
          for (const [segment, status] of Object.entries(statuses)) {
            if (status === 'exited') p.segments.delete(segment);
            else p.segments.add(segment);
          }
          const ids = expectedIdentifiers(p);
          for (const a of model) {
            if (!active(a, now)) continue;
            const mentioned = a.segment in statuses;
            if (!mentioned && !(identityChanged && p.segments.has(a.segment))) continue;
            if (!p.ecid && ids.length === 0) continue;
            if (p.segments.has(a.segment) && ids.length > 0) a.exported.set(memberKey(p), ids);
            else a.exported.delete(memberKey(p));
          }
        };

        for (let round = 0; round < 5; round += 1) {
          const now = h.clock.now();
          const events: Record<string, unknown>[] = [];
          for (const p of people) {
            if (random() > 0.35) continue;
            const roll = random();
            const segment = segments[Math.floor(random() * segments.length)]!.id;
            if (roll < 0.45) {
              const status = random() < 0.8 ? 'realized' : 'existing';
              apply(p, { [segment]: status }, false, now);
              events.push(exportOf(p, { [segment]: status }));
            } else if (roll < 0.7) {
              const inSegment = [...p.segments][0] ?? segment;
              apply(p, { [inSegment]: 'exited' }, false, now);
              events.push(exportOf(p, { [inSegment]: 'exited' }));
            } else if (roll < 0.85 && p.ecid) {
              // Identity change without any segment in the export: applies to every audience the profile is in.
              if (p.emails.length > 0 && random() < 0.6) p.emails = [`user${p.index}-r${round}@example.com`];
              else p.phones = [`+1415556${String(1000 + p.index).padStart(4, '0')}`];
              apply(p, {}, true, now);
              events.push(exportOf(p, {}));
            } else if (roll < 0.93) {
              // Qualified and exited again before any delivery: costs nothing.
              apply(p, { [segment]: 'realized' }, false, now);
              events.push(exportOf(p, { [segment]: 'realized' }));
              apply(p, { [segment]: 'exited' }, false, now);
              events.push(exportOf(p, { [segment]: 'exited' }));
            } else {
              // A membership in another namespace is excluded, not applied.
              events.push({
                segmentMembership: { CustomerAudienceUpload: { [segment]: { status: 'realized' } } },
                identityMap: { ECID: [{ id: `foreign-${p.index}` }] },
              });
            }
          }
          for (let i = 0; i < events.length; i += 40) {
            const id = `req-${(requestId += 1)}`;
            const first = await h.engine.ingest(events.slice(i, i + 40), {
              sandboxId: 'prod',
              requestId: id,
            });
            expect(first.duplicate).toBe(false);
            if (i === 0) {
              // A retried request changes nothing.
              const again = await h.engine.ingest(events.slice(i, i + 40), {
                sandboxId: 'prod',
                requestId: id,
              });
              expect(again.duplicate).toBe(true);
            }
          }

          // Schedule edge: an audience whose start has come is backfilled with every current member.
          for (const a of model) {
            if (!a.backfilled && active(a, now)) {
              a.backfilled = true;
              for (const p of people) {
                const ids = expectedIdentifiers(p);
                if (p.segments.has(a.segment) && ids.length > 0 && !a.exported.has(memberKey(p)))
                  a.exported.set(memberKey(p), ids);
              }
            }
          }
          for (const a of model) {
            const state = JSON.stringify([...a.exported].sort());
            if (state !== a.previous) minimumRequests += 1;
            a.previous = state;
          }

          // The dry-run plan counts the requests the flush then makes.
          const planned = (
            await Promise.all(
              [...new Set(audiences.map((a) => a.dataflowId))].map((id) => h!.engine.plan(id)),
            )
          ).reduce((n, p) => n + p.totals.requests, 0);
          const before = usersRequests(h.emulator);
          await h.engine.flush();
          expect({ round, requests: usersRequests(h.emulator) - before }).toEqual({
            round,
            requests: planned,
          });
          for (const a of model) {
            const expected = new Set([...a.exported.values()].flat());
            const xId = await xAudienceIdOf(h.store, a.id);
            const actual = xId === null ? new Set<string>() : xIdentifiers(h.emulator, xId);
            expect({ round, audience: a.segment, identifiers: [...actual].sort() }).toEqual({
              round,
              audience: a.segment,
              identifiers: [...expected].sort(),
            });
          }
          h.clock.advance(40 * 60_000);
        }

        const sent = usersRequests(h.emulator);
        expect(minimumRequests).toBeGreaterThan(5);
        expect(sent).toBeGreaterThanOrEqual(minimumRequests);
        expect(sent).toBeLessThanOrEqual(Math.ceil(minimumRequests * 1.05));

        const runs = await h.engine.runs(audiences[0]!.dataflowId, { from: t0 - HOUR, to: h.clock.now() });
        const totals = runs.reduce(
          (acc, r) => ({
            added: acc.added + r.identitiesAdded,
            excluded: acc.excluded + r.identitiesExcluded,
            received: acc.received + r.profilesReceived,
          }),
          { added: 0, excluded: 0, received: 0 },
        );
        expect(totals.added).toBeGreaterThan(0);
        expect(totals.excluded).toBeGreaterThan(0);
        expect(totals.received).toBeGreaterThan(0);
        expect(runs[0]?.excludedByReason).toBeDefined();
        // Every users request X received is in its dataflow's runs.
        let counted = 0;
        for (const dataflowId of new Set(audiences.map((a) => a.dataflowId))) {
          for (const run of await h.engine.runs(dataflowId, { from: t0 - HOUR, to: h.clock.now() }))
            counted += run.xRequests;
        }
        expect(counted).toBe(sent);
      });
    }
  });
}
