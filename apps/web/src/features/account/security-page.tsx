import { useId, useState, type FormEvent } from "react";
import { ErrorPanel, LoadingRows, PageHeading } from "../../components/page.js";
import { RelativeTime } from "../../components/relative-time.js";
import { fieldError, readError } from "../../lib/errors.js";
import { trpc } from "../../lib/trpc.js";
import { useNow } from "../../lib/use-now.js";
import { CurrentPasswordAndCode, useConfirmation } from "./confirm-fields.js";
import { describeBrowser } from "./describe-browser.js";
import { EmailSection } from "./email-section.js";
import { PasskeysSection } from "./passkeys-section.js";
import { TotpSection } from "./totp-section.js";

/** The account's own protection: sessions, password, authenticator app, passkeys. */
export function SecurityPage() {
  const overview = trpc.account.overview.useQuery();
  return (
    <>
      <PageHeading
        title="Security"
        description="Where you are signed in, your password and email, and the second factors that protect this account."
      />
      <SessionsSection />
      <PasswordSection totpEnabled={overview.data?.totp_enabled ?? false} />
      <EmailSection totpEnabled={overview.data?.totp_enabled ?? false} />
      {overview.isError ? (
        <ErrorPanel error={overview.error} onRetry={() => void overview.refetch()} />
      ) : (
        <TotpSection overview={overview.data} />
      )}
      <PasskeysSection />
    </>
  );
}

function SessionsSection() {
  const now = useNow();
  const utils = trpc.useUtils();
  const sessions = trpc.account.sessions.useQuery();
  const refresh = () => void utils.account.sessions.invalidate();
  const endOne = trpc.account.endSession.useMutation({ onSettled: refresh });
  const endOthers = trpc.account.endOtherSessions.useMutation({ onSettled: refresh });
  const failure = endOne.error ?? endOthers.error;
  return (
    <section className="card" aria-labelledby="sessions-heading">
      <div className="block-head">
        <h2 id="sessions-heading">Sessions</h2>
        <button
          type="button"
          onClick={() => endOthers.mutate()}
          disabled={endOthers.isPending || (sessions.data?.length ?? 0) < 2}
        >
          Sign out all other sessions
        </button>
      </div>
      {failure && <ErrorPanel error={failure} />}
      {sessions.isPending ? (
        <LoadingRows label="Loading sessions" />
      ) : sessions.isError ? (
        <ErrorPanel error={sessions.error} onRetry={() => void sessions.refetch()} />
      ) : (
        <div className="table-wrap">
          <table className="data-table">
            <caption className="sr-only">Sessions signed in to this account</caption>
            <thead>
              <tr>
                <th scope="col">Browser</th>
                <th scope="col">Address</th>
                <th scope="col">Signed in</th>
                <th scope="col">Last seen</th>
                <th scope="col">
                  <span className="sr-only">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {sessions.data.map((session) => (
                <tr key={session.id} data-testid="session-row">
                  <th scope="row">
                    {describeBrowser(session.user_agent)}
                    {session.current && <span className="badge"> This session</span>}
                  </th>
                  <td className="mono">{session.ip ?? "—"}</td>
                  <td>
                    <RelativeTime iso={session.created_at} now={now} />
                  </td>
                  <td>
                    <RelativeTime iso={session.last_seen_at} now={now} />
                  </td>
                  <td className="actions-cell">
                    {!session.current && (
                      <button
                        type="button"
                        onClick={() => endOne.mutate({ id: session.id })}
                        disabled={endOne.isPending}
                        aria-label={`Sign out ${describeBrowser(session.user_agent)} at ${session.ip ?? "unknown address"}`}
                      >
                        Sign out
                      </button>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}

function PasswordSection({ totpEnabled }: { totpEnabled: boolean }) {
  const utils = trpc.useUtils();
  const confirmation = useConfirmation();
  const [next, setNext] = useState("");
  const change = trpc.account.changePassword.useMutation({
    onSuccess: () => {
      confirmation.reset();
      setNext("");
      void utils.account.sessions.invalidate();
    },
  });
  const error = change.error ? readError(change.error) : undefined;
  const nextId = useId();
  const submit = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    change.mutate({
      current_password: confirmation.password,
      new_password: next,
      ...(totpEnabled ? { code: confirmation.code } : {}),
    });
  };
  return (
    <section className="card" aria-labelledby="password-heading">
      <h2 id="password-heading">Password</h2>
      <form onSubmit={submit} className="narrow">
        <label htmlFor={nextId}>New password</label>
        <input
          id={nextId}
          type="password"
          autoComplete="new-password"
          required
          minLength={8}
          maxLength={256}
          value={next}
          onChange={(e) => setNext(e.target.value)}
          aria-invalid={fieldError(error, "new_password") ? true : undefined}
        />
        <p className="help muted small">
          8 to 256 characters; not a common password and not your email address. A passphrase of a
          few unrelated words is easy to remember and hard to guess.
        </p>
        <CurrentPasswordAndCode
          confirmation={confirmation}
          passwordField="current_password"
          totpEnabled={totpEnabled}
          error={error}
        />
        {change.isSuccess && (
          <p className="notice info" role="status">
            Password changed.{" "}
            {change.data.sessions_ended > 0
              ? `${change.data.sessions_ended} other session(s) were signed out.`
              : ""}
          </p>
        )}
        <div className="actions">
          <button type="submit" className="primary" disabled={change.isPending}>
            {change.isPending ? "Changing…" : "Change password"}
          </button>
        </div>
      </form>
    </section>
  );
}
