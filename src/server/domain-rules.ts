import { validateAudienceName } from '../audience/naming.ts';
import { validateMapping } from '../audience/mapping.ts';
import { parseProfileExport } from '../profile/index.ts';
import type { DomainRules } from './ports.ts';

/** The pure domain rules (naming, mapping, profile parsing), as the API reports them: `{ path, reason }`. */
export const domainRules: DomainRules = {
  checkName(value, field) {
    const r = validateAudienceName(value, { field });
    return r.ok ? { ok: true } : { ok: false, reason: `${r.message} Suggested: "${r.suggestion}"` };
  },
  checkMapping(rows) {
    const r = validateMapping(rows);
    if (r.ok) return [];
    return r.problems.map((p) => ({
      path: p.index < 0 ? '' : `[${p.index}]${p.field === 'rows' ? '' : `.${p.field}`}`,
      reason: p.reason,
    }));
  },
  parseProfile(input) {
    const r = parseProfileExport(input);
    return r.ok
      ? { ok: true, profile: r.profile }
      : { ok: false, errors: r.errors.map((e) => ({ path: e.path, reason: e.reason })) };
  },
};
