import { describeNextDelivery } from '../monitoring.ts';

/** A table cell saying when waiting changes go out (an audience's, or a dataflow's soonest), with why on hover. */
export function NextDeliveryCell({
  waiting,
  now = Date.now(),
}: {
  waiting: Parameters<typeof describeNextDelivery>[0];
  now?: number;
}) {
  const next = describeNextDelivery(waiting, now);
  return (
    <td className="small" data-testid="next-delivery" title={next.title}>
      {next.text}
    </td>
  );
}
