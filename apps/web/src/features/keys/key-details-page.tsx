import { lazy, Suspense, useEffect, useState, type ReactNode } from "react";
import { ErrorBoundary } from "../../components/error-boundary.js";
import { ErrorPanel, LoadingRows, PageHeading } from "../../components/page.js";
import { RelativeTime } from "../../components/relative-time.js";
import { StatusBadge, TierBadge } from "../../components/status-badge.js";
import { readError } from "../../lib/errors.js";
import { expiresSoon, keyStatus } from "../../lib/key-status.js";
import { Link, paths } from "../../lib/router.js";
import { formatExact } from "../../lib/time.js";
import { trpc, type KeyDetail } from "../../lib/trpc.js";
import { useNow } from "../../lib/use-now.js";
import { EditKeyAccessDialog } from "./edit-key-access-dialog.js";
import { EditKeyName } from "./edit-key-name.js";
import { KeyAddresses } from "./key-addresses.js";
import { RevokeKeyDialog } from "./revoke-key-dialog.js";
import { RotateKeyDialog } from "./rotate-key-dialog.js";
import { DEFAULT_WINDOW } from "./usage-window.js";

const numberFormat = new Intl.NumberFormat("en");

// The usage view (and uPlot with it) is its own chunk, fetched when a key's page opens.
const loadUsagePanel = () => import("./key-usage-panel.js");
const KeyUsagePanel = lazy(loadUsagePanel);

function BackLink() {
  return (
    <Link to={paths.keys()} className="back">
      <span aria-hidden="true">←</span> All keys
    </Link>
  );
}

export function KeyDetailsPage({ id }: { id: string }) {
  const key = trpc.keys.byId.useQuery({ id });
  const utils = trpc.useUtils();
  // The usage chunk and its data load alongside the key instead of after it.
  useEffect(() => {
    void loadUsagePanel();
    void utils.keys.usage.prefetch({ id, days: DEFAULT_WINDOW });
  }, [id, utils]);
  if (key.isPending) {
    return (
      <>
        <BackLink />
        <LoadingRows label="Loading key" />
      </>
    );
  }
  if (key.isError) {
    const notFound = readError(key.error).code === "key_not_found";
    return (
      <>
        <PageHeading title={notFound ? "Key not found" : "Could not load this key"}>
          <BackLink />
        </PageHeading>
        {notFound ? (
          <p className="card">
            There is no key with this address in your account. It may have been mistyped, or it
            belongs to another account.
          </p>
        ) : (
          <ErrorPanel error={key.error} onRetry={() => void key.refetch()} />
        )}
      </>
    );
  }
  return <KeyDetails detail={key.data.data} />;
}

function Row({ label, children }: { label: string; children: ReactNode }) {
  return (
    <div className="dl-row">
      <dt>{label}</dt>
      <dd>{children}</dd>
    </div>
  );
}

function When({ iso, now, empty }: { iso: string | null; now: Date; empty: string }) {
  if (!iso) return <span className="muted">{empty}</span>;
  return (
    <>
      {formatExact(iso)}{" "}
      <span className="muted">
        (<RelativeTime iso={iso} now={now} />)
      </span>
    </>
  );
}

function KeyDetails({ detail }: { detail: KeyDetail }) {
  const now = useNow();
  const [revoking, setRevoking] = useState(false);
  const [rotating, setRotating] = useState(false);
  const [editingAccess, setEditingAccess] = useState(false);
  const status = keyStatus(detail, now);
  const canRotate = status === "active" && detail.rotated_to === null;
  const soon = expiresSoon(detail, now);
  return (
    <>
      <PageHeading
        title={detail.name}
        description={
          <>
            <code className="mono prefix">{detail.key_prefix}</code> ·{" "}
            <StatusBadge status={status} /> <TierBadge tier={detail.tier} />
          </>
        }
        actions={
          <>
            {status !== "revoked" && <EditKeyName id={detail.id} name={detail.name} />}
            {canRotate && (
              <button type="button" onClick={() => setRotating(true)}>
                Rotate key
              </button>
            )}
            {status !== "revoked" && (
              <button type="button" className="danger" onClick={() => setRevoking(true)}>
                Revoke key
              </button>
            )}
          </>
        }
      >
        <BackLink />
      </PageHeading>

      {status === "revoked" && (
        <section className="alert revoked-alert" aria-labelledby="revocation-title">
          <h2 id="revocation-title">Revoked</h2>
          <dl className="dl">
            <Row label="Revoked">
              <When iso={detail.revoked_at} now={now} empty="—" />
            </Row>
            <Row label="Reason">
              {detail.revoked_reason ? (
                <span data-testid="revoked-reason">{detail.revoked_reason}</span>
              ) : (
                <span className="muted">No reason given</span>
              )}
            </Row>
          </dl>
        </section>
      )}

      {detail.rotated_to && (
        <p className="alert warn-alert" data-testid="rotated-to">
          Rotated: replaced by <Link to={paths.key(detail.rotated_to)}>its successor</Link>.{" "}
          {status === "active" && "This key keeps working until its expiry below."}
        </p>
      )}
      {detail.rotated_from && (
        <p className="notice info">
          Replaces <Link to={paths.key(detail.rotated_from)}>the key it was rotated from</Link>.
        </p>
      )}

      <div className="details-grid">
        <section className="card" aria-labelledby="overview-title">
          <h2 id="overview-title">Overview</h2>
          <dl className="dl">
            <Row label="Prefix">
              <code className="mono">{detail.key_prefix}</code>
            </Row>
            <Row label="Status">
              <StatusBadge status={status} />
            </Row>
            <Row label="Tier">
              <TierBadge tier={detail.tier} />
            </Row>
            <Row label="Created">
              <When iso={detail.created_at} now={now} empty="—" />
            </Row>
            <Row label="Expires">
              {status === "revoked" ? (
                <span className="muted">— (revoked)</span>
              ) : (
                <span className={soon ? "expiring" : undefined}>
                  <When iso={detail.expires_at} now={now} empty="Never" />
                </span>
              )}
            </Row>
            <Row label="Last used">
              <When iso={detail.last_used_at} now={now} empty="Never" />
            </Row>
            <Row label="Total requests">{numberFormat.format(detail.total_requests)}</Row>
          </dl>
        </section>

        <section className="card" aria-labelledby="access-title">
          <div className="block-head">
            <h2 id="access-title">Access</h2>
            {status !== "revoked" && (
              <button type="button" className="small-button" onClick={() => setEditingAccess(true)}>
                Edit access
              </button>
            )}
          </div>
          <dl className="dl">
            <Row label="Scopes">
              <ul className="scopes wrap">
                {detail.scopes.map((scope) => (
                  <li key={scope}>
                    <code>{scope}</code>
                  </li>
                ))}
              </ul>
            </Row>
            <Row label="Rate limit">
              {numberFormat.format(detail.rate_limit_per_minute)} / minute ·{" "}
              {numberFormat.format(detail.rate_limit_per_day)} / day
            </Row>
            <Row label="Allowed IPs">
              {detail.allowed_ips && detail.allowed_ips.length > 0 ? (
                <ul className="ip-list">
                  {detail.allowed_ips.map((ip) => (
                    <li key={ip}>
                      <code className="mono">{ip}</code>
                    </li>
                  ))}
                </ul>
              ) : (
                <span className="muted">Any address</span>
              )}
            </Row>
          </dl>
        </section>
      </div>

      <KeyAddresses id={detail.id} now={now} />

      <ErrorBoundary fallback={() => <UsageUnavailable />}>
        <Suspense fallback={<UsageLoading />}>
          <KeyUsagePanel detail={detail} />
        </Suspense>
      </ErrorBoundary>

      {revoking && <RevokeKeyDialog keyToRevoke={detail} onClose={() => setRevoking(false)} />}
      {rotating && <RotateKeyDialog keyToRotate={detail} onClose={() => setRotating(false)} />}
      {editingAccess && (
        <EditKeyAccessDialog keyToEdit={detail} onClose={() => setEditingAccess(false)} />
      )}
    </>
  );
}

function UsageLoading() {
  return (
    <section className="usage" aria-labelledby="usage-title">
      <h2 id="usage-title">Usage</h2>
      <LoadingRows label="Loading usage" />
    </section>
  );
}

function UsageUnavailable() {
  return (
    <section className="usage" aria-labelledby="usage-title">
      <h2 id="usage-title">Usage</h2>
      <div className="alert error-alert" role="alert">
        <p className="alert-title">The usage view could not be loaded.</p>
        <p>The dashboard may have been updated since this page opened.</p>
        <button type="button" onClick={() => window.location.reload()}>
          Reload the page
        </button>
      </div>
    </section>
  );
}
