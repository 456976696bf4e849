import { useState, type FormEvent } from "react";
import { Dialog } from "../../components/dialog.js";
import { readError, type ReadableError } from "../../lib/errors.js";
import { navigate, paths } from "../../lib/router.js";
import { trpc } from "../../lib/trpc.js";
import { CreatedKeyPanel, type Created } from "./create-key-dialog.js";

/** How long the current key keeps working, in minutes (Unkey's choices, then Stripe's 7 days). */
export const GRACE_CHOICES = [
  { minutes: 0, label: "Immediately" },
  { minutes: 15, label: "In 15 minutes" },
  { minutes: 60, label: "In 1 hour" },
  { minutes: 360, label: "In 6 hours" },
  { minutes: 1_440, label: "In 24 hours" },
  { minutes: 4_320, label: "In 3 days" },
  { minutes: 10_080, label: "In 7 days" },
] as const;

interface RotateKeyDialogProps {
  keyToRotate: { id: string; name: string; key_prefix: string };
  onClose: () => void;
}

/**
 * Rotation in two steps, like creation: choose when the current key stops, then the new
 * secret, shown this once. Done opens the successor's page.
 */
export function RotateKeyDialog({ keyToRotate, onClose }: RotateKeyDialogProps) {
  const utils = trpc.useUtils();
  const [grace, setGrace] = useState<number>(1_440);
  const [created, setCreated] = useState<(Created & { id: string }) | null>(null);
  const [error, setError] = useState<ReadableError>();
  const rotate = trpc.keys.rotate.useMutation({
    onSuccess: async (result) => {
      setCreated({
        id: result.data.id,
        name: result.data.name,
        key: result.data.full_key,
        prefix: result.data.key_prefix,
        warning: result.meta.warning,
        nameHint: undefined,
      });
      await Promise.all([
        utils.keys.list.invalidate(),
        utils.keys.byId.invalidate({ id: keyToRotate.id }),
        utils.keys.allowance.invalidate(),
        utils.audit.list.invalidate(),
      ]);
    },
    onError: (failure) => setError(readError(failure)),
  });

  if (created) {
    return (
      <Dialog
        title="Your new API key"
        onRequestClose={onClose}
        dismissible={false}
        showClose={false}
      >
        <CreatedKeyPanel
          created={created}
          onDone={() => {
            onClose();
            navigate(paths.key(created.id));
          }}
        />
      </Dialog>
    );
  }

  const submit = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    setError(undefined);
    rotate.mutate({ id: keyToRotate.id, expire_current_in_minutes: grace });
  };

  return (
    <Dialog title="Rotate API key" onRequestClose={onClose} dismissible={!rotate.isPending}>
      <form onSubmit={submit} noValidate>
        <p>
          A new secret replaces <strong>{keyToRotate.name}</strong> (
          <code className="mono">{keyToRotate.key_prefix}</code>) with the same name, scopes,
          allowed addresses and lifetime. Deploy it, then let the old key stop.
        </p>
        <fieldset>
          <legend>The current key stops working</legend>
          {GRACE_CHOICES.map((choice) => (
            <label key={choice.minutes} className="check">
              <input
                type="radio"
                name="grace"
                value={choice.minutes}
                checked={grace === choice.minutes}
                onChange={() => setGrace(choice.minutes)}
              />
              {choice.label}
            </label>
          ))}
        </fieldset>
        {grace === 0 && (
          <p className="alert warn-alert">
            Every client still using the current key is refused from the moment you rotate.
          </p>
        )}
        {error && (
          <p className="alert error-alert" role="alert">
            {error.message}
          </p>
        )}
        <div className="dialog-actions">
          <button type="button" onClick={onClose} disabled={rotate.isPending}>
            Cancel
          </button>
          <button type="submit" className="primary" disabled={rotate.isPending}>
            {rotate.isPending ? "Rotating…" : "Rotate key"}
          </button>
        </div>
      </form>
    </Dialog>
  );
}
