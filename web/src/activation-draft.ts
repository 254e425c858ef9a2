/**
 * The activate wizard's state and rules, kept free of React so they can be tested directly: which segments may be
 * selected, what each step needs before Next, the request Finish sends and the dry-run preview shown on Review.
 */
import type { DataflowInput, Segment } from './api.ts';
import {
  MAX_AUDIENCE_TEXT_LENGTH,
  scheduleToRequest,
  validateDataflowName,
  validateMapping,
  validateSchedule,
} from './validation.ts';
import type { MappingProblem, MappingRow, ScheduleDraft, ScheduleErrors } from './validation.ts';

export type ActivateStep = 'segments' | 'mapping' | 'scheduling' | 'review';

export const ACTIVATE_STEPS: readonly { id: ActivateStep; label: string }[] = [
  { id: 'segments', label: 'Select segments' },
  { id: 'mapping', label: 'Mapping' },
  { id: 'scheduling', label: 'Scheduling' },
  { id: 'review', label: 'Review' },
];

export interface ActivationDraft {
  destinationId: string;
  name: string;
  selected: string[];
  mapping: MappingRow[];
  schedules: Record<string, ScheduleDraft>;
}

export type Eligibility = { selectable: true } | { selectable: false; reason: string };

const ORIGIN_LABEL: Record<string, string> = {
  ups: 'Segmentation Service',
  custom_upload: 'Custom upload',
  aam: 'Audience Manager',
  lookalike: 'Look-alike',
  federated: 'Federated',
};

export function originLabel(origin: string): string {
  return ORIGIN_LABEL[origin] ?? origin;
}

/**
 * X Custom Audiences accepts Segmentation Service ('ups') people audiences only; everything else is shown, disabled,
 * with the reason.
 */
export function segmentEligibility(segment: Segment): Eligibility {
  if (segment.namespace !== 'ups') {
    return {
      selectable: false,
      reason: `${originLabel(segment.namespace)} audiences cannot be sent to X Custom Audiences; only Segmentation Service audiences can.`,
    };
  }
  const type = segment.audienceType ?? 'people';
  if (type !== 'people') {
    return {
      selectable: false,
      reason: `${type[0]?.toUpperCase() ?? ''}${type.slice(1)} audiences are not supported; only people audiences are.`,
    };
  }
  return { selectable: true };
}

export interface SegmentFilter {
  query: string;
  /** 'eligible' hides segments that cannot be selected. */
  show: 'all' | 'eligible';
  origin: string;
}

export function filterSegments(segments: readonly Segment[], filter: SegmentFilter): Segment[] {
  const q = filter.query.trim().toLowerCase();
  return segments.filter((s) => {
    if (
      q &&
      !s.name.toLowerCase().includes(q) &&
      !(s.description ?? '').toLowerCase().includes(q) &&
      s.id !== q
    ) {
      return false;
    }
    if (filter.origin !== '' && s.namespace !== filter.origin) return false;
    if (filter.show === 'eligible' && !segmentEligibility(s).selectable) return false;
    return true;
  });
}

/** `YYYY-MM-DD` of a moment, in UTC, for date inputs. */
export function isoDay(at: Date): string {
  return at.toISOString().slice(0, 10);
}

/** A fresh schedule row: mapping name = segment name (as the destination recommends), starting today. */
export function defaultSchedule(segment: Segment, today: Date): ScheduleDraft {
  return {
    segmentId: segment.id,
    mappingName: segment.name,
    startDate: isoDay(today),
    endDate: '',
    existingXAudienceId: '',
    ttlDays: '',
    removeAtEnd: false,
  };
}

export function emptyDraft(destinationId: string): ActivationDraft {
  return {
    destinationId,
    name: '',
    selected: [],
    mapping: [{ sourceType: 'namespace', source: 'Email', target: 'email', applyTransformation: true }],
    schedules: {},
  };
}

/** Selecting a segment adds its schedule row (kept if the user already edited it); unselecting keeps edits for later. */
export function toggleSegment(draft: ActivationDraft, segment: Segment, today: Date): ActivationDraft {
  if (!segmentEligibility(segment).selectable) return draft;
  const selected = draft.selected.includes(segment.id)
    ? draft.selected.filter((id) => id !== segment.id)
    : [...draft.selected, segment.id];
  const schedules = { ...draft.schedules };
  if (!schedules[segment.id]) schedules[segment.id] = defaultSchedule(segment, today);
  return { ...draft, selected, schedules };
}

export interface StepCheck {
  ok: boolean;
  messages: string[];
  mappingProblems: MappingProblem[];
  scheduleErrors: Record<string, ScheduleErrors>;
  /** The dataflow name's problem (review step), or null. */
  nameError: string | null;
}

/** What stands between the user and the next step. Later steps include the checks of earlier ones. */
export function checkStep(draft: ActivationDraft, step: ActivateStep): StepCheck {
  const messages: string[] = [];
  let mappingProblems: MappingProblem[] = [];
  const scheduleErrors: Record<string, ScheduleErrors> = {};
  if (draft.selected.length === 0) messages.push('Select at least one segment.');
  if (step !== 'segments') {
    const mapping = validateMapping(draft.mapping);
    if (!mapping.ok) {
      mappingProblems = mapping.problems;
      messages.push(
        `Fix ${mapping.problems.length} mapping problem${mapping.problems.length === 1 ? '' : 's'}.`,
      );
    }
  }
  if (step === 'scheduling' || step === 'review') {
    const names = draft.selected.map((id) => draft.schedules[id]?.mappingName ?? '');
    for (const id of draft.selected) {
      const schedule = draft.schedules[id];
      if (!schedule) {
        scheduleErrors[id] = { startDate: 'Schedule missing.' };
        continue;
      }
      const errors = validateSchedule(schedule, names);
      if (Object.keys(errors).length > 0) scheduleErrors[id] = errors;
    }
    const bad = Object.keys(scheduleErrors).length;
    if (bad > 0) messages.push(`Fix the schedule of ${bad} segment${bad === 1 ? '' : 's'}.`);
  }
  const nameError = step === 'review' ? validateDataflowName(draft.name, { optional: true }) : null;
  if (nameError) messages.push('Fix the dataflow name.');
  return { ok: messages.length === 0, messages, mappingProblems, scheduleErrors, nameError };
}

/**
 * Dataflow name used when the user leaves it blank: the destination plus the first segment, cut with "…" to the
 * service's limit (the count of further segments is kept).
 */
export function defaultDataflowName(
  destinationName: string,
  segments: readonly Segment[],
  draft: ActivationDraft,
): string {
  const first = segments.find((s) => s.id === draft.selected[0]);
  const more = draft.selected.length > 1 ? ` and ${draft.selected.length - 1} more` : '';
  const head = `${destinationName} · ${first?.name ?? 'segments'}`;
  const max = MAX_AUDIENCE_TEXT_LENGTH.name;
  if (head.length + more.length <= max) return `${head}${more}`;
  let cut = head.slice(0, max - more.length - 1);
  // Never leave half of a surrogate pair at the cut.
  if (/[\uD800-\uDBFF]$/.test(cut)) cut = cut.slice(0, -1);
  return `${cut.trimEnd()}…${more}`;
}

export function buildDataflowRequest(draft: ActivationDraft, fallbackName: string): DataflowInput {
  return {
    name: draft.name.trim() || fallbackName,
    destinationId: draft.destinationId,
    mapping: draft.mapping.map((row) => ({ ...row, source: row.source.trim() })),
    audiences: draft.selected.flatMap((id) => {
      const schedule = draft.schedules[id];
      return schedule ? [scheduleToRequest(schedule)] : [];
    }),
  };
}

export interface PreviewLine {
  segmentId: string;
  segmentName: string;
  mappingName: string;
  action: 'create' | 'reuse';
  existingXAudienceId: string | null;
  estimatedMembers: number | null;
  window: string;
  ttl: string;
}

/**
 * The dry-run plan as far as the console can know it before anything is saved: one X audience per segment, created or
 * reused, the backfill size and the sending window. The service's own plan appears on the dataflow once it exists.
 */
export function previewPlan(draft: ActivationDraft, segments: readonly Segment[]): PreviewLine[] {
  return draft.selected.flatMap((id) => {
    const schedule = draft.schedules[id];
    const segment = segments.find((s) => s.id === id);
    if (!schedule || !segment) return [];
    const xId = schedule.existingXAudienceId.trim();
    return [
      {
        segmentId: id,
        segmentName: segment.name,
        mappingName: schedule.mappingName.trim(),
        action: xId ? 'reuse' : 'create',
        existingXAudienceId: xId || null,
        estimatedMembers: segment.size ?? null,
        window: schedule.endDate
          ? `${schedule.startDate} → ${schedule.endDate}${schedule.removeAtEnd ? ', then members are removed' : ''}`
          : `from ${schedule.startDate}, no end`,
        ttl: schedule.ttlDays.trim() ? `${schedule.ttlDays.trim()} days` : 'none',
      },
    ];
  });
}

/** The identifiers the dataflow will send, one line per mapping row, for the review summary. */
export function describeMapping(rows: readonly MappingRow[]): string[] {
  return rows.map(
    (row) =>
      `${row.sourceType === 'namespace' ? 'Namespace' : 'Attribute'} ${row.source.trim() || '(none)'} → ${row.target}${
        row.applyTransformation ? ' (normalized and SHA-256 hashed here)' : ' (sent as provided)'
      }`,
  );
}
