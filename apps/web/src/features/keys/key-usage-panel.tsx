// The key's usage analytics. Loaded lazily by the key details page (it brings uPlot along),
// so the keys list and everything else start without it.
import { keepPreviousData } from "@tanstack/react-query";
import { useId, useMemo, useState, type ReactNode } from "react";
import { ErrorPanel, LoadingRows } from "../../components/page.js";
import { RelativeTime } from "../../components/relative-time.js";
import { readError } from "../../lib/errors.js";
import { formatExact } from "../../lib/time.js";
import { trpc, type KeyDetail, type KeyUsage } from "../../lib/trpc.js";
import { useNow } from "../../lib/use-now.js";
import { BarChart, Legend, type BarSeries } from "./usage-chart.js";
import {
  dailySeries,
  dailySummary,
  dayRows,
  DEFAULT_WINDOW,
  endpointRows,
  formatCount,
  formatDay,
  formatDuration,
  formatHour,
  formatHourRange,
  formatLatency,
  formatLongDay,
  formatPercent,
  hourlySeries,
  plural,
  rateLimitedTotal,
  rateLimitRows,
  rateLimitSummary,
  revokedTraffic,
  statusRows,
  todaySentence,
  todayUsage,
  WINDOW_CHOICES,
  windowLabel,
  duringWindow,
  type WindowDays,
} from "./usage-model.js";

/** How often an open usage view refreshes (only while the tab is visible). */
const REFRESH_MS = 30_000;

const DAILY_SERIES: BarSeries[] = [
  { label: "Successful", color: "--chart-ok" },
  { label: "Errors", color: "--chart-error" },
];
const HOURLY_SERIES: BarSeries[] = [{ label: "Rate limited", color: "--chart-limited" }];
const DAY_TICKS = [1, 2, 3, 7, 14, 30];
const HOUR_TICKS = [1, 2, 3, 6, 12, 24, 48, 72, 168, 336, 720];

/** Midnight gets the date, other hours the time. */
function formatTick(seconds: number): string {
  return seconds % 86_400 === 0 ? formatDay(seconds) : formatHour(seconds);
}

export default function KeyUsagePanel({ detail }: { detail: KeyDetail }) {
  const [days, setDays] = useState<WindowDays>(DEFAULT_WINDOW);
  const [asTable, setAsTable] = useState(false);
  const usage = trpc.keys.usage.useQuery(
    { id: detail.id, days },
    { placeholderData: keepPreviousData, refetchInterval: REFRESH_MS },
  );
  const data = usage.data?.data;
  const switching = usage.isPlaceholderData;

  return (
    <section
      className="usage"
      aria-labelledby="usage-title"
      data-key-id={detail.id}
      data-window={data?.window_days}
    >
      <div className="usage-head">
        <div>
          <h2 id="usage-title">Usage</h2>
          <p className="muted small">
            Requests made with this key {duringWindow(days)}. Days and hours are UTC; the view
            refreshes every 30 seconds.
          </p>
        </div>
        <div className="usage-controls">
          <WindowPicker value={days} onChange={setDays} />
          {data?.total_requests !== 0 && (
            <button
              type="button"
              className="toggle"
              aria-pressed={asTable}
              onClick={() => setAsTable((on) => !on)}
            >
              <span className="toggle-track" aria-hidden="true" />
              Show as table
            </button>
          )}
        </div>
      </div>

      {usage.isPending ? (
        <LoadingRows label="Loading usage" />
      ) : !data ? (
        <ErrorPanel error={usage.error} onRetry={() => void usage.refetch()} />
      ) : (
        <div className={`usage-body${switching ? " is-switching" : ""}`} aria-busy={switching}>
          {usage.isError && (
            <p className="notice warn small" role="status">
              Could not refresh: {readError(usage.error).message} Showing the last figures.
            </p>
          )}
          <UsageBody
            detail={detail}
            usage={data}
            asTable={asTable}
            onWiden={days < 90 ? () => setDays(90) : undefined}
          />
        </div>
      )}
    </section>
  );
}

function WindowPicker({
  value,
  onChange,
}: {
  value: WindowDays;
  onChange: (days: WindowDays) => void;
}) {
  const name = useId();
  return (
    <fieldset className="window-picker">
      <legend className="sr-only">Time window</legend>
      <div className="segmented compact">
        {WINDOW_CHOICES.map((choice) => (
          <label key={choice} className="segment">
            <input
              type="radio"
              name={name}
              value={choice}
              checked={value === choice}
              onChange={() => onChange(choice)}
            />
            <span>{choice === 1 ? "1 day" : `${choice} days`}</span>
          </label>
        ))}
      </div>
    </fieldset>
  );
}

function UsageBody({
  detail,
  usage,
  asTable,
  onWiden,
}: {
  detail: KeyDetail;
  usage: KeyUsage;
  asTable: boolean;
  onWiden: (() => void) | undefined;
}) {
  const now = useNow();
  const revoked = revokedTraffic(detail, usage);
  return (
    <>
      {revoked && (
        <div className="alert error-alert still-used" role="status">
          <p className="alert-title">This revoked key is still being used.</p>
          <p>
            A client tried it <RelativeTime iso={revoked.lastTriedAt} now={now} />, after the key
            was revoked on {formatExact(revoked.revokedAt)}.{" "}
            {revoked.refused > 0 &&
              `${plural(revoked.refused, "request was", "requests were")} refused with 401 ${duringWindow(usage.window_days)}. `}
            Find the integration that still has it configured and give it a new key.
          </p>
        </div>
      )}
      {usage.total_requests === 0 ? (
        <EmptyUsage detail={detail} days={usage.window_days} onWiden={onWiden} />
      ) : (
        <>
          <Summary usage={usage} detail={detail} />
          {detail.revoked_at === null ? (
            <div className="usage-grid usage-grid-main">
              <DailyBlock usage={usage} detail={detail} asTable={asTable} />
              <TodayBlock usage={usage} limit={detail.rate_limit_per_day} now={now} />
            </div>
          ) : (
            <DailyBlock usage={usage} detail={detail} asTable={asTable} />
          )}
          <div className="usage-grid">
            <StatusBlock usage={usage} asTable={asTable} />
            <EndpointsBlock usage={usage} asTable={asTable} />
          </div>
          <RateLimitBlock usage={usage} asTable={asTable} />
        </>
      )}
    </>
  );
}

function EmptyUsage({
  detail,
  days,
  onWiden,
}: {
  detail: KeyDetail;
  days: number;
  onWiden: (() => void) | undefined;
}) {
  return (
    <div className="card usage-empty" data-testid="usage-empty">
      <svg className="empty-icon" viewBox="0 0 24 24" aria-hidden="true" focusable="false">
        <path d="M4 19V5m0 14h16M8 15v-3m4 3V9m4 6v-5" />
      </svg>
      <p className="usage-empty-title">No requests {duringWindow(days)}</p>
      {detail.revoked_at === null ? (
        <>
          <p className="muted">
            Requests made with this key show up here a few seconds after they happen: daily volume,
            errors, latency, endpoints and rate limiting. Try it with:
          </p>
          <pre className="snippet">
            <code>{`curl -H "Authorization: Bearer ${detail.key_prefix}…" \\
  ${window.location.origin}/api/v1/iocs`}</code>
          </pre>
        </>
      ) : (
        <p className="muted">Nothing has tried this revoked key in this window.</p>
      )}
      {onWiden && (
        <p>
          <button type="button" onClick={onWiden}>
            Show the last 90 days
          </button>
        </p>
      )}
    </div>
  );
}

function Stat({
  label,
  value,
  testId,
  tone,
  children,
}: {
  label: string;
  value: string;
  testId: string;
  tone?: "warn" | "danger" | undefined;
  children?: ReactNode;
}) {
  return (
    <div className={`stat${tone ? ` stat-${tone}` : ""}`}>
      <dt>{label}</dt>
      <dd>
        <span className="stat-value" data-testid={testId}>
          {value}
        </span>
        {children && <span className="stat-sub">{children}</span>}
      </dd>
    </div>
  );
}

function Summary({ usage, detail }: { usage: KeyUsage; detail: KeyDetail }) {
  const total = usage.total_requests;
  const limited = usage.by_status["429"] ?? 0;
  const overMinute = usage.rate_limit_peak_per_minute > detail.rate_limit_per_minute;
  return (
    <dl className="stats" aria-label={`Summary, ${windowLabel(usage.window_days)}`}>
      <Stat label="Requests" value={formatCount(total)} testId="usage-total">
        {duringWindow(usage.window_days)}
      </Stat>
      <Stat
        label="Success rate"
        value={formatPercent(usage.success_rate)}
        testId="usage-success-rate"
        tone={usage.success_rate !== null && usage.success_rate < 0.95 ? "warn" : undefined}
      >
        {formatCount(usage.successful)} successful (2xx/3xx)
      </Stat>
      <Stat
        label="Client errors (4xx)"
        value={formatCount(usage.client_errors)}
        testId="usage-client-errors"
        tone={usage.client_errors > 0 ? "warn" : undefined}
      >
        {formatPercent(total ? usage.client_errors / total : null)} of requests
        {limited > 0 && ` · ${formatCount(limited)} rate limited`}
      </Stat>
      <Stat
        label="Server errors (5xx)"
        value={formatCount(usage.server_errors)}
        testId="usage-server-errors"
        tone={usage.server_errors > 0 ? "danger" : undefined}
      >
        {formatPercent(total ? usage.server_errors / total : null)} of requests
      </Stat>
      <Stat
        label="Avg response time"
        value={formatLatency(usage.avg_response_time_ms)}
        testId="usage-latency-avg"
      >
        <span className="percentiles" data-testid="usage-percentiles">
          <span>p50 {formatLatency(usage.latency_p50_ms)}</span>
          <span>p95 {formatLatency(usage.latency_p95_ms)}</span>
          <span>p99 {formatLatency(usage.latency_p99_ms)}</span>
        </span>
      </Stat>
      <Stat
        label="Peak per minute"
        value={formatCount(usage.rate_limit_peak_per_minute)}
        testId="usage-peak-minute"
        tone={overMinute ? "warn" : undefined}
      >
        limit {formatCount(detail.rate_limit_per_minute)}
        {overMinute && " · exceeded"} · busiest day {formatCount(usage.rate_limit_peak_per_day)}
      </Stat>
    </dl>
  );
}

function Block({
  title,
  titleId,
  description,
  className,
  children,
}: {
  title: string;
  titleId: string;
  description?: ReactNode;
  className?: string;
  children: ReactNode;
}) {
  return (
    <section
      className={`card usage-block${className ? ` ${className}` : ""}`}
      aria-labelledby={titleId}
    >
      <div className="block-head">
        <h3 id={titleId}>{title}</h3>
        {description && <p className="muted small">{description}</p>}
      </div>
      {children}
    </section>
  );
}

function DailyBlock({
  usage,
  detail,
  asTable,
}: {
  usage: KeyUsage;
  detail: KeyDetail;
  asTable: boolean;
}) {
  const id = useId();
  const chart = useMemo(() => dailySeries(usage), [usage]);
  const rows = useMemo(() => dayRows(usage, detail.rate_limit_per_day), [usage, detail]);
  const table = <DailyTable rows={rows} />;
  return (
    <Block
      title="Requests per day"
      titleId={id}
      description="Errors (4xx and 5xx) at the foot of each bar, successful requests above."
    >
      {asTable ? (
        table
      ) : (
        <BarChart
          label={dailySummary(usage)}
          data={chart}
          series={DAILY_SERIES}
          tickEvery={DAY_TICKS}
          formatTick={formatTick}
          describe={(index) => {
            const day = usage.daily[index];
            if (!day) return "";
            return `${formatLongDay(day.date)}: ${plural(day.requests, "request")} · ${plural(day.errors, "error")}`;
          }}
          fallback={table}
          legend={
            <Legend
              items={[
                { label: "Successful (2xx/3xx)", className: "swatch-ok" },
                { label: "Errors (4xx/5xx)", className: "swatch-error" },
              ]}
            />
          }
        />
      )}
    </Block>
  );
}

function DailyTable({ rows }: { rows: ReturnType<typeof dayRows> }) {
  const total = rows.reduce(
    (sum, row) => ({
      requests: sum.requests + row.requests,
      successful: sum.successful + row.successful,
      errors: sum.errors + row.errors,
    }),
    { requests: 0, successful: 0, errors: 0 },
  );
  return (
    <div
      className="table-scroll"
      role="region"
      aria-label="Requests per day, as a table"
      tabIndex={0}
    >
      <table className="data-table" data-testid="usage-daily-table">
        <caption className="sr-only">Requests per day, newest first (UTC)</caption>
        <thead>
          <tr>
            <th scope="col">Day (UTC)</th>
            <th scope="col" className="num">
              Requests
            </th>
            <th scope="col" className="num">
              Successful
            </th>
            <th scope="col" className="num">
              Errors
            </th>
            <th scope="col" className="num">
              Of daily limit
            </th>
          </tr>
        </thead>
        <tbody>
          {rows.map((row) => (
            <tr
              key={row.date}
              data-date={row.date}
              className={row.requests === 0 ? "is-zero" : undefined}
            >
              <th scope="row">
                <time dateTime={row.date}>{formatLongDay(row.date)}</time>
              </th>
              <td className="num">{formatCount(row.requests)}</td>
              <td className="num">{formatCount(row.successful)}</td>
              <td className="num">{formatCount(row.errors)}</td>
              <td className="num">{row.ofLimit === null ? "—" : formatPercent(row.ofLimit)}</td>
            </tr>
          ))}
        </tbody>
        <tfoot>
          <tr>
            <th scope="row">Total</th>
            <td className="num">{formatCount(total.requests)}</td>
            <td className="num">{formatCount(total.successful)}</td>
            <td className="num">{formatCount(total.errors)}</td>
            <td />
          </tr>
        </tfoot>
      </table>
    </div>
  );
}

function TodayBlock({ usage, limit, now }: { usage: KeyUsage; limit: number; now: Date }) {
  const id = useId();
  const today = todayUsage(usage, limit, now);
  if (!today) return null;
  const percent = Math.min(today.ratio, 1) * 100;
  return (
    <Block
      title="Today against the daily limit"
      titleId={id}
      className={`today today-${today.level}`}
    >
      <p className="today-figure" data-testid="usage-today">
        <strong>{formatCount(today.used)}</strong> of {formatCount(today.limit)} requests{" "}
        <span className="today-percent">({formatPercent(today.ratio)})</span>
      </p>
      <div
        className="cap-bar"
        role="progressbar"
        aria-label="Today's requests against the daily limit"
        aria-valuemin={0}
        aria-valuemax={today.limit}
        aria-valuenow={Math.min(today.used, today.limit)}
        aria-valuetext={todaySentence(today)}
      >
        <span className="cap-fill" style={{ width: `${percent}%` }} />
        <span className="cap-mark" aria-hidden="true" />
      </div>
      {today.level === "reached" ? (
        <p className="cap-note cap-danger" role="status">
          <span aria-hidden="true">⛔ </span>Daily limit reached: further requests are refused with
          429 until 00:00 UTC.
        </p>
      ) : today.level === "near" ? (
        <p className="cap-note cap-warn" role="status">
          <span aria-hidden="true">⚠ </span>Over {formatPercent(0.8)} of the daily limit used.
        </p>
      ) : null}
      <dl className="today-facts">
        <div>
          <dt>Resets</dt>
          <dd>00:00 UTC, in {formatDuration(today.resetsInSeconds)}</dd>
        </div>
        {today.projected !== null && (
          <div>
            <dt>At today&apos;s pace</dt>
            <dd>
              {today.limitAt ? (
                <strong className="cap-warn">
                  limit reached around {formatHour(Date.parse(today.limitAt) / 1000)} UTC
                </strong>
              ) : (
                <>
                  about {formatCount(today.projected)} by midnight (
                  {formatPercent(today.projected / today.limit)})
                </>
              )}
            </dd>
          </div>
        )}
      </dl>
      <p className="muted small">
        Counts the requests the daily limit counted today (accepted ones); refused requests use no
        quota.
      </p>
    </Block>
  );
}

function ShareBar({ share, tone }: { share: number; tone: string }) {
  return (
    <span className="share-bar" aria-hidden="true">
      <span
        className={`share-fill tone-${tone}`}
        style={{ width: `${Math.max(share * 100, 1)}%` }}
      />
    </span>
  );
}

/** One line of a bar list: what it is, its share as a bar, and the count with the share. */
function ShareRow({
  children,
  share,
  tone,
  count,
  ...data
}: {
  children: ReactNode;
  share: number;
  tone: string;
  count: number;
  "data-status"?: string;
  "data-path"?: string;
}) {
  return (
    <li {...data}>
      <span className="bar-label">{children}</span>
      <ShareBar share={share} tone={tone} />
      <span className="bar-count">
        {formatCount(count)} <span className="muted">{formatPercent(share)}</span>
      </span>
    </li>
  );
}

function StatusBlock({ usage, asTable }: { usage: KeyUsage; asTable: boolean }) {
  const id = useId();
  const rows = statusRows(usage);
  return (
    <Block title="Status codes" titleId={id} description="What the gateway answered.">
      {asTable ? (
        <table className="data-table" data-testid="usage-status-table">
          <caption className="sr-only">Responses by status code</caption>
          <thead>
            <tr>
              <th scope="col">Status</th>
              <th scope="col">Meaning</th>
              <th scope="col" className="num">
                Requests
              </th>
              <th scope="col" className="num">
                Share
              </th>
            </tr>
          </thead>
          <tbody>
            {rows.map((row) => (
              <tr key={row.status} data-status={row.status}>
                <th scope="row" className="mono">
                  {row.status}
                </th>
                <td>
                  {row.text}
                  {row.hint && <span className="muted small hint">{row.hint}</span>}
                </td>
                <td className="num">{formatCount(row.count)}</td>
                <td className="num">{formatPercent(row.share)}</td>
              </tr>
            ))}
          </tbody>
          <tfoot>
            <tr>
              <th scope="row" colSpan={2}>
                Total
              </th>
              <td className="num">{formatCount(rows.reduce((sum, row) => sum + row.count, 0))}</td>
              <td />
            </tr>
          </tfoot>
        </table>
      ) : (
        <ul className="bar-list" aria-label="Responses by status code">
          {rows.map((row) => (
            <ShareRow
              key={row.status}
              data-status={row.status}
              share={row.share}
              tone={row.tone}
              count={row.count}
            >
              <span className={`code tone-${row.tone}`}>{row.status}</span> {row.text}
              {row.hint && <span className="muted small bar-hint">{row.hint}</span>}
            </ShareRow>
          ))}
        </ul>
      )}
    </Block>
  );
}

function EndpointsBlock({ usage, asTable }: { usage: KeyUsage; asTable: boolean }) {
  const id = useId();
  const rows = endpointRows(usage);
  return (
    <Block title="Top endpoints" titleId={id} description="IDs in paths are grouped as :id.">
      {rows.length === 0 ? (
        <p className="muted">No endpoint data.</p>
      ) : asTable ? (
        <table className="data-table" data-testid="usage-endpoints-table">
          <caption className="sr-only">Most requested endpoints</caption>
          <thead>
            <tr>
              <th scope="col">Endpoint</th>
              <th scope="col" className="num">
                Requests
              </th>
              <th scope="col" className="num">
                Share
              </th>
            </tr>
          </thead>
          <tbody>
            {rows.map((row) => (
              <tr key={row.path} data-path={row.path}>
                <th scope="row">
                  <code className="mono">{row.path}</code>
                </th>
                <td className="num">{formatCount(row.count)}</td>
                <td className="num">{formatPercent(row.share)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : (
        <ul className="bar-list" aria-label="Most requested endpoints">
          {rows.map((row) => (
            <ShareRow
              key={row.path}
              data-path={row.path}
              share={row.share}
              tone="accent"
              count={row.count}
            >
              <code className="mono">{row.path}</code>
            </ShareRow>
          ))}
        </ul>
      )}
    </Block>
  );
}

function RateLimitBlock({ usage, asTable }: { usage: KeyUsage; asTable: boolean }) {
  const id = useId();
  const total = rateLimitedTotal(usage);
  const chart = useMemo(() => hourlySeries(usage), [usage]);
  const rows = rateLimitRows(usage);
  const table = (
    <table className="data-table" data-testid="usage-429-table">
      <caption className="sr-only">Rate-limited requests by hour, newest first</caption>
      <thead>
        <tr>
          <th scope="col">Hour (UTC)</th>
          <th scope="col" className="num">
            429 responses
          </th>
        </tr>
      </thead>
      <tbody>
        {rows.map((row) => (
          <tr key={row.hour} data-hour={row.hour}>
            <th scope="row">
              <time dateTime={row.hour}>{formatHourRange(row.hour)}</time>
            </th>
            <td className="num">{formatCount(row.count)}</td>
          </tr>
        ))}
      </tbody>
      <tfoot>
        <tr>
          <th scope="row">Total</th>
          <td className="num">{formatCount(total)}</td>
        </tr>
      </tfoot>
    </table>
  );
  return (
    <Block
      title="Rate-limited requests (429) by hour"
      titleId={id}
      description={
        total === 0
          ? undefined
          : `${plural(total, "request")} over the per-minute or per-day limit. A steady stream points at a poller set too fast for its tier.`
      }
    >
      {total === 0 ? (
        <p className="all-clear" data-testid="usage-no-429">
          <span aria-hidden="true">✓ </span>No requests were rate limited{" "}
          {duringWindow(usage.window_days)}.
        </p>
      ) : asTable ? (
        table
      ) : (
        <BarChart
          label={rateLimitSummary(usage)}
          data={chart}
          series={HOURLY_SERIES}
          height={160}
          tickEvery={HOUR_TICKS}
          formatTick={formatTick}
          describe={(index) => {
            const x = chart.xs[index];
            if (x === undefined) return "";
            const count = chart.series[0]?.[index] ?? 0;
            return `${formatHourRange(new Date(x * 1000).toISOString())}: ${plural(count, "rate-limited request")}`;
          }}
          fallback={table}
        />
      )}
    </Block>
  );
}
