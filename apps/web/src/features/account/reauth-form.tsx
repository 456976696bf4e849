import { useId, useState, type FormEvent } from "react";
import { readError } from "../../lib/errors.js";
import { trpc } from "../../lib/trpc.js";

/**
 * Sudo mode: shown when a sensitive change answered `reauthentication_required`. The password
 * opens a 10-minute window, then `onDone` retries the change.
 */
export function ReauthForm({ onDone }: { onDone: () => void }) {
  const utils = trpc.useUtils();
  const [password, setPassword] = useState("");
  const reauth = trpc.account.reauthenticate.useMutation({
    onSuccess: () => {
      void utils.account.overview.invalidate();
      onDone();
    },
  });
  const id = useId();
  const error = reauth.error ? readError(reauth.error) : undefined;
  const submit = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    reauth.mutate({ password });
  };
  return (
    <form className="alert warn-alert" onSubmit={submit} aria-label="Confirm it is you">
      <p className="alert-title">Confirm it is you</p>
      <p>This change needs a sign-in within the last 10 minutes. Enter your password again.</p>
      <label htmlFor={id}>Current password</label>
      <input
        id={id}
        type="password"
        autoComplete="current-password"
        required
        value={password}
        onChange={(e) => setPassword(e.target.value)}
      />
      {error && (
        <p className="error" role="alert">
          {error.message}
        </p>
      )}
      <div className="actions">
        <button type="submit" className="primary" disabled={reauth.isPending}>
          {reauth.isPending ? "Checking…" : "Confirm"}
        </button>
      </div>
    </form>
  );
}
