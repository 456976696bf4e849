import { useState, type FormEvent } from "react";
import { CopyButton } from "../../components/copy-button.js";
import { ErrorPanel, LoadingRows, PageHeading } from "../../components/page.js";
import { RelativeTime } from "../../components/relative-time.js";
import { toast } from "../../components/toaster.js";
import { readError } from "../../lib/errors.js";
import { trpc, type RouterOutputsOf } from "../../lib/trpc.js";
import { useNow } from "../../lib/use-now.js";
import { EVENT_LABELS } from "./describe-alert.js";

type Endpoint = RouterOutputsOf["webhooks"]["list"][number];
const EVENT_TYPES = Object.keys(EVENT_LABELS);

/** Webhook endpoints (signed per Standard Webhooks), their delivery logs, and bell preferences. */
export function WebhooksPage() {
  const list = trpc.webhooks.list.useQuery();
  const [secret, setSecret] = useState<{ url: string; secret: string } | null>(null);
  return (
    <>
      <PageHeading
        title="Alerts"
        description="Send signed events to your SOAR or SIEM (Standard Webhooks: verify the webhook-signature header with the endpoint's secret), and choose what appears in the bell."
      />
      {secret && (
        <div className="card secret-box" role="status">
          <p>
            Signing secret for <code className="mono">{secret.url}</code>. It is shown only this
            once.
          </p>
          <code className="mono secret" data-testid="webhook-secret">
            {secret.secret}
          </code>
          <div className="row">
            <CopyButton text={secret.secret} />
            <button type="button" onClick={() => setSecret(null)}>
              Done
            </button>
          </div>
        </div>
      )}
      <CreateEndpoint onCreated={setSecret} />
      {list.isPending ? (
        <LoadingRows label="Loading endpoints" />
      ) : list.isError ? (
        <ErrorPanel error={list.error} onRetry={() => void list.refetch()} />
      ) : list.data.length === 0 ? (
        <p className="card muted">No webhook endpoints yet.</p>
      ) : (
        list.data.map((endpoint) => (
          <EndpointCard key={endpoint.id} endpoint={endpoint} onSecret={setSecret} />
        ))
      )}
      <Preferences />
    </>
  );
}

function CreateEndpoint({
  onCreated,
}: {
  onCreated: (value: { url: string; secret: string }) => void;
}) {
  const utils = trpc.useUtils();
  const [url, setUrl] = useState("");
  const [description, setDescription] = useState("");
  const [events, setEvents] = useState<string[]>([
    "canary.triggered",
    "key.revoked_key_used",
    "key.expiring",
  ]);
  const create = trpc.webhooks.create.useMutation({
    onSuccess: (result) => {
      onCreated({ url: result.endpoint.url, secret: result.secret });
      setUrl("");
      setDescription("");
      void utils.webhooks.list.invalidate();
    },
  });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    create.mutate({ url, description, events: events as never });
  };
  return (
    <section className="card form-card" aria-labelledby="new-endpoint">
      <h2 id="new-endpoint">Add an endpoint</h2>
      <form onSubmit={submit} className="stack">
        <label>
          URL
          <input
            type="url"
            value={url}
            onChange={(e) => setUrl(e.target.value)}
            required
            placeholder="https://soar.example.com/hooks/keys"
          />
        </label>
        <label>
          Description
          <input
            value={description}
            onChange={(e) => setDescription(e.target.value)}
            maxLength={200}
          />
        </label>
        <fieldset>
          <legend>Events</legend>
          <div className="checks">
            {EVENT_TYPES.map((type) => (
              <label key={type} className="check">
                <input
                  type="checkbox"
                  checked={events.includes(type)}
                  onChange={(e) =>
                    setEvents((list) =>
                      e.target.checked ? [...list, type] : list.filter((t) => t !== type),
                    )
                  }
                />
                {EVENT_LABELS[type]} <code className="mono small">{type}</code>
              </label>
            ))}
          </div>
        </fieldset>
        {create.isError && (
          <p className="field-error" role="alert">
            {readError(create.error).message}
          </p>
        )}
        <div>
          <button
            type="submit"
            className="primary"
            disabled={create.isPending || events.length === 0}
          >
            {create.isPending ? "Adding…" : "Add endpoint"}
          </button>
        </div>
      </form>
    </section>
  );
}

function EndpointCard({
  endpoint,
  onSecret,
}: {
  endpoint: Endpoint;
  onSecret: (value: { url: string; secret: string }) => void;
}) {
  const now = useNow();
  const utils = trpc.useUtils();
  const deliveries = trpc.webhooks.deliveries.useQuery(
    { id: endpoint.id },
    { refetchInterval: 5_000 },
  );
  const refresh = () => {
    void utils.webhooks.list.invalidate();
    void utils.webhooks.deliveries.invalidate({ id: endpoint.id });
  };
  const onError = (error: unknown) => toast(readError(error).message);
  const sendTest = trpc.webhooks.sendTest.useMutation({
    onSuccess: () => {
      toast("Test event queued");
      refresh();
    },
    onError,
  });
  const rotate = trpc.webhooks.rotateSecret.useMutation({
    onSuccess: (r) => {
      onSecret({ url: endpoint.url, secret: r.secret });
      refresh();
    },
    onError,
  });
  const update = trpc.webhooks.update.useMutation({ onSuccess: refresh, onError });
  const remove = trpc.webhooks.remove.useMutation({ onSuccess: refresh, onError });
  const redeliver = trpc.webhooks.redeliver.useMutation({ onSuccess: refresh, onError });
  return (
    <section
      className="card endpoint"
      aria-label={`Endpoint ${endpoint.url}`}
      data-endpoint-id={endpoint.id}
    >
      <div className="endpoint-head">
        <div>
          <code className="mono">{endpoint.url}</code>
          {endpoint.description && <p className="muted small">{endpoint.description}</p>}
          <p className="small">{endpoint.events.join(", ")}</p>
          {!endpoint.enabled && (
            <p className="field-error">
              Disabled{endpoint.disabled_reason ? `: ${endpoint.disabled_reason}` : ""}
            </p>
          )}
          {endpoint.previous_secret_expires_at && (
            <p className="muted small">
              The previous secret also signs until{" "}
              {new Date(endpoint.previous_secret_expires_at).toLocaleString()}.
            </p>
          )}
        </div>
        <div className="row">
          <button
            type="button"
            onClick={() => sendTest.mutate({ id: endpoint.id })}
            disabled={!endpoint.enabled}
          >
            Send test event
          </button>
          <button type="button" onClick={() => rotate.mutate({ id: endpoint.id })}>
            Rotate secret
          </button>
          <button
            type="button"
            onClick={() => update.mutate({ id: endpoint.id, enabled: !endpoint.enabled })}
          >
            {endpoint.enabled ? "Disable" : "Enable"}
          </button>
          <button
            type="button"
            onClick={() => {
              if (window.confirm(`Remove ${endpoint.url}?`)) remove.mutate({ id: endpoint.id });
            }}
          >
            Remove
          </button>
        </div>
      </div>
      <h3 className="small">Deliveries</h3>
      {deliveries.isPending ? (
        <LoadingRows label="Loading deliveries" />
      ) : deliveries.isError ? (
        <ErrorPanel error={deliveries.error} />
      ) : deliveries.data.length === 0 ? (
        <p className="muted small">No deliveries yet.</p>
      ) : (
        <div className="table-wrap">
          <table className="keys-table" data-testid="deliveries">
            <thead>
              <tr>
                <th scope="col">Event</th>
                <th scope="col">Status</th>
                <th scope="col" className="num">
                  Attempts
                </th>
                <th scope="col">Response</th>
                <th scope="col" className="num">
                  Duration
                </th>
                <th scope="col">Next retry</th>
                <th scope="col">
                  <span className="sr-only">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {deliveries.data.map((d) => (
                <tr key={d.id} data-event={d.event} data-status={d.status}>
                  <td>
                    <code className="mono small">{d.event}</code>{" "}
                    <RelativeTime iso={d.created_at} now={now} className="muted small" />
                  </td>
                  <td>{d.status}</td>
                  <td className="num">{d.attempts}</td>
                  <td>
                    {d.response_status ?? <span className="muted small">{d.error ?? "—"}</span>}
                  </td>
                  <td className="num">{d.duration_ms === null ? "—" : `${d.duration_ms} ms`}</td>
                  <td>
                    {d.next_retry_at ? <RelativeTime iso={d.next_retry_at} now={now} /> : "—"}
                  </td>
                  <td>
                    <button
                      type="button"
                      className="small-button"
                      disabled={!endpoint.enabled}
                      onClick={() => redeliver.mutate({ id: endpoint.id, delivery_id: d.id })}
                    >
                      Redeliver
                    </button>
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

function Preferences() {
  const utils = trpc.useUtils();
  const preferences = trpc.notifications.preferences.useQuery();
  const set = trpc.notifications.setPreference.useMutation({
    onSuccess: (data) => utils.notifications.preferences.setData(undefined, data),
  });
  if (!preferences.data) return null;
  return (
    <section className="card form-card" aria-labelledby="bell-prefs">
      <h2 id="bell-prefs">In the bell</h2>
      <div className="checks">
        {[...EVENT_TYPES, "webhook.endpoint_disabled"].map((type) => (
          <label key={type} className="check">
            <input
              type="checkbox"
              checked={preferences.data[type] !== false}
              onChange={(e) => set.mutate({ type: type as never, in_app: e.target.checked })}
            />
            {EVENT_LABELS[type] ?? "Webhook endpoint disabled"}
          </label>
        ))}
      </div>
    </section>
  );
}
