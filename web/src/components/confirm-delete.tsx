import { useMutation, useQueryClient } from '@tanstack/react-query';
import { useEffect, useRef, useState } from 'react';
import type { ReactNode } from 'react';
import { ApiError } from '../api.ts';
import { useApp } from '../app-context.tsx';
import { ErrorMessage } from './ui.tsx';

/**
 * Where focus goes once `row` leaves the table: the Delete button of the row that takes its place (the next one, or the
 * one before when it was the last), else the first control of that row, else the element `emptyFocusId` names (the
 * heading of the list, which says it is empty). Nothing moves when the user has taken focus elsewhere meanwhile.
 */
function focusWhenRemoved(row: Element, neighbours: Element[], emptyFocusId: string): void {
  const move = () => {
    const active = document.activeElement;
    if (active && active !== document.body && active.isConnected && !row.contains(active)) return;
    const next = neighbours.find((n) => n.isConnected);
    const target =
      next?.querySelector<HTMLElement>('[data-delete-button]') ??
      next?.querySelector<HTMLElement>('button, a[href]') ??
      document.getElementById(emptyFocusId);
    target?.focus();
  };
  if (!row.isConnected) return move();
  const observer = new MutationObserver(() => {
    if (row.isConnected) return;
    observer.disconnect();
    window.clearTimeout(timer);
    move();
  });
  // The list is read again after a deletion; should the row stay (that read failed), stop watching after a while.
  const timer = window.setTimeout(() => observer.disconnect(), 30_000);
  observer.observe(document.body, { childList: true, subtree: true });
}

/**
 * A table row's Delete button that asks before deleting. The service refuses with a 409 while something still depends
 * on the thing (each dependent named in the details): `refused` renders that refusal, with what to do, in place of
 * the button until it is dismissed. Any other error stays inside the confirmation, so the user can try again.
 *
 * The button, the confirmation and the refusal replace one another in the same place, so focus is moved along with
 * them: to Cancel when the confirmation opens (the safe choice under the keyboard), back to Delete when it closes.
 * Escape cancels. Once deleted, the row leaves the table: focus goes to the Delete button of the row taking its place
 * (or to the list's heading when none is left), and the live region says what was deleted.
 */
export function ConfirmDelete({
  name,
  question,
  failedTitle,
  remove,
  refused,
  emptyFocusId,
}: {
  /** What is deleted, as the user knows it; completes the buttons' accessible names ("Delete Loyal Customers"). */
  name: string;
  /** The confirmation's text: what is deleted and what happens to what depends on it. */
  question: ReactNode;
  /** The title of any other error ("The segment was not deleted"). */
  failedTitle: string;
  remove: () => Promise<unknown>;
  refused: (error: ApiError) => ReactNode;
  /** The id of the element that takes focus when the last row is deleted (the list's heading, with tabIndex -1). */
  emptyFocusId: string;
}) {
  const { session, announce } = useApp();
  const queryClient = useQueryClient();
  const [confirming, setConfirming] = useState(false);
  // Where focus goes once the state changes: null leaves it alone (the first render, a deletion that succeeded).
  const focusNext = useRef<'cancel' | 'delete' | 'dismiss' | null>(null);
  const group = useRef<HTMLDivElement>(null);
  const mutation = useMutation({
    mutationFn: remove,
    onSuccess: async () => {
      // The row and its neighbours, read while the row is still there.
      const row = group.current?.closest('tr') ?? null;
      const neighbours = row
        ? [row.nextElementSibling, row.previousElementSibling].filter((n) => n !== null)
        : [];
      await queryClient.invalidateQueries({ queryKey: [session.sandbox] });
      announce(`“${name}” was deleted.`);
      if (row) focusWhenRemoved(row, neighbours, emptyFocusId);
    },
    // The refusal replaces the confirmation that had focus: its Dismiss takes it, where a screen reader reads it from.
    onError: (caught) => {
      if (caught instanceof ApiError && caught.status === 409) focusNext.current = 'dismiss';
    },
  });
  const deleteButton = useRef<HTMLButtonElement>(null);
  const cancelButton = useRef<HTMLButtonElement>(null);
  const dismissButton = useRef<HTMLButtonElement>(null);
  const error = mutation.error;
  const isRefusal = error instanceof ApiError && error.status === 409;

  useEffect(() => {
    const next = focusNext.current;
    if (next === null) return;
    const target = next === 'cancel' ? cancelButton : next === 'delete' ? deleteButton : dismissButton;
    if (!target.current) return;
    target.current.focus();
    focusNext.current = null;
  });

  const close = () => {
    mutation.reset();
    focusNext.current = 'delete';
    setConfirming(false);
  };

  if (isRefusal)
    return (
      <div className="callout callout-error" role="alert">
        {refused(error)}
        <button ref={dismissButton} type="button" className="secondary small" onClick={close}>
          Dismiss
        </button>
      </div>
    );
  if (!confirming)
    return (
      <button
        ref={deleteButton}
        type="button"
        className="secondary small"
        data-delete-button=""
        onClick={() => {
          focusNext.current = 'cancel';
          setConfirming(true);
        }}
      >
        Delete<span className="visually-hidden"> {name}</span>
      </button>
    );
  return (
    <div
      ref={group}
      className="callout"
      role="group"
      aria-label={`Delete ${name}`}
      onKeyDown={(event) => {
        if (event.key === 'Escape' && !mutation.isPending) {
          event.stopPropagation();
          close();
        }
      }}
    >
      <p className="small">{question}</p>
      {error ? <ErrorMessage error={error} title={failedTitle} /> : null}
      <span className="row-actions">
        <button
          type="button"
          className="danger small"
          disabled={mutation.isPending}
          onClick={() => mutation.mutate()}
        >
          Confirm delete<span className="visually-hidden"> {name}</span>
        </button>
        <button ref={cancelButton} type="button" className="secondary small" onClick={close}>
          Cancel
        </button>
      </span>
    </div>
  );
}
