/** A small deterministic PRNG (mulberry32), so every demo run streams the same population. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface DemoSegment {
  id: string;
  name: string;
  description: string;
  /** Share of the population that qualifies. */
  share: number;
}

export const DEMO_SEGMENTS: readonly DemoSegment[] = [
  {
    id: '5f1c2a10-7b3e-4d2a-9c61-0a1b2c3d4e01',
    name: 'Loyal Customers',
    description: 'Three or more orders in the last 12 months',
    share: 0.35,
  },
  {
    id: '5f1c2a10-7b3e-4d2a-9c61-0a1b2c3d4e02',
    name: 'Cart Abandoners (Last 30 Days)',
    description: 'Added to cart without checkout in the last 30 days',
    share: 0.25,
  },
  {
    id: '5f1c2a10-7b3e-4d2a-9c61-0a1b2c3d4e03',
    name: 'High Value Prospects',
    description: 'Predicted lifetime value in the top decile',
    share: 0.15,
  },
];

const FIRST = [
  'alex',
  'sam',
  'jordan',
  'taylor',
  'morgan',
  'casey',
  'jamie',
  'riley',
  'avery',
  'quinn',
  'maria',
  'li',
  'noah',
  'emma',
  'lucas',
];
const LAST = [
  'smith',
  'garcia',
  'chen',
  'müller',
  'okafor',
  'nguyen',
  'kowalski',
  'silva',
  'haddad',
  'johnson',
];
const DOMAINS = ['example.com', 'example.org', 'mail.example.net', 'Example.co.uk'];
const AREA = ['212', '312', '415', '617', '206', '303', '404', '512', '646', '718'];

/**
 * Synthetic AEP profile exports: ECID-keyed, most with an email (a few malformed), some with a phone number, a few
 * with no mappable identifier, memberships in the demo segments (some exited). Raw identifiers exist only in memory
 * on the way to the ingest API, which hashes them.
 */
export function syntheticProfiles(count: number, seed = 20_260_101): Record<string, unknown>[] {
  const rnd = seededRandom(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  const out: Record<string, unknown>[] = [];
  for (let i = 0; i < count; i++) {
    const identityMap: Record<string, Array<{ id: string; primary?: boolean }>> = {
      ECID: [{ id: String(10_000_000_000_000 + i * 7919), primary: true }],
    };
    const r = rnd();
    if (r < 0.82) {
      const local = `${pick(FIRST)}.${pick(LAST)}${i}`;
      const email =
        rnd() < 0.03
          ? `${local}(at)${pick(DOMAINS)}`
          : `${rnd() < 0.2 ? local.toUpperCase() : local}@${pick(DOMAINS)}`;
      identityMap['Email'] = [{ id: email }];
    }
    if (rnd() < 0.4) {
      const line = String(1000 + Math.floor(rnd() * 9000));
      const exchange = String(200 + Math.floor(rnd() * 700));
      identityMap['Phone'] = [{ id: `+1 ${pick(AREA)} ${exchange} ${line}` }];
    }
    const ups: Record<string, { status: string; lastQualificationTime: string }> = {};
    for (const s of DEMO_SEGMENTS) {
      if (rnd() < s.share) {
        ups[s.id] = {
          status: rnd() < 0.08 ? 'exited' : 'realized',
          lastQualificationTime: '2026-01-15T10:00:00Z',
        };
      }
    }
    if (Object.keys(ups).length === 0)
      ups[DEMO_SEGMENTS[0]!.id] = { status: 'realized', lastQualificationTime: '2026-01-15T10:00:00Z' };
    // Sharing consent (XDM), apart from the random stream so the rest of the data stays as it was: 85% said yes,
    // 10% no, 5% never answered.
    const answer = Math.imul(i + 1, 2_654_435_761) >>> 0;
    const share = answer % 100 < 85 ? 'y' : answer % 100 < 95 ? 'n' : null;
    out.push({
      identityMap,
      segmentMembership: { ups },
      ...(share === null ? {} : { attributes: { 'consents.share.val': share } }),
    });
  }
  return out;
}
