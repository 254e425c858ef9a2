import { describe, expect, it } from 'vitest';
import {
  buildDataflowRequest,
  checkStep,
  defaultDataflowName,
  describeMapping,
  emptyDraft,
  filterSegments,
  previewPlan,
  segmentEligibility,
  toggleSegment,
} from './activation-draft.ts';
import type { Segment } from './api.ts';

const segments: Segment[] = [
  { id: 'seg-buyers', namespace: 'ups', name: 'Frequent buyers', description: 'Bought 3+ times' },
  { id: 'seg-cart', namespace: 'ups', name: 'Cart, abandoners', description: '' },
  { id: 'seg-upload', namespace: 'custom_upload', name: 'CRM upload', description: '' },
  { id: 'seg-accounts', namespace: 'ups', name: 'Target accounts', description: '', audienceType: 'account' },
];
const seg = (id: string): Segment => {
  const found = segments.find((s) => s.id === id);
  if (!found) throw new TypeError(id);
  return found;
};
const today = new Date('2026-11-28T19:00:00Z');

describe('segmentEligibility', () => {
  it('accepts Segmentation Service people audiences only, with a reason for the rest', () => {
    expect(segmentEligibility(seg('seg-buyers'))).toEqual({ selectable: true });
    const upload = segmentEligibility(seg('seg-upload'));
    expect(upload.selectable).toBe(false);
    if (!upload.selectable) expect(upload.reason).toMatch(/Custom upload .*Segmentation Service/);
    const accounts = segmentEligibility(seg('seg-accounts'));
    expect(accounts.selectable).toBe(false);
    if (!accounts.selectable) expect(accounts.reason).toMatch(/Account audiences/);
  });
});

describe('filterSegments', () => {
  it('searches names and descriptions, filters by origin and eligibility', () => {
    const all = { query: '', show: 'all' as const, origin: '' };
    expect(filterSegments(segments, { ...all, query: 'buy' }).map((s) => s.id)).toEqual(['seg-buyers']);
    expect(filterSegments(segments, { ...all, query: '3+' }).map((s) => s.id)).toEqual(['seg-buyers']);
    expect(filterSegments(segments, { ...all, origin: 'custom_upload' }).map((s) => s.id)).toEqual([
      'seg-upload',
    ]);
    expect(filterSegments(segments, { ...all, show: 'eligible' }).map((s) => s.id)).toEqual([
      'seg-buyers',
      'seg-cart',
    ]);
  });
});

describe('toggleSegment', () => {
  it('adds a schedule named after the segment, starting today, and keeps edits when unselected', () => {
    let draft = toggleSegment(emptyDraft('dest-1'), seg('seg-buyers'), today);
    expect(draft.selected).toEqual(['seg-buyers']);
    expect(draft.schedules['seg-buyers']).toEqual({
      segmentId: 'seg-buyers',
      mappingName: 'Frequent buyers',
      startDate: '2026-11-28',
      endDate: '',
      existingXAudienceId: '',
      ttlDays: '',
      removeAtEnd: false,
    });
    draft = {
      ...draft,
      schedules: { ...draft.schedules, 'seg-buyers': { ...draft.schedules['seg-buyers']!, ttlDays: '30' } },
    };
    draft = toggleSegment(draft, seg('seg-buyers'), today);
    expect(draft.selected).toEqual([]);
    draft = toggleSegment(draft, seg('seg-buyers'), today);
    expect(draft.schedules['seg-buyers']?.ttlDays).toBe('30');
  });

  it('ignores segments that cannot be selected', () => {
    const draft = emptyDraft('dest-1');
    expect(toggleSegment(draft, seg('seg-upload'), today)).toBe(draft);
  });
});

describe('checkStep', () => {
  it('needs a segment before leaving the first step', () => {
    const check = checkStep(emptyDraft('dest-1'), 'segments');
    expect(check.ok).toBe(false);
    expect(check.messages).toEqual(['Select at least one segment.']);
  });

  it('enforces an identity mapping on the mapping step', () => {
    const draft = { ...toggleSegment(emptyDraft('dest-1'), seg('seg-buyers'), today), mapping: [] };
    expect(checkStep(draft, 'segments').ok).toBe(true);
    const check = checkStep(draft, 'mapping');
    expect(check.ok).toBe(false);
    expect(check.mappingProblems[0]).toMatchObject({ index: -1, field: 'rows' });
  });

  it('reports schedule problems per segment, including names X refuses', () => {
    const draft = toggleSegment(
      toggleSegment(emptyDraft('dest-1'), seg('seg-buyers'), today),
      seg('seg-cart'),
      today,
    );
    expect(checkStep(draft, 'mapping').ok).toBe(true);
    const check = checkStep(draft, 'scheduling');
    expect(check.ok).toBe(false);
    expect(Object.keys(check.scheduleErrors)).toEqual(['seg-cart']);
    expect(check.scheduleErrors['seg-cart']?.mappingName).toContain('","');
    expect(check.messages).toContain('Fix the schedule of 1 segment.');
  });
});

describe('buildDataflowRequest and the preview', () => {
  const draft = (() => {
    const d = toggleSegment(
      toggleSegment(emptyDraft('dest-1'), seg('seg-buyers'), today),
      seg('seg-cart'),
      today,
    );
    d.schedules['seg-cart'] = {
      ...d.schedules['seg-cart']!,
      mappingName: 'Cart abandoners',
      existingXAudienceId: '2906h',
      endDate: '2027-01-31',
    };
    return d;
  })();

  it('sends the selected segments in order with their schedules', () => {
    expect(buildDataflowRequest(draft, 'fallback')).toEqual({
      name: 'fallback',
      destinationId: 'dest-1',
      mapping: [{ sourceType: 'namespace', source: 'Email', target: 'email', applyTransformation: true }],
      audiences: [
        { segmentId: 'seg-buyers', mappingName: 'Frequent buyers', startDate: '2026-11-28' },
        {
          segmentId: 'seg-cart',
          mappingName: 'Cart abandoners',
          startDate: '2026-11-28',
          endDate: '2027-01-31',
          existingXAudienceId: '2906h',
        },
      ],
    });
    expect(buildDataflowRequest({ ...draft, name: ' Mine ' }, 'fallback').name).toBe('Mine');
  });

  it('names the dataflow after the destination and first segment by default', () => {
    expect(defaultDataflowName('X Ads', segments, draft)).toBe('X Ads · Frequent buyers and 1 more');
  });

  it('cuts the default name to the service limit, keeping the count of further segments', () => {
    const long = defaultDataflowName('D'.repeat(200), segments, draft);
    expect(long).toHaveLength(200);
    expect(long.endsWith('… and 1 more')).toBe(true);
    // A cut never splits an emoji in two.
    const emoji = defaultDataflowName(`${'E'.repeat(186)}😀😀😀`, segments, draft);
    expect(emoji.length).toBeLessThanOrEqual(200);
    expect(emoji).not.toMatch(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])/);
    expect(checkStep({ ...draft, name: 'n'.repeat(201) }, 'review').nameError).toBe(
      'Dataflow name is longer than 200 characters (201).',
    );
    expect(checkStep({ ...draft, name: '' }, 'review').nameError).toBeNull();
  });

  it('previews creating or reusing one X audience per segment', () => {
    expect(previewPlan(draft, segments)).toEqual([
      expect.objectContaining({
        segmentId: 'seg-buyers',
        action: 'create',
        existingXAudienceId: null,
        window: 'from 2026-11-28, no end',
      }),
      expect.objectContaining({
        segmentId: 'seg-cart',
        action: 'reuse',
        existingXAudienceId: '2906h',
        window: '2026-11-28 → 2027-01-31',
      }),
    ]);
  });

  it('describes the mapping for the review', () => {
    expect(describeMapping(draft.mapping)).toEqual([
      'Namespace Email → email (normalized and SHA-256 hashed here)',
    ]);
  });
});
