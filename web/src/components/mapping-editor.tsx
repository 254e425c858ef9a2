import { useId } from 'react';
import {
  KNOWN_NAMESPACES,
  TARGET_LABELS,
  X_IDENTIFIER_TYPES,
  defaultsForSource,
  transformationRule,
} from '../validation.ts';
import type { MappingProblem, MappingRow, XIdentifierType } from '../validation.ts';

/**
 * The mapping step: rows of source (identity namespace or profile attribute) → X identifier, each with the
 * "Apply transformation" box and the rule it applies spelled out.
 */
export function MappingEditor({
  rows,
  onChange,
  problems,
}: {
  rows: MappingRow[];
  onChange: (rows: MappingRow[]) => void;
  problems: MappingProblem[];
}) {
  const base = useId();
  const namespaceList = `${base}-namespaces`;
  const update = (index: number, patch: Partial<MappingRow>) =>
    onChange(rows.map((row, i) => (i === index ? { ...row, ...patch } : row)));
  const general = problems.filter((p) => p.index === -1);

  return (
    <div className="mapping">
      <p className="small muted">
        Map at least one source to an X identifier. Namespaces come from each profile&apos;s identity map;
        attributes are dotted paths into its attributes (for example <code>person.email</code>).
      </p>
      <datalist id={namespaceList}>
        {KNOWN_NAMESPACES.map((n) => (
          <option key={n.namespace} value={n.namespace} />
        ))}
      </datalist>
      {rows.length === 0 ? <p className="empty">No mapping rows yet.</p> : null}
      <ol className="mapping-rows">
        {rows.map((row, index) => {
          const rowId = `${base}-row${index}`;
          const rowProblems = problems.filter((p) => p.index === index);
          const problemFor = (field: MappingProblem['field']) =>
            rowProblems.find((p) => p.field === field)?.reason;
          const ruleId = `${rowId}-rule`;
          const sourceError = problemFor('source');
          const transformError = problemFor('applyTransformation');
          const targetError = problemFor('target');
          return (
            <li key={index} className="mapping-row" aria-label={`Mapping row ${index + 1}`}>
              <div className="mapping-source">
                <label htmlFor={`${rowId}-type`}>Source type</label>
                <select
                  id={`${rowId}-type`}
                  value={row.sourceType}
                  onChange={(e) => update(index, { sourceType: e.target.value as MappingRow['sourceType'] })}
                >
                  <option value="namespace">Identity namespace</option>
                  <option value="attribute">Attribute</option>
                </select>
                <label htmlFor={`${rowId}-source`}>Source field</label>
                <input
                  id={`${rowId}-source`}
                  type="text"
                  value={row.source}
                  list={row.sourceType === 'namespace' ? namespaceList : undefined}
                  aria-invalid={sourceError ? true : undefined}
                  aria-describedby={sourceError ? `${rowId}-source-error` : undefined}
                  placeholder={row.sourceType === 'namespace' ? 'Email' : 'person.email'}
                  onChange={(e) => {
                    const defaults = defaultsForSource(row.sourceType, e.target.value);
                    update(index, { source: e.target.value, ...(defaults ?? {}) });
                  }}
                />
                {sourceError ? (
                  <div className="error-text" id={`${rowId}-source-error`}>
                    {sourceError}
                  </div>
                ) : null}
              </div>
              <div className="mapping-arrow" aria-hidden="true">
                →
              </div>
              <div className="mapping-target">
                <label htmlFor={`${rowId}-target`}>Target X identifier</label>
                <select
                  id={`${rowId}-target`}
                  value={row.target}
                  aria-invalid={targetError ? true : undefined}
                  onChange={(e) => {
                    const target = e.target.value as XIdentifierType;
                    update(index, {
                      target,
                      ...(target === 'partner_user_id' ? { applyTransformation: false } : {}),
                    });
                  }}
                >
                  {X_IDENTIFIER_TYPES.map((t) => (
                    <option key={t} value={t}>
                      {TARGET_LABELS[t]}
                    </option>
                  ))}
                </select>
                {targetError ? <div className="error-text">{targetError}</div> : null}
                <label className="checkbox">
                  <input
                    type="checkbox"
                    checked={row.applyTransformation}
                    disabled={row.target === 'partner_user_id' && !row.applyTransformation}
                    aria-describedby={ruleId}
                    onChange={(e) => update(index, { applyTransformation: e.target.checked })}
                  />{' '}
                  Apply transformation
                </label>
                <div className="hint" id={ruleId}>
                  {transformationRule(row.target)}
                </div>
                {transformError ? <div className="error-text">{transformError}</div> : null}
              </div>
              <div className="mapping-remove">
                <button
                  type="button"
                  className="secondary small"
                  onClick={() => onChange(rows.filter((_, i) => i !== index))}
                  aria-label={`Remove mapping row ${index + 1}`}
                >
                  Remove
                </button>
              </div>
            </li>
          );
        })}
      </ol>
      {general.length > 0 ? (
        <div className="callout callout-error" role="alert">
          {general.map((p) => (
            <p key={p.reason}>{p.reason}</p>
          ))}
        </div>
      ) : null}
      <button
        type="button"
        className="secondary"
        onClick={() =>
          onChange([
            ...rows,
            { sourceType: 'namespace', source: '', target: 'email', applyTransformation: true },
          ])
        }
      >
        Add new mapping
      </button>
    </div>
  );
}
