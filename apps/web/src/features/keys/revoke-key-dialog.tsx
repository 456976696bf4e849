import { useId, useState, type FormEvent } from "react";
import { Dialog } from "../../components/dialog.js";
import { toast } from "../../components/toaster.js";
import { readError } from "../../lib/errors.js";
import { trpc } from "../../lib/trpc.js";

export const REASON_MAX = 500;

interface RevokeKeyDialogProps {
  keyToRevoke: { id: string; name: string; key_prefix: string };
  onClose: () => void;
}

/** Names the key, says it is irreversible, takes an optional reason for the activity log. */
export function RevokeKeyDialog({ keyToRevoke, onClose }: RevokeKeyDialogProps) {
  const utils = trpc.useUtils();
  const [reason, setReason] = useState("");
  const reasonId = useId();
  const helpId = useId();
  const revoke = trpc.keys.revoke.useMutation({
    onSuccess: async () => {
      const revokedAt = new Date().toISOString();
      // The row changes at once; the refetch then brings the server's exact values.
      utils.keys.list.setData(
        undefined,
        (list) =>
          list && {
            ...list,
            data: list.data.map((key) =>
              key.id === keyToRevoke.id ? { ...key, revoked_at: revokedAt } : key,
            ),
          },
      );
      toast(`Key “${keyToRevoke.name}” revoked.`);
      onClose();
      await Promise.all([
        utils.keys.list.invalidate(),
        utils.keys.byId.invalidate({ id: keyToRevoke.id }),
        utils.keys.allowance.invalidate(),
        utils.audit.list.invalidate(),
      ]);
    },
    onError: (error) => {
      if (readError(error).code === "key_already_revoked") {
        void utils.keys.list.invalidate();
        void utils.keys.byId.invalidate({ id: keyToRevoke.id });
      }
    },
  });
  const error = revoke.error ? readError(revoke.error) : undefined;

  const submit = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const trimmed = reason.trim();
    revoke.mutate(trimmed ? { id: keyToRevoke.id, reason: trimmed } : { id: keyToRevoke.id });
  };

  return (
    <Dialog
      title={`Revoke “${keyToRevoke.name}”?`}
      onRequestClose={onClose}
      dismissible={!revoke.isPending}
      className="danger-dialog"
    >
      <form onSubmit={submit} aria-busy={revoke.isPending}>
        <p>
          The key <code className="mono">{keyToRevoke.key_prefix}</code> stops working immediately:
          every SIEM, script or partner still using it will be refused.{" "}
          <strong>This cannot be undone.</strong>
        </p>
        <div className="field">
          <label htmlFor={reasonId}>
            Reason <span className="optional">(optional)</span>
          </label>
          <textarea
            id={reasonId}
            data-autofocus
            rows={3}
            maxLength={REASON_MAX}
            value={reason}
            onChange={(e) => setReason(e.target.value)}
            aria-describedby={helpId}
            aria-invalid={error?.code === "validation_error" ? true : undefined}
            placeholder="Rotated after the Splunk migration"
          />
          <p id={helpId} className="help">
            Kept in the activity log. {reason.length}/{REASON_MAX} characters.
          </p>
        </div>
        {error && (
          <div className="alert error-alert" role="alert">
            <p className="alert-title">{error.message}</p>
            {error.hint && <p>{error.hint}</p>}
          </div>
        )}
        <div className="dialog-actions">
          <button type="button" onClick={onClose} disabled={revoke.isPending}>
            Cancel
          </button>
          <button type="submit" className="danger" disabled={revoke.isPending}>
            {revoke.isPending ? (
              <>
                <span className="spinner" aria-hidden="true" /> Revoking…
              </>
            ) : (
              "Revoke key"
            )}
          </button>
        </div>
      </form>
    </Dialog>
  );
}
