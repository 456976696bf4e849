import { and, asc, eq, gte, lte, usageDays, type Executor } from "@repo/db";
import { mergeHistograms, percentileFromHistogram } from "../gateway/histogram.js";
import type { KeyUsage } from "../keys/schemas.js";
import { findOwnedKey } from "./keys.js";

const DAY_MS = 86_400_000;
const TOP_ENDPOINTS = 10;

const isoDay = (ms: number) => new Date(ms).toISOString().slice(0, 10);
const round2 = (value: number) => Math.round(value * 100) / 100;

/**
 * Usage analytics for one of the owner's keys over the last `days` UTC days (today included),
 * read from the per-day rollups: about `days` rows, whatever the traffic. Percentiles come
 * from the merged latency histograms (within 5% of the exact values).
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
  const rows = await db
    .select()
    .from(usageDays)
    .where(
      and(
        eq(usageDays.keyId, key.id),
        gte(usageDays.day, isoDay(first)),
        lte(usageDays.day, isoDay(today)),
      ),
    )
    .orderBy(asc(usageDays.day));

  const byStatus: Record<string, number> = {};
  const routes: Record<string, number> = {};
  const histogram: number[] = [];
  const byDay = new Map<string, { requests: number; errors: number }>();
  const rateLimitHits: { hour: string; count: number }[] = [];
  let total = 0;
  let latencySum = 0;
  let peakMinute = 0;
  let peakDay = 0;

  for (const row of rows) {
    total += row.requests;
    latencySum += row.latencySumMs;
    peakMinute = Math.max(peakMinute, row.peakMinuteRequests);
    peakDay = Math.max(peakDay, row.requests);
    mergeHistograms(histogram, row.latencyBuckets);
    let errors = 0;
    for (const [status, n] of Object.entries(row.byStatus)) {
      byStatus[status] = (byStatus[status] ?? 0) + n;
      if (Number(status) >= 400) errors += n;
    }
    for (const [route, n] of Object.entries(row.routes)) routes[route] = (routes[route] ?? 0) + n;
    byDay.set(row.day, { requests: row.requests, errors });
    row.rateLimitedByHour.forEach((count, hour) => {
      if (count > 0) {
        rateLimitHits.push({ hour: `${row.day}T${String(hour).padStart(2, "0")}:00:00Z`, count });
      }
    });
  }

  const countWhere = (test: (status: number) => boolean) =>
    Object.entries(byStatus).reduce(
      (sum, [status, n]) => (test(Number(status)) ? sum + n : sum),
      0,
    );
  const successful = countWhere((s) => s >= 200 && s < 400);
  const percentile = (p: number) => {
    const value = percentileFromHistogram(histogram, p);
    return value === null ? null : round2(value);
  };

  return {
    data: {
      key_id: key.id,
      window_days: days,
      total_requests: total,
      successful,
      client_errors: countWhere((s) => s >= 400 && s < 500),
      server_errors: countWhere((s) => s >= 500 && s < 600),
      success_rate: total === 0 ? null : Math.round((successful / total) * 10_000) / 10_000,
      avg_response_time_ms: total === 0 ? null : round2(latencySum / total),
      latency_p50_ms: percentile(0.5),
      latency_p95_ms: percentile(0.95),
      latency_p99_ms: percentile(0.99),
      rate_limit_peak_per_minute: peakMinute,
      rate_limit_peak_per_day: peakDay,
      top_endpoints: Object.entries(routes)
        .sort(([a, x], [b, y]) => y - x || a.localeCompare(b))
        .slice(0, TOP_ENDPOINTS)
        .map(([path, count]) => ({ path, count })),
      by_status: byStatus,
      daily: Array.from({ length: days }, (_, i) => {
        const date = isoDay(first + i * DAY_MS);
        return { date, ...(byDay.get(date) ?? { requests: 0, errors: 0 }) };
      }),
      rate_limit_hits_by_hour: rateLimitHits,
    },
  };
}
