import { Fragment } from 'react';
import type { ConsentPolicy } from '../api.ts';

/**
 * When a consent policy applies, in words: the destination's marketing actions and/or the data-usage labels of the
 * activation (its segment's and its mapped fields').
 */
export function ConsentScope({
  policy,
}: {
  policy: Pick<ConsentPolicy, 'marketingActions' | 'labels' | 'operator'>;
}) {
  const actions =
    policy.marketingActions.length === 0 ? null : (
      <>the destination is used for {policy.marketingActions.join(' or ')}</>
    );
  const labels =
    policy.labels.length === 0 ? null : (
      <>
        the segment or a mapped field is labelled{' '}
        {policy.labels.map((label, i) => (
          <Fragment key={label}>
            {i > 0 ? ' or ' : null}
            <code>{label}</code>
          </Fragment>
        ))}
      </>
    );
  if (actions && labels)
    return (
      <>
        {actions} <strong>{policy.operator}</strong> {labels}
      </>
    );
  return actions ?? labels;
}

/** What a consent policy demands, in words: its condition, then each alternative joined by "or". */
export function ConsentRule({
  policy,
}: {
  policy: Pick<ConsentPolicy, 'attribute' | 'allowedValues' | 'alternatives'>;
}) {
  const conditions = [
    { attribute: policy.attribute, allowedValues: policy.allowedValues },
    ...policy.alternatives,
  ];
  return (
    <>
      {conditions.map((c, i) => (
        <Fragment key={`${c.attribute}-${i}`}>
          {i > 0 ? <strong>, or </strong> : null}
          <code>{c.attribute}</code> is {c.allowedValues.join(' or ')}
        </Fragment>
      ))}
    </>
  );
}
