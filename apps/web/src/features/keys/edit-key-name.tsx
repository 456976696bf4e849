import { useId, useState, type FormEvent } from "react";
import { toast } from "../../components/toaster.js";
import { readError } from "../../lib/errors.js";
import { trpc } from "../../lib/trpc.js";
import { NAME_MAX } from "./create-key-form.js";

/** The key's name, editable in place (keys.update); the change applies to the key at once. */
export function EditKeyName({ id, name }: { id: string; name: string }) {
  const utils = trpc.useUtils();
  const [editing, setEditing] = useState(false);
  const [value, setValue] = useState(name);
  const [error, setError] = useState<string>();
  const inputId = useId();
  const errorId = useId();
  const update = trpc.keys.update.useMutation({
    onSuccess: async (result) => {
      utils.keys.byId.setData({ id }, result);
      setEditing(false);
      toast(`Renamed to “${result.data.name}”.`);
      await Promise.all([utils.keys.list.invalidate(), utils.audit.list.invalidate()]);
    },
    onError: (failure) => {
      const readable = readError(failure);
      setError(readable.fields.name ?? readable.message);
    },
  });

  if (!editing) {
    return (
      <button
        type="button"
        className="small-button"
        onClick={() => {
          setValue(name);
          setError(undefined);
          setEditing(true);
        }}
      >
        Rename<span className="sr-only"> {name}</span>
      </button>
    );
  }

  const submit = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const trimmed = value.trim();
    if (!trimmed) return setError("Give the key a name.");
    if (trimmed === name) return setEditing(false);
    update.mutate({ id, name: trimmed });
  };

  return (
    <form className="inline-edit" onSubmit={submit} noValidate>
      <label htmlFor={inputId} className="sr-only">
        Key name
      </label>
      <input
        id={inputId}
        value={value}
        maxLength={NAME_MAX}
        autoFocus
        aria-invalid={error ? true : undefined}
        aria-describedby={error ? errorId : undefined}
        onChange={(event) => {
          setValue(event.target.value);
          setError(undefined);
        }}
        onKeyDown={(event) => {
          if (event.key === "Escape") setEditing(false);
        }}
      />
      <button type="submit" className="primary small-button" disabled={update.isPending}>
        Save
      </button>
      <button type="button" className="small-button" onClick={() => setEditing(false)}>
        Cancel
      </button>
      {error && (
        <p id={errorId} className="field-error">
          {error}
        </p>
      )}
    </form>
  );
}
