import { queryRows, sql, usageDays, type Executor } from "@repo/db";
import { mergeHistograms, percentileFromHistogram } from "@repo/core";
import type { KeyUsage } from "../keys/schemas.js";
import { findOwnedKey } from "./key-service.js";

const DAY_MS = 86_400_000;
const TOP_ENDPOINTS = 10;

const isoDay = (ms: number) => new Date(ms).toISOString().slice(0, 10);
const round2 = (value: number) => Math.round(value * 100) / 100;

/**
 * Usage analytics for one of the owner's keys over the last `days` UTC days (today included),
 * from the per-day rollups: about `days` rows, whatever the traffic. Percentiles come from the
 * merged latency histograms (within 5% of the exact values).
 */
export async function getKeyUsage(
  db: Executor,
  ownerId: string,
  keyId: string,
  days: number,
  now: Date,
): Promise<{ data: KeyUsage }> {
  const key = await findOwnedKey(db, ownerId, keyId);
  const today = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate());
  const first = today - (days - 1) * DAY_MS;
  const usage = mergeAggregates(
    days > 1 ? await closedDays(db, key.id, first, today - DAY_MS, now) : EMPTY,
    await aggregate(db, key.id, today, today),
  );

  const countWhere = (test: (status: number) => boolean) =>
    Object.entries(usage.statuses).reduce(
      (sum, [status, n]) => (test(Number(status)) ? sum + n : sum),
      0,
    );
  const successful = countWhere((s) => s >= 200 && s < 400);
  const percentile = (p: number) => {
    const value = percentileFromHistogram(usage.buckets, p);
    return value === null ? null : round2(value);
  };
  const byDay = new Map(usage.daily.map((d) => [d.date, d]));
  const total = usage.total;

  return {
    data: {
      key_id: key.id,
      window_days: days,
      total_requests: total,
      successful,
      client_errors: countWhere((s) => s >= 400 && s < 500),
      server_errors: countWhere((s) => s >= 500 && s < 600),
      success_rate: total === 0 ? null : Math.round((successful / total) * 10_000) / 10_000,
      avg_response_time_ms: total === 0 ? null : round2(usage.latency_sum / total),
      latency_p50_ms: percentile(0.5),
      latency_p95_ms: percentile(0.95),
      latency_p99_ms: percentile(0.99),
      // Quota use (accepted requests, weighted by cost), as the limiter counts it: a TAXII
      // objects fetch is 2.5, so round up, which is what X-RateLimit-Remaining's floor leaves.
      rate_limit_peak_per_minute: Math.ceil(usage.peak_minute),
      rate_limit_peak_per_day: Math.ceil(usage.peak_day),
      top_endpoints: Object.entries(usage.routes)
        .sort(([a, x], [b, y]) => y - x || (a < b ? -1 : 1))
        .slice(0, TOP_ENDPOINTS)
        .map(([path, count]) => ({ path, count })),
      by_status: usage.statuses,
      daily: Array.from({ length: days }, (_, i) => {
        const date = isoDay(first + i * DAY_MS);
        const day = byDay.get(date);
        return {
          date,
          requests: day?.requests ?? 0,
          errors: day?.errors ?? 0,
          quota_used: Math.ceil(day?.quota ?? 0),
        };
      }),
      rate_limit_hits_by_hour: usage.hours.map((h) => ({
        hour: `${h.day}T${String(h.hour).padStart(2, "0")}:00:00Z`,
        count: h.count,
      })),
    },
  };
}

interface UsageAggregate {
  total: number;
  latency_sum: number;
  peak_minute: number;
  peak_day: number;
  statuses: Record<string, number>;
  routes: Record<string, number>;
  buckets: number[];
  daily: { date: string; requests: number; errors: number; quota: number }[];
  hours: { day: string; hour: number; count: number }[];
}

const EMPTY: UsageAggregate = {
  total: 0,
  latency_sum: 0,
  peak_minute: 0,
  peak_day: 0,
  statuses: {},
  routes: {},
  buckets: [],
  daily: [],
  hours: [],
};

async function aggregate(db: Executor, keyId: string, firstMs: number, lastMs: number) {
  const [row] = await queryRows<{ usage: UsageAggregate }>(
    db,
    aggregateQuery(keyId, firstMs, lastMs),
  );
  return row?.usage ?? EMPTY;
}

function addCounts(into: Record<string, number>, from: Record<string, number>) {
  for (const [name, n] of Object.entries(from)) into[name] = (into[name] ?? 0) + n;
  return into;
}

function mergeAggregates(a: UsageAggregate, b: UsageAggregate): UsageAggregate {
  return {
    total: a.total + b.total,
    latency_sum: a.latency_sum + b.latency_sum,
    peak_minute: Math.max(a.peak_minute, b.peak_minute),
    peak_day: Math.max(a.peak_day, b.peak_day),
    statuses: addCounts(addCounts({}, a.statuses), b.statuses),
    routes: addCounts(addCounts({}, a.routes), b.routes),
    buckets: mergeHistograms([...a.buckets], b.buckets),
    daily: [...a.daily, ...b.daily],
    hours: [...a.hours, ...b.hours],
  };
}

/**
 * Days that have ended no longer change (their rollups were written within a flush interval
 * of midnight), so their aggregate is kept for a few minutes per key and window: a dashboard
 * polling a key re-reads only today's row. Usage written late for a past day (after a
 * database outage) shows within CLOSED_DAYS_TTL_MS.
 */
const CLOSED_DAYS_TTL_MS = 5 * 60_000;
const MAX_CACHED_WINDOWS = 5_000;
type ClosedDaysCache = Map<string, { at: number; usage: UsageAggregate }>;
const closedDaysCache = new WeakMap<Executor, ClosedDaysCache>();

async function closedDays(
  db: Executor,
  keyId: string,
  firstMs: number,
  lastMs: number,
  now: Date,
): Promise<UsageAggregate> {
  let cache = closedDaysCache.get(db);
  if (!cache) closedDaysCache.set(db, (cache = new Map() as ClosedDaysCache));
  const id = `${keyId}|${firstMs}|${lastMs}`;
  const hit = cache.get(id);
  if (hit && now.getTime() - hit.at < CLOSED_DAYS_TTL_MS) return hit.usage;
  const usage = await aggregate(db, keyId, firstMs, lastMs);
  if (cache.size >= MAX_CACHED_WINDOWS) cache.delete(cache.keys().next().value!);
  cache.set(id, { at: now.getTime(), usage });
  return usage;
}

/**
 * A range of days aggregated inside Postgres in one round trip: sums, merged status and
 * route counts, the element-wise sum of the latency histograms, the daily series and the
 * hours with 429s, returned as one JSON document (a few kB however busy the key was).
 */
function aggregateQuery(keyId: string, firstMs: number, lastMs: number) {
  return sql`
    with w as (
      select day, requests, by_status, routes, latency_sum_ms, latency_buckets,
             rate_limited_by_hour, quota_used, peak_minute_quota
      from ${usageDays}
      where key_id = ${keyId} and day between ${isoDay(firstMs)}::date and ${isoDay(lastMs)}::date
    )
    select json_build_object(
      'total', (select coalesce(sum(requests), 0) from w),
      'latency_sum', (select coalesce(sum(latency_sum_ms), 0) from w),
      'peak_minute', (select coalesce(max(peak_minute_quota), 0) from w),
      'peak_day', (select coalesce(max(quota_used), 0) from w),
      'statuses', (
        select coalesce(json_object_agg(status, n), '{}')
        from (select s.key as status, sum(s.value::bigint) as n
              from w, jsonb_each_text(w.by_status) s group by s.key) x),
      'routes', (
        select coalesce(json_object_agg(path, n), '{}')
        from (select r.key as path, sum(r.value::bigint) as n
              from w, jsonb_each_text(w.routes) r group by r.key) x),
      'buckets', (
        select coalesce(json_agg(n order by i), '[]')
        from (select b.i, sum(b.v) as n
              from w, unnest(w.latency_buckets) with ordinality b(v, i) group by b.i) x),
      'daily', (
        select coalesce(json_agg(json_build_object(
          'date', day,
          'requests', requests,
          'quota', quota_used,
          'errors', (select coalesce(sum(e.value::bigint), 0)
                     from jsonb_each_text(by_status) e where e.key::int >= 400))), '[]')
        from w),
      'hours', (
        select coalesce(json_agg(json_build_object('day', day, 'hour', h.i - 1, 'count', h.c)
                                 order by day, h.i), '[]')
        from w, unnest(w.rate_limited_by_hour) with ordinality h(c, i) where h.c > 0)
    ) as usage`;
}
