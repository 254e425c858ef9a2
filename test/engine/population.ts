import { normalizeIdentity } from '../../src/identity/index.ts';
import type { Harness } from './harness.ts';

/** Mapping used by the generated populations: plain e-mails, pre-hashed e-mails, E.164 phones. */
export const POPULATION_MAPPING = [
  { sourceType: 'namespace' as const, source: 'Email', target: 'email' as const, applyTransformation: true },
  {
    sourceType: 'namespace' as const,
    source: 'Email_LC_SHA256',
    target: 'email' as const,
    applyTransformation: false,
  },
  {
    sourceType: 'namespace' as const,
    source: 'Phone_E.164',
    target: 'phone_number' as const,
    applyTransformation: true,
  },
];

export interface ModelProfile {
  index: number;
  ecid: string | null;
  emails: string[];
  hashedEmails: string[];
  phones: string[];
  segments: Set<string>;
}

/** The identifiers X should hold for a profile (`type:value`), as the identity rules compute them. */
export function expectedIdentifiers(p: ModelProfile): string[] {
  const out: string[] = [];
  for (const e of p.emails) {
    const r = normalizeIdentity('email', e);
    if (r.ok) out.push(`email:${r.value}`);
  }
  for (const h of p.hashedEmails) {
    const r = normalizeIdentity('email', h, { hashed: true });
    if (r.ok) out.push(`email:${r.value}`);
  }
  for (const ph of p.phones) {
    const r = normalizeIdentity('phone_number', ph);
    if (r.ok) out.push(`phone_number:${r.value}`);
  }
  return [...new Set(out)];
}

export function exportOf(
  p: ModelProfile,
  statuses: Record<string, 'realized' | 'existing' | 'exited'>,
): Record<string, unknown> {
  const identityMap: Record<string, Array<{ id: string }>> = {};
  if (p.ecid) identityMap.ECID = [{ id: p.ecid }];
  if (p.emails.length > 0) identityMap.Email = p.emails.map((id) => ({ id }));
  if (p.hashedEmails.length > 0) identityMap.Email_LC_SHA256 = p.hashedEmails.map((id) => ({ id }));
  if (p.phones.length > 0) identityMap['Phone_E.164'] = p.phones.map((id) => ({ id }));
  const ups: Record<string, { status: string; lastQualificationTime: string }> = {};
  for (const [segment, status] of Object.entries(statuses))
    ups[segment] = { status, lastQualificationTime: '2026-06-01T00:00:00Z' };
  return { segmentMembership: { ups }, identityMap };
}

/** Builds a deterministic population with keyless profiles, duplicates across profiles, hashed and invalid inputs. */
export function makePopulation(count: number, random: () => number): ModelProfile[] {
  const pick = <T>(list: readonly T[]) => list[Math.floor(random() * list.length)]!;
  const people: ModelProfile[] = [];
  for (let i = 0; i < count; i += 1) {
    const keyless = random() < 0.1;
    const p: ModelProfile = {
      index: i,
      ecid: keyless ? null : `ecid-${i}`,
      emails: [],
      hashedEmails: [],
      phones: [],
      segments: new Set(),
    };
    const kind = random();
    if (kind < 0.55) p.emails.push(random() < 0.3 ? ` User${i}@Example.COM ` : `user${i}@example.com`);
    else if (kind < 0.75) {
      const r = normalizeIdentity('email', `hashed${i}@example.com`);
      if (r.ok) p.hashedEmails.push(r.value.toUpperCase());
    } else if (kind < 0.85) p.emails.push(`not-an-email-${i}`);
    if (random() < 0.4) p.phones.push(`+1415555${String(1000 + i).padStart(4, '0')}`);
    if (random() < 0.05) p.phones.push('12');
    // Duplicates across profiles: share an address with an earlier profile.
    if (i > 5 && random() < 0.08) p.emails.push(`user${Math.floor(random() * i)}@example.com`);
    if (keyless && p.emails.length + p.hashedEmails.length + p.phones.length === 0)
      p.emails.push(`anon${i}@example.com`);
    people.push(p);
    void pick;
  }
  return people;
}

export async function createFlow(
  h: Harness,
  segments: Array<{ id: string; name: string; startDate: number; endDate?: number | null }>,
) {
  const flow = await h.store.dataflows.create({
    sandboxId: 'prod',
    destinationId: h.destination.id,
    name: 'generated',
    mapping: POPULATION_MAPPING,
  });
  const audiences = [];
  for (const s of segments) {
    audiences.push(
      await h.store.audiences.create({
        sandboxId: 'prod',
        dataflowId: flow.id,
        segmentId: s.id,
        mappingName: s.name,
        startDate: s.startDate,
        endDate: s.endDate ?? null,
      }),
    );
  }
  return { flow, audiences };
}
