import { useId, useState, type FormEvent } from "react";
import { fieldError, readError } from "../../lib/errors.js";
import { trpc } from "../../lib/trpc.js";
import { CurrentPasswordAndCode, useConfirmation } from "./confirm-fields.js";

/** The sign-in email: changed with the current password (and code), effective at once. */
export function EmailSection({ totpEnabled }: { totpEnabled: boolean }) {
  const utils = trpc.useUtils();
  const me = trpc.auth.me.useQuery();
  const [email, setEmail] = useState("");
  const confirmation = useConfirmation();
  const change = trpc.account.changeEmail.useMutation({
    onSuccess: () => {
      setEmail("");
      confirmation.reset();
      void utils.auth.me.invalidate();
    },
  });
  const error = change.error ? readError(change.error) : undefined;
  const emailId = useId();
  const submit = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const { password, code } = confirmation;
    change.mutate({ new_email: email, password, ...(totpEnabled ? { code } : {}) });
  };
  return (
    <section className="card" aria-labelledby="email-heading">
      <h2 id="email-heading">Email address</h2>
      <p className="muted">
        You sign in with <strong>{me.data?.user?.email ?? "…"}</strong>.
      </p>
      <form onSubmit={submit} className="narrow">
        <label htmlFor={emailId}>New email address</label>
        <input
          id={emailId}
          type="email"
          autoComplete="email"
          required
          maxLength={254}
          value={email}
          onChange={(e) => setEmail(e.target.value)}
          aria-invalid={fieldError(error, "new_email") ? true : undefined}
        />
        <CurrentPasswordAndCode
          confirmation={confirmation}
          passwordField="password"
          totpEnabled={totpEnabled}
          error={error}
        />
        {change.isSuccess && (
          <p className="notice info" role="status">
            Email changed: sign in with {change.data.email} from now on.
          </p>
        )}
        <div className="actions">
          <button type="submit" className="primary" disabled={change.isPending}>
            {change.isPending ? "Changing…" : "Change email"}
          </button>
        </div>
      </form>
    </section>
  );
}
