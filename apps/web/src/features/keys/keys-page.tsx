import { useState } from "react";
import { RelativeTime } from "../../components/relative-time.js";
import { StatusBadge, TierBadge } from "../../components/status-badge.js";
import { ErrorPanel, LoadingRows, PageHeading } from "../../components/page.js";
import { expiresSoon, keyStatus } from "../../lib/key-status.js";
import { Link, paths } from "../../lib/router.js";
import { trpc, type Allowance, type KeyListItem } from "../../lib/trpc.js";
import { useNow } from "../../lib/use-now.js";
import { CreateKeyDialog } from "./create-key-dialog.js";
import {
  applyListView,
  listViewSearch,
  readListView,
  SORTS,
  type ListView,
} from "./key-list-view.js";
import { RevokeKeyDialog } from "./revoke-key-dialog.js";

const numberFormat = new Intl.NumberFormat("en");

export function KeysPage() {
  const now = useNow();
  const list = trpc.keys.list.useQuery();
  const allowance = trpc.keys.allowance.useQuery();
  const [creating, setCreating] = useState(false);
  const [revoking, setRevoking] = useState<KeyListItem | null>(null);
  const keys = list.data?.data;
  const [view, setViewState] = useState<ListView>(() => readListView(window.location.search));
  const setView = (next: ListView) => {
    setViewState(next);
    // The view lives in the URL: a filtered list can be shared and survives a reload.
    window.history.replaceState(null, "", `${window.location.pathname}${listViewSearch(next)}`);
  };
  const atLimit =
    allowance.data !== undefined && allowance.data.active_keys >= allowance.data.max_active_keys;

  const createButton = (
    <button
      type="button"
      className="primary"
      onClick={() => setCreating(true)}
      disabled={!allowance.data || atLimit}
      aria-describedby={atLimit ? "allowance-full" : undefined}
      title={atLimit ? "Your tier's active key limit is reached: revoke a key first." : undefined}
    >
      <span aria-hidden="true">+</span> Create key
    </button>
  );

  return (
    <>
      <PageHeading
        title="API keys"
        description="Keys authenticate your SIEMs, scripts and partners to the threat-intel API."
        actions={
          <>
            {allowance.data && <AllowanceMeter allowance={allowance.data} />}
            {createButton}
          </>
        }
      />
      {list.isPending ? (
        <LoadingRows label="Loading keys" />
      ) : list.isError ? (
        <ErrorPanel error={list.error} onRetry={() => void list.refetch()} />
      ) : keys && keys.length === 0 ? (
        <EmptyState allowance={allowance.data} onCreate={() => setCreating(true)} />
      ) : (
        <>
          <ListControls view={view} onChange={setView} />
          <KeysTable keys={applyListView(keys ?? [], view, now)} now={now} onRevoke={setRevoking} />
        </>
      )}
      {creating && allowance.data && (
        <CreateKeyDialog allowance={allowance.data} onClose={() => setCreating(false)} />
      )}
      {revoking && <RevokeKeyDialog keyToRevoke={revoking} onClose={() => setRevoking(null)} />}
    </>
  );
}

export function AllowanceMeter({ allowance }: { allowance: Allowance }) {
  const { active_keys: used, max_active_keys: max, tier } = allowance;
  const full = used >= max;
  return (
    <div className={`allowance${full ? " full" : ""}`} data-testid="allowance">
      <span className="allowance-text">
        <strong>
          {used} of {max}
        </strong>{" "}
        active keys <TierBadge tier={tier} />
      </span>
      <meter
        min={0}
        max={max}
        value={Math.min(used, max)}
        high={Math.max(max - 1, 0.5)}
        optimum={0}
        aria-label={`${used} of ${max} active keys used on the ${tier} tier`}
      />
      {full && (
        <span className="small" id="allowance-full">
          Limit reached: your {tier} tier allows {max} active keys. Revoke one you no longer use to
          create another.
        </span>
      )}
    </div>
  );
}

function EmptyState({
  allowance,
  onCreate,
}: {
  allowance: Allowance | undefined;
  onCreate: () => void;
}) {
  return (
    <section className="card empty" aria-labelledby="empty-title">
      <svg className="empty-icon" viewBox="0 0 24 24" aria-hidden="true" focusable="false">
        <circle cx="8" cy="15" r="4" />
        <path d="M10.8 12.2 19 4m-3 3 2 2m-4 0 2 2" />
      </svg>
      <h2 id="empty-title">Create your first API key</h2>
      <p>
        An API key lets a SIEM (Splunk, Sentinel, Elastic), a script or a CI job pull indicators and
        articles from the threat-intel API. Give each integration its own key, so you can see what
        uses the API and revoke one without breaking the others.
      </p>
      {allowance && (
        <p className="muted small">
          Your {allowance.tier} tier allows {allowance.max_active_keys} active keys with{" "}
          {numberFormat.format(allowance.rate_limit_per_minute)} requests per minute and{" "}
          {numberFormat.format(allowance.rate_limit_per_day)} per day each.
        </p>
      )}
      <button type="button" className="primary" onClick={onCreate} disabled={!allowance}>
        Create your first key
      </button>
    </section>
  );
}

function ListControls({ view, onChange }: { view: ListView; onChange: (view: ListView) => void }) {
  return (
    <div className="list-controls" role="search">
      <label>
        Filter
        <input
          type="search"
          value={view.q}
          placeholder="Name or prefix"
          onChange={(event) => onChange({ ...view, q: event.target.value })}
        />
      </label>
      <label>
        Status
        <select
          value={view.status}
          onChange={(event) =>
            onChange({ ...view, status: event.target.value as ListView["status"] })
          }
        >
          <option value="all">All</option>
          <option value="active">Active</option>
          <option value="expired">Expired</option>
          <option value="revoked">Revoked</option>
        </select>
      </label>
      <label>
        Sort
        <select
          value={view.sort}
          onChange={(event) => onChange({ ...view, sort: event.target.value as ListView["sort"] })}
        >
          {SORTS.map((sort) => (
            <option key={sort.value} value={sort.value}>
              {sort.label}
            </option>
          ))}
        </select>
      </label>
    </div>
  );
}

function Scopes({ scopes }: { scopes: string[] }) {
  const shown = scopes.slice(0, 2);
  const rest = scopes.length - shown.length;
  return (
    <ul className="scopes" aria-label="Scopes">
      {shown.map((scope) => (
        <li key={scope}>
          <code>{scope}</code>
        </li>
      ))}
      {rest > 0 && (
        <li className="more" title={scopes.slice(2).join(", ")}>
          +{rest} more
        </li>
      )}
    </ul>
  );
}

function KeysTable({
  keys,
  now,
  onRevoke,
}: {
  keys: KeyListItem[];
  now: Date;
  onRevoke: (key: KeyListItem) => void;
}) {
  return (
    <div className="table-wrap card" role="region" aria-label="API keys" tabIndex={0}>
      <table className="keys-table">
        <thead>
          <tr>
            <th scope="col">Name</th>
            <th scope="col">Prefix</th>
            <th scope="col">Status</th>
            <th scope="col">Tier</th>
            <th scope="col">Scopes</th>
            <th scope="col" className="num">
              Requests
            </th>
            <th scope="col">Last used</th>
            <th scope="col">Created</th>
            <th scope="col">Expires</th>
            <th scope="col">
              <span className="sr-only">Actions</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {keys.length === 0 && (
            <tr>
              <td colSpan={10} className="muted">
                No key matches this filter.
              </td>
            </tr>
          )}
          {keys.map((key) => {
            const status = keyStatus(key, now);
            const soon = expiresSoon(key, now);
            return (
              <tr key={key.id} data-key-id={key.id} className={`row-${status}`}>
                <th scope="row" className="name">
                  <Link to={paths.key(key.id)}>{key.name}</Link>
                </th>
                <td>
                  <code className="mono prefix">{key.key_prefix}</code>
                </td>
                <td>
                  <StatusBadge status={status} />
                </td>
                <td>
                  <TierBadge tier={key.tier} />
                </td>
                <td>
                  <Scopes scopes={key.scopes} />
                </td>
                <td className="num">{numberFormat.format(key.total_requests)}</td>
                <td>
                  {key.last_used_at ? (
                    <RelativeTime iso={key.last_used_at} now={now} />
                  ) : (
                    <span className="muted">Never</span>
                  )}
                </td>
                <td>
                  <RelativeTime iso={key.created_at} now={now} />
                </td>
                <td>
                  {status === "revoked" ? (
                    <span className="muted">—</span>
                  ) : key.expires_at ? (
                    <span className={soon ? "expiring" : status === "active" ? undefined : "muted"}>
                      {soon && (
                        <span aria-hidden="true" className="warn-icon">
                          ⚠{" "}
                        </span>
                      )}
                      <RelativeTime iso={key.expires_at} now={now} />
                      {soon && <span className="sr-only"> (expires soon)</span>}
                    </span>
                  ) : (
                    <span className="muted">Never</span>
                  )}
                </td>
                <td className="actions-cell">
                  {status !== "revoked" && (
                    <button type="button" className="small-button" onClick={() => onRevoke(key)}>
                      Revoke<span className="sr-only"> {key.name}</span>
                    </button>
                  )}
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}
