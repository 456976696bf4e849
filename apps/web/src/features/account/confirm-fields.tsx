import { useId, useState } from "react";
import { fieldError, type ReadableError } from "../../lib/errors.js";

/**
 * The current password, and the authenticator code when one is set up: what a sensitive
 * change of the account (password, email, second factors) asks for, so a stolen session alone
 * cannot make it. The form's error is shown after them.
 */
export function CurrentPasswordAndCode(props: {
  confirmation: Confirmation;
  passwordField: string;
  totpEnabled: boolean;
  error: ReadableError | undefined;
}) {
  const { password, setPassword, code, setCode } = props.confirmation;
  const ids = { password: useId(), code: useId() };
  return (
    <>
      <label htmlFor={ids.password}>Current password</label>
      <input
        id={ids.password}
        type="password"
        autoComplete="current-password"
        required
        value={password}
        onChange={(e) => setPassword(e.target.value)}
        aria-invalid={fieldError(props.error, props.passwordField) ? true : undefined}
      />
      {props.totpEnabled && (
        <>
          <label htmlFor={ids.code}>Authentication code</label>
          <input
            id={ids.code}
            inputMode="numeric"
            autoComplete="one-time-code"
            required
            value={code}
            onChange={(e) => setCode(e.target.value)}
            aria-invalid={fieldError(props.error, "code") ? true : undefined}
          />
        </>
      )}
      {props.error && (
        <p className="error" role="alert">
          {props.error.message}
        </p>
      )}
    </>
  );
}

export type Confirmation = ReturnType<typeof useConfirmation>;

/** The state behind `CurrentPasswordAndCode`. */
export function useConfirmation() {
  const [password, setPassword] = useState("");
  const [code, setCode] = useState("");
  return {
    password,
    setPassword,
    code,
    setCode,
    reset() {
      setPassword("");
      setCode("");
    },
  };
}
