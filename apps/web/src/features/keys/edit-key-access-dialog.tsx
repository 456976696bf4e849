import { useId, useState, type FormEvent } from "react";
import { Dialog } from "../../components/dialog.js";
import { toast } from "../../components/toaster.js";
import { readError, type ReadableError } from "../../lib/errors.js";
import { trpc } from "../../lib/trpc.js";
import {
  accessValues,
  soonerChoices,
  toUpdateInput,
  type AccessValues,
  type EditableKey,
} from "./edit-key-access.js";
import { ScopeCheckboxes } from "./scope-checkboxes.js";

/**
 * Edits what a key may do, in place (keys.update → PATCH): drop scopes, change the allowed
 * addresses, make it expire sooner. Widening needs a new key, so the form never offers it.
 * The change reaches every server process on the very next request.
 */
export function EditKeyAccessDialog({
  keyToEdit,
  onClose,
}: {
  keyToEdit: EditableKey;
  onClose: () => void;
}) {
  const utils = trpc.useUtils();
  const [values, setValues] = useState<AccessValues>(() => accessValues(keyToEdit));
  const [error, setError] = useState<ReadableError | { message: string; fields?: undefined }>();
  const ids = { ips: useId(), ipsHelp: useId() };
  const sooner = soonerChoices(keyToEdit, new Date());
  const update = trpc.keys.update.useMutation({
    onSuccess: async (result) => {
      utils.keys.byId.setData({ id: keyToEdit.id }, result);
      toast("Access updated: it applies from the next request.");
      onClose();
      await Promise.all([utils.keys.list.invalidate(), utils.audit.list.invalidate()]);
    },
    onError: (failure) => setError(readError(failure)),
  });
  const submit = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const result = toUpdateInput(keyToEdit, values);
    if (result.error !== undefined) return setError({ message: result.error });
    if (result.input === null) return onClose();
    setError(undefined);
    update.mutate(result.input);
  };
  const fieldMessage = (field: string) => error?.fields?.[field];

  return (
    <Dialog title="Edit access" onRequestClose={onClose} dismissible={!update.isPending}>
      <form onSubmit={submit} noValidate>
        <fieldset className="field">
          <legend>Scopes</legend>
          <p className="help">
            Uncheck what this key no longer needs. Adding scopes needs a new key.
          </p>
          <ScopeCheckboxes
            offered={keyToEdit.scopes}
            checked={values.scopes}
            onChange={(scopes) => setValues((current) => ({ ...current, scopes }))}
          />
          {fieldMessage("scopes") && <p className="field-error">{fieldMessage("scopes")}</p>}
        </fieldset>

        <div className="field">
          <label htmlFor={ids.ips}>
            Allowed IP addresses <span className="optional">(empty: any address)</span>
          </label>
          <textarea
            id={ids.ips}
            rows={3}
            spellCheck={false}
            className="mono"
            value={values.allowedIps}
            onChange={(e) => setValues((current) => ({ ...current, allowedIps: e.target.value }))}
            aria-invalid={fieldMessage("allowed_ips") ? true : undefined}
            aria-describedby={ids.ipsHelp}
          />
          <p id={ids.ipsHelp} className="help">
            One address or CIDR range per line, e.g. <code>203.0.113.10</code> or{" "}
            <code>10.20.0.0/16</code>.
          </p>
          {fieldMessage("allowed_ips") && (
            <p className="field-error">{fieldMessage("allowed_ips")}</p>
          )}
        </div>

        <fieldset className="field">
          <legend>Expires</legend>
          <label className="check">
            <input
              type="radio"
              name="expiry"
              checked={values.expiresInHours === null}
              onChange={() => setValues((current) => ({ ...current, expiresInHours: null }))}
            />
            Keep the current expiry
          </label>
          {sooner.map((choice) => (
            <label key={choice.hours} className="check">
              <input
                type="radio"
                name="expiry"
                checked={values.expiresInHours === choice.hours}
                onChange={() =>
                  setValues((current) => ({ ...current, expiresInHours: choice.hours }))
                }
              />
              {choice.label}
            </label>
          ))}
          <p className="help">A key can be made to expire sooner, never later.</p>
        </fieldset>

        {error && !error.fields?.scopes && !error.fields?.allowed_ips && (
          <p className="alert error-alert" role="alert">
            {error.message}
          </p>
        )}
        <div className="dialog-actions">
          <button type="button" onClick={onClose} disabled={update.isPending}>
            Cancel
          </button>
          <button type="submit" className="primary" disabled={update.isPending}>
            {update.isPending ? "Saving…" : "Save changes"}
          </button>
        </div>
      </form>
    </Dialog>
  );
}
