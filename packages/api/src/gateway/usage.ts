import { isDatabaseUnavailable, sql, type Database } from "@repo/db";
import { safeError } from "./log.js";
import { bucketIndex, mergeHistograms, trimHistogram } from "./histogram.js";

const MINUTE_MS = 60_000;
const DAY_MS = 86_400_000;
const HOUR_MS = 3_600_000;
/** Distinct paths kept per rollup cell; the rest are counted under "(other)". */
const MAX_ROUTES_PER_CELL = 50;

/** One request attributed to a key (any status). */
export interface UsageEvent {
  keyId: string;
  atMs: number;
  /** Request path without query string (see `routeLabel`). */
  route: string;
  status: number;
  latencyMs: number;
}

interface Cell {
  keyId: string;
  /** Start of the UTC minute or day, epoch ms. */
  start: number;
  requests: number;
  byStatus: Record<string, number>;
  routes: Record<string, number>;
  latencySumMs: number;
  latencyBuckets: number[];
}

interface DayCell extends Cell {
  rateLimitedByHour: number[];
}

interface KeyTotal {
  requests: number;
  lastUsedAtMs: number;
  /** The cell this key's last request went to (the next one nearly always goes there too). */
  minute?: Cell | undefined;
}

/** Everything recorded since the last successful write, aggregated per key and UTC minute. */
export interface UsageBuffer {
  totals: Map<string, KeyTotal>;
  minutes: Map<string, Cell>;
}

/** What a sink writes: the buffer plus the day rollups derived from its minutes. */
export interface UsageBatch extends UsageBuffer {
  days: Map<string, DayCell>;
}

/**
 * Where usage goes. Postgres rollups today; an event store (ClickHouse, …) can take over
 * behind the same interface when volume outgrows them.
 */
export interface UsageSink {
  /** Writes a batch atomically: all of it or nothing (so a retry cannot double count). */
  write(batch: UsageBatch): Promise<void>;
  /** Deletes rollups that start before `beforeMs`. */
  prune(beforeMs: number): Promise<void>;
}

export interface UsageLogger {
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface UsageRecorderOptions {
  sink: UsageSink;
  /** How often buffered usage is written (the most a hard crash can lose). */
  flushIntervalMs: number;
  /** Minute cells held while the database is unreachable; key totals are always kept. */
  maxBufferedCells?: number;
  retentionDays?: number;
  /**
   * false: count `total_requests`/`last_used_at` only, without the per-minute and per-day
   * rollups the usage analytics read (an operator's switch, and the benchmark's baseline).
   */
  analytics?: boolean;
  now: () => number;
  log: UsageLogger;
}

function emptyBuffer(): UsageBuffer {
  return { totals: new Map(), minutes: new Map() };
}

function addCounts(target: Record<string, number>, source: Record<string, number>) {
  for (const [name, n] of Object.entries(source)) target[name] = (target[name] ?? 0) + n;
}

function addRoute(routes: Record<string, number>, route: string, n: number) {
  const name =
    route in routes || Object.keys(routes).length < MAX_ROUTES_PER_CELL ? route : "(other)";
  routes[name] = (routes[name] ?? 0) + n;
}

const newCell = (keyId: string, start: number): Cell => ({
  keyId,
  start,
  requests: 0,
  byStatus: {},
  routes: {},
  latencySumMs: 0,
  latencyBuckets: [],
});

function mergeCell(target: Cell, source: Cell) {
  target.requests += source.requests;
  addCounts(target.byStatus, source.byStatus);
  for (const [route, n] of Object.entries(source.routes)) addRoute(target.routes, route, n);
  target.latencySumMs += source.latencySumMs;
  mergeHistograms(target.latencyBuckets, source.latencyBuckets);
}

/**
 * The day rollups of a set of minute cells: each minute merged into its UTC day, and its 429s
 * into the day's hour. Done once per write, so a request only ever touches its minute cell.
 */
function rollUpDays(minutes: Iterable<Cell>): Map<string, DayCell> {
  const days = new Map<string, DayCell>();
  for (const minute of minutes) {
    const dayStart = minute.start - (minute.start % DAY_MS);
    const id = `${minute.keyId}|${dayStart}`;
    let day = days.get(id);
    if (!day) {
      day = {
        ...newCell(minute.keyId, dayStart),
        rateLimitedByHour: new Array<number>(24).fill(0),
      };
      days.set(id, day);
    }
    mergeCell(day, minute);
    day.rateLimitedByHour[Math.floor((minute.start - dayStart) / HOUR_MS)]! +=
      minute.byStatus[429] ?? 0;
  }
  return days;
}

/**
 * Aggregates usage in memory and writes it in one statement per flush: every
 * `flushIntervalMs`, and on `close` (graceful shutdown). A failed write puts the batch back
 * and is retried on the next tick, so a database outage delays counts instead of losing them.
 */
export function createUsageRecorder(options: UsageRecorderOptions) {
  const maxCells = options.maxBufferedCells ?? 200_000;
  const analytics = options.analytics ?? true;
  const retentionMs = (options.retentionDays ?? 90) * DAY_MS;
  let buffer = emptyBuffer();
  let flushing: Promise<boolean> | null = null;
  let droppedCells = 0;
  let failures = 0;

  function minuteCell(keyId: string, start: number): Cell | undefined {
    const id = `${keyId}|${start}`;
    let cell = buffer.minutes.get(id);
    if (!cell && buffer.minutes.size < maxCells) {
      cell = newCell(keyId, start);
      buffer.minutes.set(id, cell);
    }
    return cell;
  }

  function record(event: UsageEvent) {
    let total = buffer.totals.get(event.keyId);
    if (total) {
      total.requests++;
      total.lastUsedAtMs = Math.max(total.lastUsedAtMs, event.atMs);
    } else {
      total = { requests: 1, lastUsedAtMs: event.atMs };
      buffer.totals.set(event.keyId, total);
    }
    if (!analytics) return;

    const minuteStart = event.atMs - (event.atMs % MINUTE_MS);
    const cell =
      total.minute?.start === minuteStart ? total.minute : minuteCell(event.keyId, minuteStart);
    total.minute = cell;
    if (!cell) {
      droppedCells++;
      return;
    }
    cell.requests++;
    cell.byStatus[event.status] = (cell.byStatus[event.status] ?? 0) + 1;
    addRoute(cell.routes, event.route, 1);
    cell.latencySumMs += event.latencyMs;
    const bucket = bucketIndex(event.latencyMs);
    cell.latencyBuckets[bucket] = (cell.latencyBuckets[bucket] ?? 0) + 1;
  }

  /** Puts a batch that could not be written back in front of what arrived since. */
  function restore(failed: UsageBuffer) {
    const current = buffer;
    buffer = failed;
    // Cells may be merged away below: cached references must be looked up again.
    for (const t of failed.totals.values()) t.minute = undefined;
    for (const t of current.totals.values()) t.minute = undefined;
    for (const [keyId, t] of current.totals) {
      const into = buffer.totals.get(keyId);
      if (into) {
        into.requests += t.requests;
        into.lastUsedAtMs = Math.max(into.lastUsedAtMs, t.lastUsedAtMs);
      } else buffer.totals.set(keyId, t);
    }
    for (const [id, cell] of current.minutes) {
      const into = buffer.minutes.get(id);
      if (into) mergeCell(into, cell);
      else buffer.minutes.set(id, cell);
    }
  }

  async function writeOnce(): Promise<boolean> {
    if (droppedCells > 0) {
      options.log.error(
        { droppedEvents: droppedCells, maxBufferedCells: maxCells },
        "usage buffer full: analytics detail for these requests was dropped (request totals kept)",
      );
      droppedCells = 0;
    }
    if (buffer.totals.size === 0) return true;
    const batch = buffer;
    buffer = emptyBuffer();
    try {
      await options.sink.write({ ...batch, days: rollUpDays(batch.minutes.values()) });
      failures = 0;
      return true;
    } catch (error) {
      failures++;
      const transient = isDatabaseUnavailable(error);
      if (!transient && failures >= 3) {
        // Not an outage and not going away by retrying: report exactly what is given up.
        let requests = 0;
        for (const t of batch.totals.values()) requests += t.requests;
        options.log.error(
          { error: safeError(error), keys: batch.totals.size, requests },
          "usage batch rejected by the database three times: dropped",
        );
        failures = 0;
        return false;
      }
      restore(batch);
      options.log.warn(
        { error: safeError(error), keys: buffer.totals.size, attempt: failures },
        "usage write failed: kept in memory, retrying",
      );
      return false;
    }
  }

  /**
   * Writes what is buffered now; resolves true when it was written (or nothing was due). A
   * write already in flight took an earlier snapshot, so the call waits for it and then
   * writes what arrived since.
   */
  function flush(): Promise<boolean> {
    if (flushing) return flushing.then(() => flush());
    flushing = writeOnce().finally(() => (flushing = null));
    return flushing;
  }

  const flushTimer = setInterval(() => void flush(), options.flushIntervalMs);
  flushTimer.unref();
  const prune = () =>
    options.sink.prune(options.now() - retentionMs).catch((error: unknown) => {
      options.log.warn({ error: safeError(error) }, "usage rollup pruning failed");
    });
  const pruneTimer = setInterval(() => void prune(), HOUR_MS);
  pruneTimer.unref();
  setTimeout(() => void prune(), options.flushIntervalMs).unref();

  return {
    record,
    flush,
    prune,
    /** Requests recorded but not yet written. */
    get pendingRequests() {
      let n = 0;
      for (const t of buffer.totals.values()) n += t.requests;
      return n;
    },
    /**
     * Stops the timers and writes everything, retrying until `deadlineMs` has passed
     * (graceful shutdown). What still could not be written is logged, never dropped silently.
     */
    async close(deadlineMs = 5_000): Promise<void> {
      clearInterval(flushTimer);
      clearInterval(pruneTimer);
      const giveUpAt = Date.now() + deadlineMs;
      while (true) {
        await flush();
        if (buffer.totals.size === 0) return;
        if (Date.now() >= giveUpAt) break;
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
      const pending = this.pendingRequests;
      options.log.error(
        { keys: buffer.totals.size, requests: pending },
        "usage could not be written before shutdown: these counts are lost",
      );
    },
  };
}

export type UsageRecorder = ReturnType<typeof createUsageRecorder>;

/** Element-wise sum of two integer arrays of any lengths. */
const arraySum = (a: string, b: string) =>
  `(select coalesce(array_agg(coalesce(x, 0) + coalesce(y, 0) order by i), '{}') from unnest(${a}, ${b}) with ordinality as s(x, y, i))`;
/** Sum of two `{name: count}` objects. */
const objectSum = (a: string, b: string) =>
  `(select coalesce(jsonb_object_agg(k, n), '{}'::jsonb) from (select key as k, sum(value::bigint) as n from (select * from jsonb_each_text(${a}) union all select * from jsonb_each_text(${b})) e group by key) s)`;

const cellJson = (cell: Cell) => ({
  key_id: cell.keyId,
  requests: cell.requests,
  by_status: cell.byStatus,
  routes: cell.routes,
  latency_sum_ms: cell.latencySumMs,
  latency_buckets: trimHistogram(cell.latencyBuckets),
});

/**
 * The Postgres sink: one statement per batch (data-modifying CTEs) updates `total_requests`
 * and `last_used_at`, upserts the minute rollups, and upserts the day rollups with the
 * day's peak minute taken from the minute rows as they stand after this write (so several
 * processes writing the same minute still yield the true peak). Keys deleted meanwhile are
 * skipped rather than failing the batch.
 */
export function createPostgresUsageSink(db: Database): UsageSink {
  return {
    async write(batch) {
      const totals = [...batch.totals].map(([keyId, t]) => ({
        key_id: keyId,
        requests: t.requests,
        last_used_at: new Date(t.lastUsedAtMs).toISOString(),
      }));
      const minutes = [...batch.minutes.values()].map((cell) => ({
        ...cellJson(cell),
        minute: new Date(cell.start).toISOString(),
      }));
      const days = [...batch.days.values()].map((cell) => ({
        ...cellJson(cell),
        day: new Date(cell.start).toISOString().slice(0, 10),
        rate_limited_by_hour: cell.rateLimitedByHour,
      }));
      await db.execute(sql`
        with totals as (
          select * from jsonb_to_recordset(${JSON.stringify(totals)}::jsonb)
            as t(key_id uuid, requests bigint, last_used_at timestamptz)
        ), updated as (
          update api_keys k
             set total_requests = k.total_requests + t.requests,
                 last_used_at = greatest(k.last_used_at, t.last_used_at)
            from totals t
           where k.id = t.key_id
          returning k.id
        ), minute_input as (
          select * from jsonb_to_recordset(${JSON.stringify(minutes)}::jsonb)
            as t(key_id uuid, minute timestamptz, requests int, by_status jsonb, routes jsonb,
                 latency_sum_ms float8, latency_buckets int[])
        ), minutes as (
          insert into usage_minutes as u
            (key_id, minute, requests, by_status, routes, latency_sum_ms, latency_buckets)
          select m.key_id, m.minute, m.requests, m.by_status, m.routes, m.latency_sum_ms, m.latency_buckets
            from minute_input m
           where exists (select 1 from api_keys k where k.id = m.key_id)
          on conflict (key_id, minute) do update set
            requests = u.requests + excluded.requests,
            by_status = ${sql.raw(objectSum("u.by_status", "excluded.by_status"))},
            routes = ${sql.raw(objectSum("u.routes", "excluded.routes"))},
            latency_sum_ms = u.latency_sum_ms + excluded.latency_sum_ms,
            latency_buckets = ${sql.raw(arraySum("u.latency_buckets", "excluded.latency_buckets"))}
          returning key_id, minute, requests
        ), day_input as (
          select * from jsonb_to_recordset(${JSON.stringify(days)}::jsonb)
            as t(key_id uuid, day date, requests bigint, by_status jsonb, routes jsonb,
                 latency_sum_ms float8, latency_buckets bigint[], rate_limited_by_hour int[])
        ), days as (
          insert into usage_days as u
            (key_id, day, requests, by_status, routes, latency_sum_ms, latency_buckets,
             peak_minute_requests, rate_limited_by_hour)
          select d.key_id, d.day, d.requests, d.by_status, d.routes, d.latency_sum_ms,
                 d.latency_buckets,
                 coalesce((select max(m.requests) from minutes m
                            where m.key_id = d.key_id
                              and (m.minute at time zone 'UTC')::date = d.day), 0),
                 d.rate_limited_by_hour
            from day_input d
           where exists (select 1 from api_keys k where k.id = d.key_id)
          on conflict (key_id, day) do update set
            requests = u.requests + excluded.requests,
            by_status = ${sql.raw(objectSum("u.by_status", "excluded.by_status"))},
            routes = ${sql.raw(objectSum("u.routes", "excluded.routes"))},
            latency_sum_ms = u.latency_sum_ms + excluded.latency_sum_ms,
            latency_buckets = ${sql.raw(arraySum("u.latency_buckets", "excluded.latency_buckets"))},
            peak_minute_requests = greatest(u.peak_minute_requests, excluded.peak_minute_requests),
            rate_limited_by_hour = ${sql.raw(arraySum("u.rate_limited_by_hour", "excluded.rate_limited_by_hour"))}
          returning 1
        )
        select (select count(*) from updated) as keys,
               (select count(*) from minutes) as minutes,
               (select count(*) from days) as days
      `);
    },
    async prune(beforeMs) {
      const before = new Date(beforeMs);
      await db.execute(
        sql`delete from usage_minutes where minute < ${before.toISOString()}::timestamptz`,
      );
      await db.execute(
        sql`delete from usage_days where day < (${before.toISOString()}::timestamptz at time zone 'UTC')::date`,
      );
    },
  };
}

/**
 * The path recorded for analytics: no query string (it can hold `api_key`), id-like segments
 * folded to `:id` so one client walking many objects does not flood the route breakdown.
 */
export function routeLabel(path: string): string {
  return path
    .split("/")
    .map((segment) => (/^(?=.*\d)[0-9A-Za-z_-]{8,}$|^\d+$/.test(segment) ? ":id" : segment))
    .join("/")
    .slice(0, 200);
}
