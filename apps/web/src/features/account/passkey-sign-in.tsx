import {
  startAuthentication,
  type PublicKeyCredentialRequestOptionsJSON,
} from "@simplewebauthn/browser";
import { useMutation } from "@tanstack/react-query";
import { readError } from "../../lib/errors.js";
import { trpc, type User } from "../../lib/trpc.js";

/** "Sign in with a passkey": a passkey alone counts as both factors. */
export function PasskeySignIn({ onSignedIn }: { onSignedIn: (user: User) => void }) {
  const { client } = trpc.useUtils();
  const signIn = useMutation({
    mutationFn: async () => {
      // The server's options, as JSON: the browser library's type differs only in extension typings.
      const optionsJSON =
        (await client.auth.passkey.options.mutate()) as unknown as PublicKeyCredentialRequestOptionsJSON;
      const response = await startAuthentication({ optionsJSON });
      type Sent = Parameters<typeof client.auth.passkey.verify.mutate>[0]["response"];
      return client.auth.passkey.verify.mutate({ response: response as unknown as Sent });
    },
    onSuccess: ({ user }) => onSignedIn(user),
  });
  const failure = signIn.error;
  const message =
    failure instanceof Error && failure.name === "NotAllowedError"
      ? "The passkey prompt was closed or timed out."
      : failure
        ? readError(failure).message
        : undefined;
  return (
    <div className="passkey-sign-in">
      <button type="button" onClick={() => signIn.mutate()} disabled={signIn.isPending}>
        {signIn.isPending ? "Waiting for your passkey…" : "Sign in with a passkey"}
      </button>
      {message && (
        <p className="error" role="alert">
          {message}
        </p>
      )}
    </div>
  );
}
