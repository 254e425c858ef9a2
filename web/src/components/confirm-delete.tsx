import { useMutation, useQueryClient } from '@tanstack/react-query';
import { useEffect, useRef, useState } from 'react';
import type { ReactNode } from 'react';
import { ApiError } from '../api.ts';
import { useApp } from '../app-context.tsx';
import { ErrorMessage } from './ui.tsx';

/**
 * A table row's Delete button that asks before deleting. The service refuses with a 409 while something still depends
 * on the thing (each dependent named in the details): `refused` renders that refusal, with what to do, in place of
 * the button until it is dismissed. Any other error stays inside the confirmation, so the user can try again.
 *
 * The button, the confirmation and the refusal replace one another in the same place, so focus is moved along with
 * them: to Cancel when the confirmation opens (the safe choice under the keyboard), back to Delete when it closes.
 * Escape cancels.
 */
export function ConfirmDelete({
  name,
  question,
  failedTitle,
  remove,
  refused,
}: {
  /** What is deleted, as the user knows it; completes the buttons' accessible names ("Delete Loyal Customers"). */
  name: string;
  /** The confirmation's text: what is deleted and what happens to what depends on it. */
  question: ReactNode;
  /** The title of any other error ("The segment was not deleted"). */
  failedTitle: string;
  remove: () => Promise<unknown>;
  refused: (error: ApiError) => ReactNode;
}) {
  const { session } = useApp();
  const queryClient = useQueryClient();
  const [confirming, setConfirming] = useState(false);
  // Where focus goes once the state changes: null leaves it alone (the first render, a deletion that succeeded).
  const focusNext = useRef<'cancel' | 'delete' | 'dismiss' | null>(null);
  const mutation = useMutation({
    mutationFn: remove,
    onSuccess: () => queryClient.invalidateQueries({ queryKey: [session.sandbox] }),
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
