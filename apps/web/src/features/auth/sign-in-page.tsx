import { useQueryClient } from "@tanstack/react-query";
import { useId, useState, type FormEvent } from "react";
import { readError } from "../../lib/errors.js";
import { setSessionNotice, useSessionNotice } from "../../lib/session.js";
import { clearAccountData, setSignedInUser, trpc, type User } from "../../lib/trpc.js";
import { PasskeySignIn } from "../account/passkey-sign-in.js";
import { SecondFactorForm } from "../account/second-factor-form.js";

const NOTICES = {
  expired: "Your session has ended. Sign in again to continue.",
  "signed-out": "You have signed out.",
} as const;

/** One form for both: "Sign in" for existing accounts, "Create account" for new ones. */
export function SignInPage() {
  const queryClient = useQueryClient();
  const notice = useSessionNotice();
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [secondStep, setSecondStep] = useState(false);
  // A new session starts from an empty cache: nothing of a previous account stays around.
  const signedIn = (user: User) => {
    setSessionNotice(null);
    clearAccountData(queryClient);
    setSignedInUser(queryClient, user);
  };
  const signIn = trpc.auth.signIn.useMutation({
    onSuccess: (result) => {
      if ("second_factor_required" in result) setSecondStep(true);
      else signedIn(result.user);
    },
  });
  const signUp = trpc.auth.signUp.useMutation({ onSuccess: ({ user }) => signedIn(user) });
  const pending = signIn.isPending || signUp.isPending;
  const failure = signIn.error ?? signUp.error;
  const error = failure ? readError(failure) : undefined;
  const emailId = useId();
  const passwordId = useId();
  const errorId = useId();

  const submit = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const submitter = (event.nativeEvent as SubmitEvent).submitter as HTMLButtonElement | null;
    signIn.reset();
    signUp.reset();
    if (submitter?.value === "create") signUp.mutate({ email, password });
    else signIn.mutate({ email, password });
  };

  if (secondStep) {
    return (
      <main className="center">
        <SecondFactorForm
          onSignedIn={signedIn}
          onRestart={() => {
            signIn.reset();
            setPassword("");
            setSecondStep(false);
          }}
        />
      </main>
    );
  }

  return (
    <main className="center">
      <form className="card auth" onSubmit={submit} aria-describedby={error ? errorId : undefined}>
        <h1>Threat Intel API keys</h1>
        <p className="muted">Sign in to manage the keys your SIEMs and scripts use.</p>
        {notice && !error && (
          <p className={notice === "expired" ? "notice warn" : "notice info"} role="status">
            {NOTICES[notice]}
          </p>
        )}
        <label htmlFor={emailId}>Email</label>
        <input
          id={emailId}
          type="email"
          autoComplete="username"
          required
          value={email}
          onChange={(e) => setEmail(e.target.value)}
          aria-invalid={error?.field === "email" || undefined}
        />
        <label htmlFor={passwordId}>Password</label>
        <input
          id={passwordId}
          type="password"
          autoComplete="current-password"
          required
          minLength={1}
          value={password}
          onChange={(e) => setPassword(e.target.value)}
          aria-invalid={error?.field === "password" || undefined}
        />
        {error && (
          <p id={errorId} className="error" role="alert">
            {error.message}
            {error.hint && <> {error.hint}</>}
          </p>
        )}
        <div className="actions">
          <button type="submit" name="action" value="signin" className="primary" disabled={pending}>
            {signIn.isPending ? "Signing in…" : "Sign in"}
          </button>
          <button type="submit" name="action" value="create" disabled={pending}>
            {signUp.isPending ? "Creating account…" : "Create account"}
          </button>
        </div>
        <p className="muted small">
          New accounts need a password of 8 to 256 characters that is not a common one.
        </p>
        <PasskeySignIn onSignedIn={signedIn} />
      </form>
    </main>
  );
}
