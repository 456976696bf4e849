import { useState, type FormEvent } from "react";
import { CopyButton } from "../../components/copy-button.js";
import { ErrorPanel, LoadingRows, PageHeading } from "../../components/page.js";
import { RelativeTime } from "../../components/relative-time.js";
import { toast } from "../../components/toaster.js";
import { readError } from "../../lib/errors.js";
import { Link, paths } from "../../lib/router.js";
import { trpc } from "../../lib/trpc.js";
import { useNow } from "../../lib/use-now.js";

/**
 * Canary keys: decoys planted where a real key would be stolen from. They look exactly like
 * keys, grant nothing, and every use raises an alert (bell, webhooks) listed on their page.
 */
export function CanariesPage() {
  const now = useNow();
  const list = trpc.canaries.list.useQuery(undefined, { refetchInterval: 10_000 });
  return (
    <>
      <PageHeading
        title="Canary keys"
        description="Decoy keys to plant in places an attacker would look (config files, wikis, CI variables). They work nowhere; any use alerts you at once."
      />
      <CreateCanary />
      {list.isPending ? (
        <LoadingRows label="Loading canaries" />
      ) : list.isError ? (
        <ErrorPanel error={list.error} onRetry={() => void list.refetch()} />
      ) : list.data.data.length === 0 ? (
        <p className="card muted">No canary keys yet.</p>
      ) : (
        <div className="table-wrap card" role="region" aria-label="Canary keys" tabIndex={0}>
          <table className="keys-table">
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Key</th>
                <th scope="col">Planted at</th>
                <th scope="col" className="num">
                  Uses
                </th>
                <th scope="col">Last used</th>
                <th scope="col">Status</th>
              </tr>
            </thead>
            <tbody>
              {list.data.data.map((canary) => (
                <tr
                  key={canary.id}
                  data-canary-id={canary.id}
                  className={canary.trigger_count > 0 ? "row-triggered" : undefined}
                >
                  <th scope="row">
                    <Link to={paths.canary(canary.id)}>{canary.name}</Link>
                  </th>
                  <td>
                    <code className="mono prefix">{canary.key_prefix}</code>
                  </td>
                  <td className="small">{canary.note || <span className="muted">—</span>}</td>
                  <td className="num" data-testid="trigger-count">
                    {canary.trigger_count}
                  </td>
                  <td>
                    {canary.last_triggered_at ? (
                      <RelativeTime iso={canary.last_triggered_at} now={now} />
                    ) : (
                      <span className="muted">Never</span>
                    )}
                  </td>
                  <td>{canary.retired_at ? <span className="muted">Retired</span> : "Armed"}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </>
  );
}

function CreateCanary() {
  const utils = trpc.useUtils();
  const [name, setName] = useState("");
  const [note, setNote] = useState("");
  const [secret, setSecret] = useState<string | null>(null);
  const create = trpc.canaries.create.useMutation({
    onSuccess: (result) => {
      setSecret(result.data.key);
      setName("");
      setNote("");
      void utils.canaries.list.invalidate();
    },
  });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    create.mutate({ name, note });
  };
  return (
    <section className="card form-card" aria-labelledby="new-canary">
      <h2 id="new-canary">New canary key</h2>
      {secret ? (
        <div className="secret-box" role="status">
          <p>Plant this decoy now. It is shown only this once.</p>
          <code className="mono secret" data-testid="canary-secret">
            {secret}
          </code>
          <div className="row">
            <CopyButton text={secret} />
            <button type="button" onClick={() => setSecret(null)}>
              Done
            </button>
          </div>
        </div>
      ) : (
        <form onSubmit={submit} className="stack">
          <label>
            Name
            <input
              value={name}
              onChange={(event) => setName(event.target.value)}
              maxLength={100}
              required
              placeholder="prod-s3-backup-decoy"
            />
          </label>
          <label>
            Where it will be planted <span className="muted small">(shown in every alert)</span>
            <input
              value={note}
              onChange={(event) => setNote(event.target.value)}
              maxLength={500}
              placeholder="~/.aws/credentials on build01"
            />
          </label>
          {create.isError && (
            <p className="field-error" role="alert">
              {readError(create.error).message}
            </p>
          )}
          <div>
            <button type="submit" className="primary" disabled={create.isPending}>
              {create.isPending ? "Creating…" : "Create canary key"}
            </button>
          </div>
        </form>
      )}
    </section>
  );
}

/** One canary and every recorded use of it, newest first. */
export function CanaryPage({ id }: { id: string }) {
  const now = useNow();
  const utils = trpc.useUtils();
  const triggers = trpc.canaries.triggers.useQuery({ id }, { refetchInterval: 10_000 });
  const retire = trpc.canaries.retire.useMutation({
    onSuccess: () => {
      toast("Canary retired");
      void utils.canaries.invalidate();
    },
  });
  if (triggers.isPending) return <LoadingRows label="Loading canary" />;
  if (triggers.isError)
    return <ErrorPanel error={triggers.error} onRetry={() => void triggers.refetch()} />;
  const { canary, total } = triggers.data.meta;
  return (
    <>
      <PageHeading
        title={canary.name}
        description={canary.note ? `Planted at: ${canary.note}` : undefined}
        actions={
          canary.retired_at ? (
            <span className="muted">Retired</span>
          ) : (
            <button type="button" onClick={() => retire.mutate({ id })} disabled={retire.isPending}>
              Retire canary
            </button>
          )
        }
      >
        <Link to={paths.canaries()} className="small">
          ← Canary keys
        </Link>
      </PageHeading>
      <p>
        <code className="mono prefix">{canary.key_prefix}</code> · used{" "}
        <strong data-testid="canary-total">{total}</strong> time{total === 1 ? "" : "s"}
      </p>
      {triggers.data.data.length === 0 ? (
        <p className="card muted">Not used yet.</p>
      ) : (
        <div
          className="table-wrap card"
          role="region"
          aria-label="Uses of this canary"
          tabIndex={0}
        >
          <table className="keys-table" data-testid="canary-triggers">
            <thead>
              <tr>
                <th scope="col">When</th>
                <th scope="col">From</th>
                <th scope="col">Request</th>
                <th scope="col">Presented as</th>
                <th scope="col">User agent</th>
              </tr>
            </thead>
            <tbody>
              {triggers.data.data.map((t, index) => (
                <tr key={`${t.at}-${index}`}>
                  <td>
                    <RelativeTime iso={t.at} now={now} />
                  </td>
                  <td>
                    <code className="mono">{t.address}</code>
                  </td>
                  <td>
                    <code className="mono">
                      {t.method} {t.path}
                    </code>
                  </td>
                  <td>{t.credential}</td>
                  <td className="small">{t.user_agent ?? <span className="muted">—</span>}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </>
  );
}
