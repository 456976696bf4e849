import { useId, useState, type FormEvent } from "react";
import { readError } from "../../lib/errors.js";
import { trpc, type User } from "../../lib/trpc.js";

/**
 * The second step of a two-step sign-in: a code from the authenticator app, or one of the
 * recovery codes. The password step's binding lives in an HttpOnly cookie the server set.
 */
export function SecondFactorForm({
  onSignedIn,
  onRestart,
}: {
  onSignedIn: (user: User) => void;
  onRestart: () => void;
}) {
  const [useRecovery, setUseRecovery] = useState(false);
  const [value, setValue] = useState("");
  const verify = trpc.auth.verifySecondFactor.useMutation({
    onSuccess: ({ user }) => onSignedIn(user),
  });
  const error = verify.error ? readError(verify.error) : undefined;
  const inputId = useId();
  const errorId = useId();
  const label = useRecovery ? "Recovery code" : "Authentication code";

  const submit = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    verify.mutate(useRecovery ? { recovery_code: value } : { code: value });
  };

  return (
    <form className="card auth" onSubmit={submit} aria-describedby={error ? errorId : undefined}>
      <h1>Two-step sign-in</h1>
      <p className="muted">
        {useRecovery
          ? "Enter one of the recovery codes you saved when you set up your authenticator app. Each code works once."
          : "Enter the 6-digit code from your authenticator app."}
      </p>
      <label htmlFor={inputId}>{label}</label>
      <input
        id={inputId}
        key={label}
        autoFocus
        required
        autoComplete="one-time-code"
        inputMode={useRecovery ? "text" : "numeric"}
        pattern={useRecovery ? undefined : "[0-9 ]{6,7}"}
        maxLength={useRecovery ? 64 : 7}
        value={value}
        onChange={(e) => setValue(e.target.value)}
        aria-invalid={error ? true : undefined}
        className="mono"
      />
      {error && (
        <p id={errorId} className="error" role="alert">
          {error.message}
        </p>
      )}
      <div className="actions">
        <button type="submit" className="primary" disabled={verify.isPending}>
          {verify.isPending ? "Checking…" : "Verify"}
        </button>
        <button
          type="button"
          onClick={() => {
            setUseRecovery(!useRecovery);
            setValue("");
            verify.reset();
          }}
        >
          {useRecovery ? "Use the authenticator app" : "Use a recovery code"}
        </button>
      </div>
      {error?.code === "second_factor_expired" && (
        <p>
          <button type="button" onClick={onRestart}>
            Start again
          </button>
        </p>
      )}
    </form>
  );
}
