import {
  startRegistration,
  type PublicKeyCredentialCreationOptionsJSON,
} from "@simplewebauthn/browser";
import { useMutation } from "@tanstack/react-query";
import { useId, useState, type FormEvent } from "react";
import { ErrorPanel } from "../../components/page.js";
import { RelativeTime } from "../../components/relative-time.js";
import { readError } from "../../lib/errors.js";
import { trpc } from "../../lib/trpc.js";
import { useNow } from "../../lib/use-now.js";
import { ReauthForm } from "./reauth-form.js";

/** Passkeys: register several (named), rename and remove them; each one signs in on its own. */
export function PasskeysSection() {
  const now = useNow();
  const utils = trpc.useUtils();
  const { client } = utils;
  const list = trpc.account.passkeys.list.useQuery();
  const [name, setName] = useState("");
  const refresh = () => {
    void utils.account.passkeys.list.invalidate();
    void utils.account.overview.invalidate();
  };
  const add = useMutation({
    mutationFn: async (passkeyName: string) => {
      const optionsJSON =
        (await client.account.passkeys.registrationOptions.mutate()) as unknown as PublicKeyCredentialCreationOptionsJSON;
      const response = await startRegistration({ optionsJSON });
      type Sent = Parameters<typeof client.account.passkeys.register.mutate>[0]["response"];
      return client.account.passkeys.register.mutate({
        name: passkeyName,
        response: response as unknown as Sent,
      });
    },
    onSuccess: () => {
      setName("");
      refresh();
    },
  });
  const remove = trpc.account.passkeys.remove.useMutation({ onSuccess: refresh });
  const addError = add.error
    ? add.error instanceof Error && add.error.name === "NotAllowedError"
      ? { code: "cancelled", message: "The passkey prompt was closed or timed out." }
      : readError(add.error)
    : undefined;
  const removeError = remove.error ? readError(remove.error) : undefined;
  const id = useId();
  const submit = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    add.mutate(name);
  };

  return (
    <section className="card" aria-labelledby="passkeys-heading">
      <h2 id="passkeys-heading">Passkeys</h2>
      <p className="muted">
        A passkey signs you in with your device&apos;s screen lock or a security key, without a
        password or code, and cannot be phished.
      </p>
      {list.isError && <ErrorPanel error={list.error} onRetry={() => void list.refetch()} />}
      {list.data && list.data.length > 0 && (
        <ul className="passkey-list" aria-label="Your passkeys">
          {list.data.map((passkey) => (
            <PasskeyRow
              key={passkey.id}
              passkey={passkey}
              now={now}
              onRemove={() => remove.mutate({ id: passkey.id })}
              removing={remove.isPending}
              onRenamed={refresh}
            />
          ))}
        </ul>
      )}
      {removeError?.code === "reauthentication_required" ? (
        <ReauthForm onDone={() => remove.reset()} />
      ) : (
        removeError && (
          <p className="error" role="alert">
            {removeError.message}
          </p>
        )
      )}
      <form onSubmit={submit} className="narrow">
        <label htmlFor={id}>Passkey name</label>
        <input
          id={id}
          required
          maxLength={100}
          placeholder="e.g. Work laptop"
          value={name}
          onChange={(e) => setName(e.target.value)}
        />
        {addError?.code === "reauthentication_required" ? (
          <ReauthForm onDone={() => add.mutate(name)} />
        ) : (
          addError && (
            <p className="error" role="alert">
              {addError.message}
            </p>
          )
        )}
        <div className="actions">
          <button type="submit" disabled={add.isPending}>
            {add.isPending ? "Waiting for your device…" : "Add a passkey"}
          </button>
        </div>
      </form>
    </section>
  );
}

interface PasskeyListItem {
  id: string;
  name: string;
  created_at: string;
  last_used_at: string | null;
}

/** One passkey: when it was added and last used; rename it in place, or remove it. */
function PasskeyRow(props: {
  passkey: PasskeyListItem;
  now: Date;
  onRemove: () => void;
  removing: boolean;
  onRenamed: () => void;
}) {
  const { passkey, now } = props;
  const [draft, setDraft] = useState<string | null>(null);
  const rename = trpc.account.passkeys.rename.useMutation({
    onSuccess: () => {
      setDraft(null);
      props.onRenamed();
    },
  });
  const error = rename.error ? readError(rename.error) : undefined;
  const id = useId();
  if (draft !== null) {
    return (
      <li data-testid="passkey-row">
        <form
          className="inline-form"
          onSubmit={(event) => {
            event.preventDefault();
            rename.mutate({ id: passkey.id, name: draft });
          }}
        >
          <label htmlFor={id}>New name for passkey {passkey.name}</label>
          <input
            id={id}
            required
            maxLength={100}
            value={draft}
            onChange={(e) => setDraft(e.target.value)}
            aria-invalid={error ? true : undefined}
          />
          <button type="submit" disabled={rename.isPending}>
            Save
          </button>
          <button type="button" onClick={() => setDraft(null)}>
            Cancel
          </button>
          {error && (
            <p className="error" role="alert">
              {error.message}
            </p>
          )}
        </form>
      </li>
    );
  }
  return (
    <li data-testid="passkey-row">
      <strong>{passkey.name}</strong>{" "}
      <span className="muted small">
        added <RelativeTime iso={passkey.created_at} now={now} />
        {passkey.last_used_at && (
          <>
            , last used <RelativeTime iso={passkey.last_used_at} now={now} />
          </>
        )}
      </span>{" "}
      <button
        type="button"
        onClick={() => setDraft(passkey.name)}
        aria-label={`Rename passkey ${passkey.name}`}
      >
        Rename
      </button>{" "}
      <button
        type="button"
        onClick={props.onRemove}
        disabled={props.removing}
        aria-label={`Remove passkey ${passkey.name}`}
      >
        Remove
      </button>
    </li>
  );
}
