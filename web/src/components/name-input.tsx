import { useState } from 'react';
import type { ReactNode } from 'react';
import { highlightForbidden, validateName } from '../validation.ts';
import type { NameField } from '../validation.ts';
import { Field } from './ui.tsx';

/**
 * A name, description or mapping-name input validated as the user types: forbidden characters are marked in a preview
 * and a corrected value can be applied with one click. Problems show once the user has edited or left the field, or
 * when `showErrors` says so (a form that tried to continue; a value filled in for the user).
 */
export function NameInput({
  label,
  field,
  value,
  onChange,
  multiline,
  hint,
  showErrors = true,
}: {
  label: string;
  field: NameField;
  value: string;
  onChange: (value: string) => void;
  multiline?: boolean;
  hint?: string;
  showErrors?: boolean;
}) {
  const [edited, setEdited] = useState(false);
  const result = validateName(value, { field });
  const hasBadChars = !result.ok && result.problems.length > 0;
  const error =
    !result.ok && (showErrors || edited) ? (
      <>
        <span>{result.message}</span>
        {hasBadChars ? (
          <span className="name-preview" aria-label="Value with the characters X refuses marked">
            {highlightForbidden(value).map((part, i) =>
              part.bad ? (
                <mark key={i} className="bad-char">
                  {part.text}
                </mark>
              ) : (
                <span key={i}>{part.text}</span>
              ),
            )}
          </span>
        ) : null}
        {result.suggestion && result.suggestion !== value ? (
          <span className="suggestion">
            Suggested: <q>{result.suggestion}</q>{' '}
            <button type="button" className="link-button" onClick={() => onChange(result.suggestion)}>
              Use suggestion
            </button>
          </span>
        ) : null}
      </>
    ) : undefined;
  const fieldProps: { label: string; optional: boolean; hint?: string; error?: ReactNode } = {
    label,
    optional: field === 'description',
  };
  if (hint) fieldProps.hint = hint;
  if (error) fieldProps.error = error;
  return (
    <Field {...fieldProps}>
      {(props) =>
        multiline ? (
          <textarea
            {...props}
            value={value}
            rows={3}
            onChange={(e) => {
              setEdited(true);
              onChange(e.target.value);
            }}
            onBlur={() => setEdited(true)}
          />
        ) : (
          <input
            {...props}
            type="text"
            value={value}
            onChange={(e) => {
              setEdited(true);
              onChange(e.target.value);
            }}
            onBlur={() => setEdited(true)}
            autoComplete="off"
          />
        )
      }
    </Field>
  );
}
