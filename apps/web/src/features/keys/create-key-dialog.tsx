import { useIsMutating } from "@tanstack/react-query";
import { getMutationKey } from "@trpc/react-query";
import { useEffect, useId, useRef, useState, type FormEvent } from "react";
import { CopyButton } from "../../components/copy-button.js";
import { Dialog } from "../../components/dialog.js";
import { readError, type ReadableError } from "../../lib/errors.js";
import { trpc, type Allowance } from "../../lib/trpc.js";
import {
  EXPIRY_CHOICES,
  initialValues,
  keysNamedLike,
  MAX_ALLOWED_IPS,
  NAME_MAX,
  serverFieldErrors,
  toCreateInput,
  type CreateKeyValues,
  type FieldErrors,
} from "./create-key-form.js";
import { ScopeCheckboxes } from "./scope-checkboxes.js";

interface CreateKeyDialogProps {
  allowance: Allowance;
  onClose: () => void;
}

export type Created = {
  name: string;
  key: string;
  prefix: string;
  warning: string;
  nameHint: string | undefined;
};

/** Two steps in one modal: the form, then the new secret, shown this once. */
export function CreateKeyDialog({ allowance, onClose }: CreateKeyDialogProps) {
  const [created, setCreated] = useState<Created | null>(null);
  // Closing while the request is in flight would mint a key nobody ever sees.
  const pending = useIsMutating({ mutationKey: getMutationKey(trpc.keys.create) }) > 0;
  return created ? (
    <Dialog title="Your new API key" onRequestClose={onClose} dismissible={false} showClose={false}>
      <CreatedKeyPanel created={created} onDone={onClose} />
    </Dialog>
  ) : (
    <Dialog title="Create API key" onRequestClose={onClose} dismissible={!pending}>
      <CreateKeyForm allowance={allowance} onCancel={onClose} onCreated={setCreated} />
    </Dialog>
  );
}

interface CreateKeyFormProps {
  allowance: Allowance;
  onCancel: () => void;
  onCreated: (created: Created) => void;
}

export function CreateKeyForm({ allowance, onCancel, onCreated }: CreateKeyFormProps) {
  const utils = trpc.useUtils();
  const existing = trpc.keys.list.useQuery();
  const [values, setValues] = useState<CreateKeyValues>(() => initialValues(allowance.scopes));
  const [errors, setErrors] = useState<FieldErrors>({});
  const [serverError, setServerError] = useState<ReadableError>();
  // Bumped on every failed submit: once the errors are rendered, focus the first bad field.
  const [failedSubmits, setFailedSubmits] = useState(0);
  const formRef = useRef<HTMLFormElement>(null);
  useEffect(() => {
    if (failedSubmits === 0) return;
    formRef.current
      ?.querySelector<HTMLElement>(
        "input[aria-invalid='true'], textarea[aria-invalid='true'], fieldset[aria-invalid='true'] input",
      )
      ?.focus();
  }, [failedSubmits]);
  const ids = {
    name: useId(),
    nameHelp: useId(),
    nameTwin: useId(),
    expiry: useId(),
    custom: useId(),
    scopes: useId(),
    ips: useId(),
    ipsHelp: useId(),
  };
  const create = trpc.keys.create.useMutation({
    onSuccess: async (result) => {
      onCreated({
        name: result.data.name,
        key: result.data.full_key,
        prefix: result.data.key_prefix,
        warning: result.meta.warning,
        nameHint: result.meta.name_hint,
      });
      await Promise.all([
        utils.keys.list.invalidate(),
        utils.keys.allowance.invalidate(),
        utils.audit.list.invalidate(),
      ]);
    },
    onError: (error) => {
      const readable = readError(error);
      const fields = serverFieldErrors(readable.fields);
      setErrors(fields);
      setFailedSubmits((n) => n + 1);
      // Field problems are shown at their field; anything else above the buttons.
      setServerError(Object.keys(fields).length > 0 ? undefined : readable);
      if (readable.code === "key_limit_reached") void utils.keys.allowance.invalidate();
    },
  });

  const set = <K extends keyof CreateKeyValues>(key: K, value: CreateKeyValues[K]) => {
    setValues((current) => ({ ...current, [key]: value }));
    setErrors((current) => {
      const field = key === "customDays" || key === "expiry" ? "expires_in_days" : key;
      if (field === "allowedIps") return { ...current, allowed_ips: undefined };
      return { ...current, [field]: undefined };
    });
  };

  const submit = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    setServerError(undefined);
    const result = toCreateInput(values, allowance.scopes);
    if (result.errors) {
      setErrors(result.errors);
      setFailedSubmits((n) => n + 1);
      return;
    }
    setErrors({});
    create.mutate(result.input);
  };

  const describedBy = (...list: (string | false | undefined)[]) =>
    list.filter(Boolean).join(" ") || undefined;
  const atLimit = allowance.active_keys >= allowance.max_active_keys;
  const twins = keysNamedLike(existing.data?.data ?? [], values.name, new Date());

  return (
    <form ref={formRef} onSubmit={submit} noValidate aria-busy={create.isPending}>
      {atLimit && !serverError && (
        <p className="notice warn">
          All {allowance.max_active_keys} active keys of your {allowance.tier} tier are in use.
          Revoke one before creating another.
        </p>
      )}
      <div className="field">
        <label htmlFor={ids.name}>Name</label>
        <input
          id={ids.name}
          data-autofocus
          autoComplete="off"
          spellCheck={false}
          maxLength={NAME_MAX + 20}
          value={values.name}
          onChange={(e) => set("name", e.target.value)}
          aria-invalid={errors.name ? true : undefined}
          aria-describedby={describedBy(
            ids.nameHelp,
            twins.length > 0 && ids.nameTwin,
            errors.name && `${ids.name}-error`,
          )}
          placeholder="prod-splunk-2026q2"
        />
        <p id={ids.nameHelp} className="help">
          Say where the key runs and what uses it, e.g. <code>prod-splunk-2026q2</code>,{" "}
          <code>staging-sentinel</code> or <code>tom-laptop-dev</code>. Names like “key1” or “test”
          make the activity log useless.
        </p>
        {twins.length > 0 && (
          <p id={ids.nameTwin} className="notice warn small" role="status">
            An active key is already called “{twins[0]!.name}” (
            <code>{twins.map((key) => `${key.key_prefix}…`).join(", ")}</code>). Two keys with one
            name cannot be told apart in the list or the activity log: say what is different, e.g.
            where this one runs.
          </p>
        )}
        <FieldError id={`${ids.name}-error`} message={errors.name} />
      </div>

      <fieldset className="field">
        <legend>Expires</legend>
        <div className="segmented" role="presentation">
          {EXPIRY_CHOICES.map((choice) => (
            <label key={choice.value} className="segment">
              <input
                type="radio"
                name={`${ids.expiry}-expiry`}
                value={choice.value}
                checked={values.expiry === choice.value}
                onChange={() => set("expiry", choice.value)}
              />
              <span>{choice.label}</span>
            </label>
          ))}
        </div>
        {values.expiry === "custom" && (
          <div className="inline-field">
            <label htmlFor={ids.custom}>Days until expiry (1–365)</label>
            <input
              id={ids.custom}
              type="number"
              inputMode="numeric"
              min={1}
              max={365}
              step={1}
              className="narrow"
              value={values.customDays}
              onChange={(e) => set("customDays", e.target.value)}
              aria-invalid={errors.expires_in_days ? true : undefined}
              aria-describedby={describedBy(errors.expires_in_days && `${ids.custom}-error`)}
            />
          </div>
        )}
        <FieldError id={`${ids.custom}-error`} message={errors.expires_in_days} />
        <p className="help">Time-bound keys are recommended for partners and CI systems.</p>
      </fieldset>

      <fieldset
        className="field"
        aria-invalid={errors.scopes ? true : undefined}
        aria-describedby={describedBy(errors.scopes && `${ids.scopes}-error`)}
      >
        <legend>Scopes</legend>
        <p className="help">
          Your {allowance.tier} tier includes these. Grant only what the integration needs.
        </p>
        <ScopeCheckboxes
          offered={allowance.scopes}
          checked={values.scopes}
          onChange={(scopes) => set("scopes", scopes)}
        />
        <FieldError id={`${ids.scopes}-error`} message={errors.scopes} />
      </fieldset>

      <div className="field">
        <label htmlFor={ids.ips}>
          Allowed IP addresses <span className="optional">(optional)</span>
        </label>
        <textarea
          id={ids.ips}
          rows={3}
          spellCheck={false}
          className="mono"
          value={values.allowedIps}
          onChange={(e) => set("allowedIps", e.target.value)}
          placeholder={"203.0.113.10\n10.20.0.0/16"}
          aria-invalid={errors.allowed_ips ? true : undefined}
          aria-describedby={describedBy(ids.ipsHelp, errors.allowed_ips && `${ids.ips}-error`)}
        />
        <p id={ids.ipsHelp} className="help">
          One IPv4/IPv6 address or CIDR range per line, up to {MAX_ALLOWED_IPS}. Leave empty to
          accept requests from any address.
        </p>
        <FieldError id={`${ids.ips}-error`} message={errors.allowed_ips} />
      </div>

      {serverError && (
        <div className="alert error-alert" role="alert">
          <p className="alert-title">{serverError.message}</p>
          {serverError.hint && <p>{serverError.hint}</p>}
        </div>
      )}

      <div className="dialog-actions">
        <button type="button" onClick={onCancel} disabled={create.isPending}>
          Cancel
        </button>
        <button type="submit" className="primary" disabled={create.isPending}>
          {create.isPending ? (
            <>
              <span className="spinner" aria-hidden="true" /> Creating…
            </>
          ) : (
            "Create key"
          )}
        </button>
      </div>
    </form>
  );
}

function FieldError({ id, message }: { id: string; message: string | undefined }) {
  if (!message) return null;
  return (
    <p id={id} className="field-error">
      {message}
    </p>
  );
}

export function CreatedKeyPanel({ created, onDone }: { created: Created; onDone: () => void }) {
  const [stored, setStored] = useState(false);
  const keyId = useId();
  // Until it is stored, leaving the page asks first: the secret cannot be shown again.
  useEffect(() => {
    if (stored) return;
    const warn = (event: BeforeUnloadEvent) => event.preventDefault();
    window.addEventListener("beforeunload", warn);
    return () => window.removeEventListener("beforeunload", warn);
  }, [stored]);
  const warningId = useId();
  return (
    <div className="created">
      <p className="alert warn-alert" id={warningId}>
        <strong>{created.warning}</strong> Copy it now and keep it in your secrets manager.
      </p>
      <label htmlFor={keyId}>
        API key for <strong>{created.name}</strong>
      </label>
      <div className="secret-row">
        <input
          id={keyId}
          className="secret mono"
          readOnly
          data-autofocus
          value={created.key}
          aria-describedby={warningId}
          onFocus={(e) => e.currentTarget.select()}
          data-testid="full-key"
        />
        <CopyButton text={created.key} label="Copy key" />
      </div>
      {created.nameHint && (
        <p className="notice info">
          <strong>Naming tip:</strong> {created.nameHint}
        </p>
      )}
      <p className="help">
        Send it as <code>Authorization: Bearer &lt;key&gt;</code> or <code>X-API-Key</code>. In the
        key list it appears as <code className="mono">{created.prefix}</code>.
      </p>
      <label className="check confirm">
        <input type="checkbox" checked={stored} onChange={(e) => setStored(e.target.checked)} />I
        have stored this key somewhere safe.
      </label>
      <div className="dialog-actions">
        <button type="button" className="primary" disabled={!stored} onClick={onDone}>
          Done
        </button>
      </div>
    </div>
  );
}
