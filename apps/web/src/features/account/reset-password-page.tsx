import { useId, useState, type FormEvent } from "react";
import { readError } from "../../lib/errors.js";
import { navigate } from "../../lib/router.js";
import { trpc } from "../../lib/trpc.js";

/** The token of an operator's reset link, read from the URL fragment (never sent to servers). */
function tokenFromHash(): string {
  return new URLSearchParams(window.location.hash.slice(1)).get("token") ?? "";
}

/** Choosing a new password from a one-time link an operator issued (`users reset-password`). */
export function ResetPasswordPage() {
  const [token] = useState(tokenFromHash);
  const [password, setPassword] = useState("");
  const reset = trpc.auth.resetPassword.useMutation({
    onSuccess: () => window.history.replaceState(null, "", "/reset-password"),
  });
  const error = reset.error ? readError(reset.error) : undefined;
  const id = useId();
  const submit = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    reset.mutate({ token, new_password: password });
  };
  return (
    <main className="center">
      <form className="card auth" onSubmit={submit}>
        <h1>Choose a new password</h1>
        {reset.isSuccess ? (
          <>
            <p className="notice info" role="status">
              Your password is changed and every session of your account was signed out.
            </p>
            <div className="actions">
              <button type="button" className="primary" onClick={() => navigate("/")}>
                Sign in
              </button>
            </div>
          </>
        ) : !token ? (
          <p className="error" role="alert">
            This link has no reset token. Ask your operator for a new link.
          </p>
        ) : (
          <>
            <label htmlFor={id}>New password</label>
            <input
              id={id}
              type="password"
              autoComplete="new-password"
              required
              minLength={8}
              maxLength={256}
              value={password}
              onChange={(e) => setPassword(e.target.value)}
              aria-invalid={error ? true : undefined}
            />
            <p className="muted small">
              8 to 256 characters; not a common password and not your email address.
            </p>
            {error && (
              <p className="error" role="alert">
                {error.message}
              </p>
            )}
            <div className="actions">
              <button type="submit" className="primary" disabled={reset.isPending}>
                Set password
              </button>
            </div>
          </>
        )}
      </form>
    </main>
  );
}
