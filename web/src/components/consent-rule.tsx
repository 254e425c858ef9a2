import { Fragment } from 'react';
import type { ConsentPolicy } from '../api.ts';

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
