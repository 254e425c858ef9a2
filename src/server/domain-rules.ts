import { validateAudienceName, validateDisplayName, validateSegmentId } from '../audience/naming.ts';
import { validateMapping } from '../audience/mapping.ts';
import {
  checkCustomPolicies,
  checkFieldLabels,
  checkMarketingActions,
  labelProblems,
  mappingPolicyViolations,
  normalizeLabels,
  policyViolations,
} from '../audience/governance.ts';
import type { DomainRules } from './ports.ts';

/** The pure domain rules (naming, mapping, governance), as the API reports them: `{ path, reason }`. */
export const domainRules: DomainRules = {
  checkName(value, field, label) {
    // The message ends with the suggestion (or asks for a new value when nothing usable is left).
    const r = validateAudienceName(value, label === undefined ? { field } : { field, label });
    return r.ok ? { ok: true } : { ok: false, reason: r.message };
  },
  checkDisplayName(value, label) {
    const r = validateDisplayName(value, { label });
    return r.ok ? { ok: true } : { ok: false, reason: r.message };
  },
  checkSegmentId(value) {
    const r = validateSegmentId(value);
    return r.ok ? { ok: true } : { ok: false, reason: r.message };
  },
  checkMapping(rows) {
    // A reason naming another row names it by its JSON path, as the details' paths do.
    const r = validateMapping(rows, { rowName: (index) => `mapping[${index}]` });
    if (r.ok) return [];
    return r.problems.map((p) => ({
      path: p.index < 0 ? '' : `[${p.index}]${p.field === 'rows' ? '' : `.${p.field}`}`,
      reason: p.reason,
    }));
  },
  checkLabels(labels) {
    return {
      problems: labelProblems(labels).map((p) => ({ path: `[${p.index}]`, reason: p.reason })),
      labels: normalizeLabels(labels),
    };
  },
  checkMarketingActions(actions) {
    const checked = checkMarketingActions(actions);
    return {
      problems: checked.problems.map((p) => ({ path: `[${p.index}]`, reason: p.reason })),
      actions: checked.actions,
    };
  },
  checkCustomPolicies: (input, newId) => checkCustomPolicies(input, newId),
  checkFieldLabels: (input) => checkFieldLabels(input),
  mappingPolicyViolations(marketingActions, mapping, fields, custom) {
    return mappingPolicyViolations(marketingActions, mapping, fields, custom).map((v) => ({
      index: v.index,
      reason: `${v.policy}: ${v.reason}`,
    }));
  },
  policyViolations(marketingActions, segments, custom) {
    return policyViolations(marketingActions, segments, custom).map((v) => ({
      segmentId: v.segmentId,
      reason: `${v.policy}: ${v.reason}`,
    }));
  },
};
