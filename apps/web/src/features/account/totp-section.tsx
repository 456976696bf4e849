import { useId, useState, type FormEvent } from "react";
import { CurrentPasswordAndCode, useConfirmation } from "./confirm-fields.js";
import { CopyButton } from "../../components/copy-button.js";
import { readError } from "../../lib/errors.js";
import type { RouterOutputs } from "@repo/api";
import { trpc } from "../../lib/trpc.js";
import { ReauthForm } from "./reauth-form.js";

type Overview = RouterOutputs["account"]["overview"];

/** The authenticator app (TOTP): set up with a QR code, confirmed with a code, recovery codes. */
export function TotpSection({ overview }: { overview: Overview | undefined }) {
  const utils = trpc.useUtils();
  const [recoveryCodes, setRecoveryCodes] = useState<string[] | null>(null);
  const begin = trpc.account.totp.begin.useMutation();
  const beginError = begin.error ? readError(begin.error) : undefined;
  const done = () => {
    setRecoveryCodes(null);
    begin.reset();
    void utils.account.overview.invalidate();
  };

  let body;
  if (recoveryCodes) {
    body = <RecoveryCodes codes={recoveryCodes} onDone={done} />;
  } else if (overview?.totp_enabled) {
    body = <TotpEnabled remaining={overview.recovery_codes_remaining} onCodes={setRecoveryCodes} />;
  } else if (begin.data) {
    body = <TotpConfirm enrolment={begin.data} onConfirmed={setRecoveryCodes} />;
  } else {
    body = (
      <>
        <p>
          Off. With an authenticator app (1Password, Google Authenticator, Authy…), signing in needs
          your password and a 6-digit code from your phone.
        </p>
        {beginError?.code === "reauthentication_required" ? (
          <ReauthForm onDone={() => begin.mutate()} />
        ) : (
          beginError && (
            <p className="error" role="alert">
              {beginError.message}
            </p>
          )
        )}
        <div className="actions">
          <button
            type="button"
            className="primary"
            onClick={() => begin.mutate()}
            disabled={begin.isPending}
          >
            Set up authenticator app
          </button>
        </div>
      </>
    );
  }
  return (
    <section className="card" aria-labelledby="totp-heading">
      <h2 id="totp-heading">Authenticator app</h2>
      {body}
    </section>
  );
}

function TotpConfirm({
  enrolment,
  onConfirmed,
}: {
  enrolment: RouterOutputs["account"]["totp"]["begin"];
  onConfirmed: (codes: string[]) => void;
}) {
  const [code, setCode] = useState("");
  const confirm = trpc.account.totp.confirm.useMutation({
    onSuccess: ({ recovery_codes }) => onConfirmed(recovery_codes),
  });
  const error = confirm.error ? readError(confirm.error) : undefined;
  const id = useId();
  const submit = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    confirm.mutate({ code });
  };
  return (
    <form onSubmit={submit} className="narrow">
      <p>1. Scan this QR code with your authenticator app.</p>
      <img
        src={enrolment.qr_code}
        width={200}
        height={200}
        alt="QR code to add this account to your authenticator app"
      />
      <p>
        Or enter this key by hand: <code data-testid="totp-secret">{enrolment.secret}</code>{" "}
        <CopyButton text={enrolment.secret} label="Copy key" />
      </p>
      <label htmlFor={id}>2. Enter the 6-digit code the app shows</label>
      <input
        id={id}
        inputMode="numeric"
        autoComplete="one-time-code"
        required
        value={code}
        onChange={(e) => setCode(e.target.value)}
        aria-invalid={error ? true : undefined}
      />
      {error && (
        <p className="error" role="alert">
          {error.message}
        </p>
      )}
      <div className="actions">
        <button type="submit" className="primary" disabled={confirm.isPending}>
          Turn on
        </button>
      </div>
    </form>
  );
}

function RecoveryCodes({ codes, onDone }: { codes: string[]; onDone: () => void }) {
  return (
    <div role="region" aria-label="Recovery codes">
      <p className="notice warn">
        Save these recovery codes somewhere safe (a password manager). Each one signs you in once if
        you lose your phone. They will not be shown again.
      </p>
      <ul className="mono" data-testid="recovery-codes">
        {codes.map((code) => (
          <li key={code}>{code}</li>
        ))}
      </ul>
      <div className="actions">
        <CopyButton text={codes.join("\n")} label="Copy codes" />
        <button type="button" className="primary" onClick={onDone}>
          I have saved these codes
        </button>
      </div>
    </div>
  );
}

/** On: regenerate recovery codes or turn off, each with the password and a current code. */
function TotpEnabled({
  remaining,
  onCodes,
}: {
  remaining: number;
  onCodes: (codes: string[]) => void;
}) {
  const utils = trpc.useUtils();
  const confirmation = useConfirmation();
  const regenerate = trpc.account.recoveryCodes.regenerate.useMutation({
    onSuccess: ({ recovery_codes }) => onCodes(recovery_codes),
  });
  const disable = trpc.account.totp.disable.useMutation({
    onSuccess: () => void utils.account.overview.invalidate(),
  });
  const failure = regenerate.error ?? disable.error;
  const error = failure ? readError(failure) : undefined;
  const submit = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const action = ((event.nativeEvent as SubmitEvent).submitter as HTMLButtonElement | null)
      ?.value;
    regenerate.reset();
    disable.reset();
    const { password, code } = confirmation;
    if (action === "disable") disable.mutate({ password, code });
    else regenerate.mutate({ password, code });
  };
  return (
    <form onSubmit={submit} className="narrow">
      <p>
        <span className="badge status-active">On</span> Signing in needs a code from your app.{" "}
        {remaining} of 10 recovery codes left.
      </p>
      <p className="muted small">
        To regenerate recovery codes or turn the app off, enter your password and a current code.
      </p>
      <CurrentPasswordAndCode
        confirmation={confirmation}
        passwordField="password"
        totpEnabled
        error={error}
      />
      <div className="actions">
        <button type="submit" name="action" value="regenerate" disabled={regenerate.isPending}>
          New recovery codes
        </button>
        <button type="submit" name="action" value="disable" disabled={disable.isPending}>
          Turn off
        </button>
      </div>
    </form>
  );
}
