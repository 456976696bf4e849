// What the usage view shows, computed from one `keys.usage` response: figures, words, table
// rows and chart series. No React here, so every number on the page is unit-tested.
import type { KeyDetail, KeyUsage } from "../../lib/trpc.js";

export { DEFAULT_WINDOW, WINDOW_CHOICES, type WindowDays } from "./usage-window.js";

/** Today's share of the daily limit from which the view warns. */
export const NEAR_LIMIT = 0.8;

const HOUR_S = 3600;
const DAY_S = 86_400;

const integer = new Intl.NumberFormat("en");
const compactFormat = new Intl.NumberFormat("en", { notation: "compact" });
const dayLabel = new Intl.DateTimeFormat("en", { month: "short", day: "numeric", timeZone: "UTC" });
const longDay = new Intl.DateTimeFormat("en", {
  weekday: "short",
  month: "short",
  day: "numeric",
  year: "numeric",
  timeZone: "UTC",
});
const hourLabel = new Intl.DateTimeFormat("en", {
  hour: "2-digit",
  minute: "2-digit",
  hourCycle: "h23",
  timeZone: "UTC",
});

export function formatCount(n: number): string {
  return integer.format(n);
}

/** Axis ticks: 950, 1.2K, 3M. */
export function formatCompact(n: number): string {
  return compactFormat.format(n);
}

/** "1 request", "1,204 requests". */
export function plural(n: number, word: string, many = `${word}s`): string {
  return `${formatCount(n)} ${n === 1 ? word : many}`;
}

/**
 * A share as a percentage with at most one decimal: "83.3%", "100%", "0%". Anything short of
 * all (or more than none) never rounds to 100% (or 0%): 99.96% of requests succeeding still
 * means failures to look at.
 */
export function formatPercent(ratio: number | null): string {
  if (ratio === null || !Number.isFinite(ratio)) return "—";
  const percent = ratio * 100;
  let rounded = Math.round(percent * 10) / 10;
  if (rounded >= 100 && ratio < 1) rounded = 99.9;
  if (rounded <= 0 && ratio > 0) return "<0.1%";
  return `${rounded.toLocaleString("en", { maximumFractionDigits: 1 })}%`;
}

/** "0.4 ms", "12 ms", "1.24 s"; "—" without traffic. */
export function formatLatency(ms: number | null): string {
  if (ms === null || !Number.isFinite(ms)) return "—";
  if (ms < 10) return `${(Math.round(ms * 10) / 10).toLocaleString("en")} ms`;
  if (ms < 1000) return `${Math.round(ms)} ms`;
  return `${(ms / 1000).toLocaleString("en", { maximumFractionDigits: 2 })} s`;
}

/** "Nov 22" for an ISO date or a UTC timestamp in seconds. */
export function formatDay(date: string | number): string {
  return dayLabel.format(typeof date === "number" ? date * 1000 : Date.parse(`${date}T00:00:00Z`));
}

export function formatLongDay(date: string): string {
  return longDay.format(Date.parse(`${date}T00:00:00Z`));
}

/** "14:00" (UTC) for a timestamp in seconds. */
export function formatHour(seconds: number): string {
  return hourLabel.format(seconds * 1000);
}

/** "Nov 22, 14:00–15:00 UTC" for the start of an hour (ISO). */
export function formatHourRange(iso: string): string {
  const start = Date.parse(iso) / 1000;
  return `${formatDay(start)}, ${formatHour(start)}–${formatHour(start + HOUR_S)} UTC`;
}

export function windowLabel(days: number): string {
  return days === 1 ? "today (UTC)" : `the last ${days} days`;
}

/** The window as an adverbial: "today (UTC)" or "in the last 7 days" (never "in today"). */
export function duringWindow(days: number): string {
  return days === 1 ? windowLabel(days) : `in ${windowLabel(days)}`;
}

// Status codes

export type StatusTone = "ok" | "neutral" | "warn" | "danger";

const STATUS_TEXT: Record<string, string> = {
  "200": "OK",
  "201": "Created",
  "204": "No content",
  "301": "Moved permanently",
  "302": "Found",
  "304": "Not modified",
  "400": "Bad request",
  "401": "Unauthorized",
  "403": "Forbidden",
  "404": "Not found",
  "405": "Method not allowed",
  "408": "Request timeout",
  "413": "Payload too large",
  "422": "Unprocessable",
  "429": "Too many requests",
  "500": "Internal server error",
  "502": "Bad gateway",
  "503": "Service unavailable",
  "504": "Gateway timeout",
};

/** What an analyst should suspect for the statuses the gateway itself answers with. */
const STATUS_HINT: Record<string, string> = {
  "401": "Key unknown, revoked or expired",
  "403": "Missing scope or address not allowed",
  "429": "Over the per-minute or per-day limit",
  "502": "The data API did not answer",
  "503": "Briefly unavailable",
};

export interface StatusRow {
  status: string;
  text: string;
  hint: string | undefined;
  count: number;
  share: number;
  tone: StatusTone;
}

export function statusTone(status: string): StatusTone {
  const code = Number(status);
  if (code >= 500) return "danger";
  if (code >= 400) return "warn";
  if (code >= 300) return "neutral";
  return "ok";
}

/** One row per status code, lowest code first, with its share of all requests. */
export function statusRows(usage: KeyUsage): StatusRow[] {
  const total = Object.values(usage.by_status).reduce((sum, n) => sum + n, 0);
  return Object.entries(usage.by_status)
    .filter(([, count]) => count > 0)
    .sort(([a], [b]) => Number(a) - Number(b))
    .map(([status, count]) => ({
      status,
      text: STATUS_TEXT[status] ?? `HTTP ${status}`,
      hint: STATUS_HINT[status],
      count,
      share: total === 0 ? 0 : count / total,
      tone: statusTone(status),
    }));
}

export interface EndpointRow {
  path: string;
  count: number;
  share: number;
}

/** Top endpoints with their share of the window's requests. */
export function endpointRows(usage: KeyUsage): EndpointRow[] {
  return usage.top_endpoints.map(({ path, count }) => ({
    path,
    count,
    share: usage.total_requests === 0 ? 0 : count / usage.total_requests,
  }));
}

// Requests per day

export interface DayRow {
  date: string;
  requests: number;
  successful: number;
  errors: number;
  /** Share of the key's daily limit. */
  ofLimit: number | null;
}

/** The table behind the daily chart, newest first. */
export function dayRows(usage: KeyUsage, dailyLimit: number | null): DayRow[] {
  return usage.daily
    .map((day) => ({
      date: day.date,
      requests: day.requests,
      successful: Math.max(0, day.requests - day.errors),
      errors: day.errors,
      ofLimit: dailyLimit ? day.requests / dailyLimit : null,
    }))
    .reverse();
}

export interface ChartData {
  /** UTC timestamps in seconds, ascending, evenly spaced by `step`. */
  xs: number[];
  step: number;
  series: number[][];
}

/** Requests (full bar) and errors (drawn over its base): errors stacked under successes. */
export function dailySeries(usage: KeyUsage): ChartData {
  return {
    xs: usage.daily.map((day) => Date.parse(`${day.date}T00:00:00Z`) / 1000),
    step: DAY_S,
    series: [usage.daily.map((day) => day.requests), usage.daily.map((day) => day.errors)],
  };
}

export function dailySummary(usage: KeyUsage): string {
  const total = usage.daily.reduce((sum, day) => sum + day.requests, 0);
  const errors = usage.daily.reduce((sum, day) => sum + day.errors, 0);
  const today = usage.daily.at(-1);
  const busiest = usage.daily.reduce<KeyUsage["daily"][number] | undefined>(
    (best, day) => (day.requests > (best?.requests ?? 0) ? day : best),
    undefined,
  );
  const parts = [
    `Requests per day, ${windowLabel(usage.window_days)}: ${plural(total, "request")} in total, ${plural(errors, "error")}.`,
  ];
  if (busiest) {
    parts.push(
      `Busiest day ${formatDay(busiest.date)} with ${plural(busiest.requests, "request")}.`,
    );
  }
  if (today) {
    parts.push(
      `Today ${formatDay(today.date)}: ${plural(today.requests, "request")}, ${plural(today.errors, "error")}.`,
    );
  }
  return parts.join(" ");
}

// Rate-limited requests

export interface HourRow {
  hour: string;
  count: number;
}

/** Hours with at least one 429, newest first. */
export function rateLimitRows(usage: KeyUsage): HourRow[] {
  return usage.rate_limit_hits_by_hour
    .filter((hit) => hit.count > 0)
    .map((hit) => ({ hour: hit.hour, count: hit.count }))
    .sort((a, b) => Date.parse(b.hour) - Date.parse(a.hour));
}

/** Every hour of the window (zero-filled), so the bars sit where they happened. */
export function hourlySeries(usage: KeyUsage): ChartData {
  const first = usage.daily[0];
  const start = first
    ? Date.parse(`${first.date}T00:00:00Z`) / 1000
    : Math.floor(Date.now() / 1000 / DAY_S) * DAY_S;
  const hours = Math.max(1, usage.daily.length) * 24;
  const counts = new Array<number>(hours).fill(0);
  for (const hit of usage.rate_limit_hits_by_hour) {
    const index = Math.round((Date.parse(hit.hour) / 1000 - start) / HOUR_S);
    if (index >= 0 && index < hours) counts[index] = (counts[index] ?? 0) + hit.count;
  }
  return {
    xs: counts.map((_, index) => start + index * HOUR_S),
    step: HOUR_S,
    series: [counts],
  };
}

export function rateLimitedTotal(usage: KeyUsage): number {
  return usage.rate_limit_hits_by_hour.reduce((sum, hit) => sum + hit.count, 0);
}

export function rateLimitSummary(usage: KeyUsage): string {
  const total = rateLimitedTotal(usage);
  if (total === 0) return `No rate-limited requests ${duringWindow(usage.window_days)}.`;
  const [worst] = [...usage.rate_limit_hits_by_hour].sort((a, b) => b.count - a.count);
  const hours = usage.rate_limit_hits_by_hour.filter((hit) => hit.count > 0).length;
  return (
    `Rate-limited requests (429) by hour, ${windowLabel(usage.window_days)}: ` +
    `${formatCount(total)} in ${plural(hours, "hour")}` +
    (worst ? `; most in ${formatHourRange(worst.hour)} with ${formatCount(worst.count)}.` : ".")
  );
}

// Today against the daily limit

export type CapLevel = "ok" | "near" | "reached";

export interface TodayUsage {
  date: string;
  used: number;
  limit: number;
  ratio: number;
  level: CapLevel;
  /** Seconds until the UTC day (and the daily quota) resets. */
  resetsInSeconds: number;
  /** Where today ends at the pace so far; null before an hour of the day has passed. */
  projected: number | null;
  /** When the pace so far reaches the limit (ISO), if it does before midnight UTC. */
  limitAt: string | null;
}

/** Today is the last day of the window; its requests against the key's per-day limit. */
export function todayUsage(usage: KeyUsage, limit: number, now: Date): TodayUsage | null {
  const today = usage.daily.at(-1);
  if (!today || limit <= 0) return null;
  const dayStart = Date.parse(`${today.date}T00:00:00Z`);
  const elapsed = Math.min(Math.max(now.getTime() - dayStart, 0), DAY_S * 1000);
  // Quota use (accepted requests), as the daily limit and X-RateLimit-Remaining count it.
  const used = today.quota_used;
  const ratio = used / limit;
  const level: CapLevel = used >= limit ? "reached" : ratio >= NEAR_LIMIT ? "near" : "ok";
  let projected: number | null = null;
  let limitAt: string | null = null;
  if (elapsed >= HOUR_S * 1000 && used > 0) {
    const perMs = used / elapsed;
    projected = Math.round(perMs * DAY_S * 1000);
    if (level !== "reached" && projected >= limit) {
      limitAt = new Date(dayStart + Math.ceil(limit / perMs)).toISOString();
    }
  }
  return {
    date: today.date,
    used,
    limit,
    ratio,
    level,
    resetsInSeconds: Math.max(0, Math.round((dayStart + DAY_S * 1000 - now.getTime()) / 1000)),
    projected,
    limitAt,
  };
}

/** "11 h 25 min", "40 min", "under a minute". */
export function formatDuration(seconds: number): string {
  const minutes = Math.floor(seconds / 60);
  if (minutes < 1) return "under a minute";
  const h = Math.floor(minutes / 60);
  const m = minutes % 60;
  if (h === 0) return `${m} min`;
  return m === 0 ? `${h} h` : `${h} h ${m} min`;
}

export function todaySentence(today: TodayUsage): string {
  return `${formatCount(today.used)} of ${formatCount(today.limit)} requests (${formatPercent(today.ratio)})`;
}

// A revoked key that is still being tried

export interface RevokedTraffic {
  revokedAt: string;
  lastTriedAt: string;
  /** 401 answers in the window: what a revoked key gets. */
  refused: number;
}

/**
 * Requests arriving after revocation: a client somewhere still has the old key configured.
 * Times come to the second, so a last use in the revocation's second is ambiguous; a 401 is
 * not (a known key is only refused as unauthenticated once revoked or expired).
 */
export function revokedTraffic(detail: KeyDetail, usage: KeyUsage): RevokedTraffic | null {
  if (!detail.revoked_at || !detail.last_used_at) return null;
  const refused = usage.by_status["401"] ?? 0;
  const usedAfter = Date.parse(detail.last_used_at) > Date.parse(detail.revoked_at);
  if (!usedAfter && refused === 0) return null;
  return { revokedAt: detail.revoked_at, lastTriedAt: detail.last_used_at, refused };
}
