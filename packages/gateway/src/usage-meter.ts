import { RANDOM_READS_ARE_CHEAP, isDatabaseUnavailable, sql, type Database } from "@repo/db";
import {
  safeError,
  writeAlertEvents,
  writeCanaryTriggers,
  type AlertEventInput,
  type CanaryTriggerInput,
} from "@repo/core";
import { bucketIndex } from "@repo/core";
import type { AddressRecorder } from "./address-recorder.js";
import { slotAfter } from "./write-slots.js";

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
  /** Quota the request consumed, in requests (0 when it was refused or costs nothing). */
  quota?: number;
  /**
   * Quota the key's UTC minute held after this request, as the rate limiter counts it (see
   * `Quota.minuteUsed`): every process's with Redis. Absent when the limiter was not asked.
   */
  minuteQuota?: number;
  /** The client address (recorded per key by the address recorder). */
  address?: string;
}

/**
 * Counts by name for the handful of names one cell sees (statuses, routes, latency buckets),
 * as one flat array `[name, count, name, count, …]`, created at its exact size. An object
 * keyed by status code or a 140-slot histogram would cost kilobytes per active key (V8 gives
 * `{"200": n}` a 200-slot elements store, and a pushed-to array room for 17 entries).
 */
export type Tally<Name extends string | number> = (Name | number)[];

/** `tally` with `n` more for `name`; assign the result back (the first add allocates). */
function tallyAdd<Name extends string | number>(
  tally: Tally<Name>,
  name: Name,
  n: number,
): Tally<Name> {
  if (tally.length === 0) return [name, n];
  for (let i = 0; i < tally.length; i += 2) {
    if (tally[i] === name) {
      (tally[i + 1] as number) += n;
      return tally;
    }
  }
  tally.push(name, n);
  return tally;
}

function tallyEach<Name extends string | number>(
  tally: Tally<Name>,
  visit: (name: Name, count: number) => void,
) {
  for (let i = 0; i < tally.length; i += 2) visit(tally[i] as Name, tally[i + 1] as number);
}

export function tallyGet<Name extends string | number>(tally: Tally<Name>, name: Name): number {
  for (let i = 0; i < tally.length; i += 2) if (tally[i] === name) return tally[i + 1] as number;
  return 0;
}

/** `{name: count}`: a tally read as an object (the sink writes the same as JSON, `tallyJson`). */
export function tallyObject(tally: Tally<string | number>): Record<string, number> {
  const out: Record<string, number> = {};
  tallyEach(tally, (name, count) => (out[name] = count));
  return out;
}

/**
 * The dense histogram (no trailing empty buckets) of a tally of bucket indexes, as a Postgres
 * array literal. A tally of one bucket (nearly every key, every flush, when many keys are
 * active) is written without building the array.
 */
function histogramLiteral(tally: Tally<number>): string {
  if (tally.length === 2) return `{${"0,".repeat(tally[0] as number)}${tally[1]}}`;
  let length = 0;
  tallyEach(tally, (bucket) => (length = Math.max(length, bucket + 1)));
  const dense = new Array<number>(length).fill(0);
  tallyEach(tally, (bucket, count) => (dense[bucket]! += count));
  return arrayLiteral(dense);
}

function addRoute(routes: Tally<string>, route: string, n: number): Tally<string> {
  const known = routes.length < MAX_ROUTES_PER_CELL * 2 || routes.includes(route);
  return tallyAdd(routes, known ? route : "(other)", n);
}

export interface Cell {
  keyId: string;
  /** Start of the UTC hour or day, epoch ms. */
  start: number;
  requests: number;
  byStatus: Tally<number>;
  routes: Tally<string>;
  latencySumMs: number;
  /** Requests per latency bucket (see @repo/core histogram). */
  latency: Tally<number>;
  /** Quota consumed by accepted requests (traffic is `requests`). */
  quotaUsed: number;
  /**
   * The most quota one UTC minute of the cell held, as the rate limiter reported it: in an
   * hour cell its busiest minute so far, in a day cell the day's busiest minute. The
   * limiter's count is already the sum over processes (with Redis), so cells and rows merge
   * by taking the larger, and no per-minute rows are needed to find the peak.
   */
  peakMinuteQuota: number;
}

export interface DayCell extends Cell {
  rateLimitedByHour: number[];
}

/** Everything one key did since the last successful write. */
export interface KeyUsage {
  keyId: string;
  requests: number;
  lastUsedAtMs: number;
  /**
   * Per UTC hour, oldest first (nearly always one: the current hour). Hours, not minutes: the
   * rollups keep days and 429s per hour, and a key whose usage is held for a minute (see
   * `coalesceAboveKeys`) would otherwise carry two cells most of the time.
   */
  cells: Cell[];
  /**
   * When the key's usage is written while usage is being coalesced (see `coalesceAboveKeys`):
   * the first of its slots after it started waiting. Absent in spill files: due at once.
   */
  dueAtMs?: number;
}

/** What a sink writes at once: a bounded slice of the buffer and its day rollups. */
export interface UsageBatch {
  keys: KeyUsage[];
  days: DayCell[];
}

/**
 * Where usage goes. Postgres rollups today; an event store (ClickHouse, …) can take over
 * behind the same interface when volume outgrows them.
 */
export interface UsageSink {
  /**
   * Writes a batch (a bounded number of keys, see `KEYS_PER_WRITE`) atomically: all of it or nothing, so a
   * retry cannot double count.
   */
  write(batch: UsageBatch): Promise<void>;
  /** Deletes rollups that start before `beforeMs`. */
  prune(beforeMs: number): Promise<void>;
}

/**
 * Keys per write: each statement stays the same bounded size however many keys were active,
 * so a flush's cost per key is flat and no statement holds the database for long.
 */
export const KEYS_PER_WRITE = 2_000;

/** How often a key's usage is written while usage is coalesced (see `coalesceAboveKeys`). */
export const COALESCE_MS = 60_000;

export interface UsageLogger {
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface UsageRecorderOptions {
  sink: UsageSink;
  /** How often buffered usage is written (the most a hard crash can lose). */
  flushIntervalMs: number;
  /** Keys per statement (default `KEYS_PER_WRITE`). */
  keysPerWrite?: number;
  /**
   * With more keys than this waiting at a tick (default: one statement's worth,
   * `keysPerWrite`), each key's usage is written once per `coalesceMs` instead of every tick,
   * at a slot of its own in that period, so the writes stay spread evenly. With 100,000 keys in
   * rotation each row then folds about a minute of a key's requests instead of one or two:
   * PostgreSQL's CPU per request fell from 40 to 8 µs in the `scale` bench, and totals,
   * `last_used_at` and rollups trail by up to `coalesceMs`. A graceful shutdown still writes
   * everything.
   */
  coalesceAboveKeys?: number;
  /** See `coalesceAboveKeys` (default `COALESCE_MS`, a minute). */
  coalesceMs?: number;
  /**
   * Hour cells held at most (default 400,000, a few hundred bytes each), as while the database is
   * unreachable; past it, key totals are still kept. Coalescing holds every active key's cell
   * for up to a minute, and two of them just after the hour: room for 200,000 active keys.
   */
  maxBufferedCells?: number;
  retentionDays?: number;
  /**
   * false: count `total_requests`/`last_used_at` only, without the per-minute and per-day
   * rollups the usage analytics read (an operator's switch, and the benchmark's baseline).
   */
  analytics?: boolean;
  now: () => number;
  log: UsageLogger;
  /** Where each key is used from: fed by `record`, written by the flushes (see its `flush`). */
  addresses?: AddressRecorder;
  /** Where data-plane alerts are written (the alert outbox); without it none are kept. */
  alertsDb?: Database;
  /**
   * Where `close` puts what it could not write (a spill file, replayed at the next start);
   * returns where, for the log. Without it, unwritten counts are reported as lost.
   */
  spill?: (keys: readonly KeyUsage[]) => string;
}

const newCell = (keyId: string, start: number): Cell => ({
  keyId,
  start,
  requests: 0,
  byStatus: [],
  routes: [],
  latencySumMs: 0,
  latency: [],
  quotaUsed: 0,
  peakMinuteQuota: 0,
});

function mergeCell(target: Cell, source: Cell) {
  target.requests += source.requests;
  tallyEach(source.byStatus, (s, n) => (target.byStatus = tallyAdd(target.byStatus, s, n)));
  tallyEach(source.routes, (r, n) => (target.routes = addRoute(target.routes, r, n)));
  target.latencySumMs += source.latencySumMs;
  tallyEach(source.latency, (b, n) => (target.latency = tallyAdd(target.latency, b, n)));
  target.quotaUsed += source.quotaUsed;
  target.peakMinuteQuota = Math.max(target.peakMinuteQuota, source.peakMinuteQuota);
}

/**
 * The day rollups of a set of keys' hour cells: each hour merged into its UTC day, and its
 * 429s into the day's hour. Done once per write, so a request only touches its hour. A key
 * with a single hour (nearly every key, every flush) gets a day that shares that hour's
 * tallies instead of a merged copy: the batch is only read, and dropped once written.
 */
export function rollUpDays(keys: readonly KeyUsage[]): DayCell[] {
  const days: DayCell[] = [];
  for (const usage of keys) {
    if (usage.cells.length === 1) {
      days.push(dayOfOneCell(usage.cells[0]!));
      continue;
    }
    const first = days.length;
    for (const hour of usage.cells) {
      const dayStart = hour.start - (hour.start % DAY_MS);
      let day: DayCell | undefined;
      for (let i = first; i < days.length && !day; i++)
        if (days[i]!.start === dayStart) day = days[i];
      if (!day) {
        day = { ...newCell(usage.keyId, dayStart), rateLimitedByHour: NONE_BY_HOUR };
        days.push(day);
      }
      mergeCell(day, hour);
      const limited = tallyGet(hour.byStatus, 429);
      if (limited > 0) {
        if (day.rateLimitedByHour === NONE_BY_HOUR) day.rateLimitedByHour = hourSlots();
        day.rateLimitedByHour[hourOfDay(hour.start, dayStart)]! += limited;
      }
    }
  }
  return days;
}

const hourSlots = () => new Array<number>(24).fill(0);
const hourOfDay = (atMs: number, dayStart: number) => Math.floor((atMs - dayStart) / HOUR_MS);
/** The 429s per hour of a day cell that has none: shared, frozen (a write to it throws). */
const NONE_BY_HOUR: number[] = Object.freeze(hourSlots()) as number[];
const NONE_BY_HOUR_LITERAL = `{${NONE_BY_HOUR.join(",")}}`;
/** A day's 429s per hour as a Postgres array literal (the shared empty one is built once). */
const hoursLiteral = (hours: number[]) =>
  hours === NONE_BY_HOUR ? NONE_BY_HOUR_LITERAL : arrayLiteral(hours);

function dayOfOneCell(hour: Cell): DayCell {
  const dayStart = hour.start - (hour.start % DAY_MS);
  const limited = tallyGet(hour.byStatus, 429);
  let rateLimitedByHour = NONE_BY_HOUR;
  if (limited > 0) {
    rateLimitedByHour = hourSlots();
    rateLimitedByHour[hourOfDay(hour.start, dayStart)] = limited;
  }
  // Every field by name: a spread copy cost a tenth of building a write's statement.
  return {
    keyId: hour.keyId,
    start: dayStart,
    requests: hour.requests,
    byStatus: hour.byStatus,
    routes: hour.routes,
    latencySumMs: hour.latencySumMs,
    latency: hour.latency,
    quotaUsed: hour.quotaUsed,
    peakMinuteQuota: hour.peakMinuteQuota,
    rateLimitedByHour,
  };
}

/** Adds `source` (recorded later, or earlier when restoring) into `target`. */
function mergeUsage(target: KeyUsage, source: KeyUsage) {
  target.requests += source.requests;
  target.lastUsedAtMs = Math.max(target.lastUsedAtMs, source.lastUsedAtMs);
  for (const cell of source.cells) {
    const into = target.cells.find((c) => c.start === cell.start);
    if (into) mergeCell(into, cell);
    else target.cells.push(cell);
  }
  target.cells.sort((a, b) => a.start - b.start);
}

/**
 * Aggregates usage in memory and writes it every `flushIntervalMs` (each key once per
 * `coalesceMs` while more than `coalesceAboveKeys` keys wait) and on `close` (graceful
 * shutdown), in batches of `KEYS_PER_WRITE` keys, one after the other; a flush never starts
 * while the previous one is still writing. A failed write puts its batch and the ones after
 * it back and is retried on the next tick, so a database outage delays counts instead of
 * losing them.
 */
export function createUsageRecorder(options: UsageRecorderOptions) {
  const maxCells = options.maxBufferedCells ?? 400_000;
  const keysPerWrite = options.keysPerWrite ?? KEYS_PER_WRITE;
  const coalesceAboveKeys = options.coalesceAboveKeys ?? keysPerWrite;
  const coalesceMs = options.coalesceMs ?? COALESCE_MS;
  const analytics = options.analytics ?? true;
  const retentionMs = (options.retentionDays ?? 90) * DAY_MS;
  let buffer = new Map<string, KeyUsage>();
  let bufferedCells = 0;
  let flushing: Promise<boolean> | null = null;
  let droppedCells = 0;
  let failures = 0;
  const addresses = options.addresses;
  // Alerts raised by the data plane (quota warnings, revoked keys used, canary uses): written
  // before the usage of each flush, idempotently (ids and dedupe keys), so retries add none twice.
  let alerts: AlertEventInput[] = [];
  let canaryTriggers: CanaryTriggerInput[] = [];
  let droppedAlerts = 0;
  let flushSoon = false;

  function recordAlert(alert: AlertEventInput) {
    if (alerts.length < MAX_BUFFERED_ALERTS) alerts.push(alert);
    else droppedAlerts++;
  }

  function recordCanaryTrigger(trigger: CanaryTriggerInput) {
    if (canaryTriggers.length < MAX_BUFFERED_ALERTS) canaryTriggers.push(trigger);
    else droppedAlerts++;
    // A canary is an intrusion in progress: written now rather than at the next tick.
    if (!flushSoon) {
      flushSoon = true;
      setImmediate(() => {
        flushSoon = false;
        void flush("due");
      });
    }
  }

  async function writeAlerts() {
    if (droppedAlerts > 0) {
      options.log.error({ droppedAlerts }, "alert buffer full: these alerts were dropped");
      droppedAlerts = 0;
    }
    if (alerts.length === 0 && canaryTriggers.length === 0) return;
    const [pendingAlerts, pendingTriggers] = [alerts, canaryTriggers];
    alerts = [];
    canaryTriggers = [];
    try {
      await writeCanaryTriggers(options.alertsDb!, pendingTriggers);
      await writeAlertEvents(options.alertsDb!, pendingAlerts);
    } catch (error) {
      // Kept and retried with the next flush (bounded like the rest of the buffer).
      alerts = pendingAlerts.concat(alerts).slice(0, MAX_BUFFERED_ALERTS);
      canaryTriggers = pendingTriggers.concat(canaryTriggers).slice(0, MAX_BUFFERED_ALERTS);
      options.log.warn({ error: safeError(error) }, "alert write failed: kept in memory, retrying");
    }
  }

  function record(event: UsageEvent) {
    if (event.address !== undefined) addresses?.record(event.keyId, event.address, event.atMs);
    let usage = buffer.get(event.keyId);
    if (usage) {
      usage.requests++;
      if (event.atMs > usage.lastUsedAtMs) usage.lastUsedAtMs = event.atMs;
    } else {
      usage = {
        keyId: event.keyId,
        requests: 1,
        lastUsedAtMs: event.atMs,
        cells: [],
        dueAtMs: slotAfter(event.keyId, event.atMs, coalesceMs),
      };
      buffer.set(event.keyId, usage);
    }
    if (!analytics) return;

    const hourStart = event.atMs - (event.atMs % HOUR_MS);
    const last = usage.cells.at(-1);
    let cell = last?.start === hourStart ? last : usage.cells.find((c) => c.start === hourStart);
    if (!cell) {
      if (bufferedCells >= maxCells) {
        droppedCells++;
        return;
      }
      cell = newCell(event.keyId, hourStart);
      bufferedCells++;
      // A literal, not a push: a pushed-to empty array reserves room for 17 cells.
      if (usage.cells.length === 0) usage.cells = [cell];
      else usage.cells.push(cell);
      if (last && last.start > hourStart) usage.cells.sort((a, b) => a.start - b.start);
    }
    cell.requests++;
    cell.byStatus = tallyAdd(cell.byStatus, event.status, 1);
    cell.routes = addRoute(cell.routes, event.route, 1);
    cell.latencySumMs += event.latencyMs;
    cell.latency = tallyAdd(cell.latency, bucketIndex(event.latencyMs), 1);
    if (event.quota) cell.quotaUsed += event.quota;
    if (event.minuteQuota !== undefined && event.minuteQuota > cell.peakMinuteQuota)
      cell.peakMinuteQuota = event.minuteQuota;
  }

  /** Puts usage that could not be written back, merged with what arrived since. */
  function restore(failed: readonly KeyUsage[]) {
    const current = buffer;
    buffer = new Map(failed.map((usage) => [usage.keyId, usage]));
    for (const usage of current.values()) {
      const into = buffer.get(usage.keyId);
      if (into) mergeUsage(into, usage);
      else buffer.set(usage.keyId, usage);
    }
    bufferedCells = 0;
    for (const usage of buffer.values()) bufferedCells += usage.cells.length;
  }

  /**
   * What a flush takes out of the buffer: everything, or, when coalescing (a tick with more
   * than `coalesceAboveKeys` keys waiting), the keys whose slot has come. A scan of the
   * buffer: about 5 ms a tick at 100,000 keys (profiled), 0.3 µs a request there.
   */
  function take(scope: "due" | "everything"): KeyUsage[] {
    if (scope === "everything" || buffer.size <= coalesceAboveKeys) {
      const all = [...buffer.values()];
      buffer = new Map();
      bufferedCells = 0;
      return all;
    }
    const now = options.now();
    const due: KeyUsage[] = [];
    for (const usage of buffer.values()) if ((usage.dueAtMs ?? 0) <= now) due.push(usage);
    for (const usage of due) {
      buffer.delete(usage.keyId);
      bufferedCells -= usage.cells.length;
    }
    return due;
  }

  async function writeOnce(scope: "due" | "everything"): Promise<boolean> {
    if (droppedCells > 0) {
      options.log.error(
        { droppedEvents: droppedCells, maxBufferedCells: maxCells },
        "usage buffer full: analytics detail for these requests was dropped (request totals kept)",
      );
      droppedCells = 0;
    }
    const pending = take(scope);
    if (pending.length === 0) return true;
    for (let from = 0; from < pending.length; from += keysPerWrite) {
      const keys = pending.slice(from, from + keysPerWrite);
      try {
        await options.sink.write({ keys, days: rollUpDays(keys) });
        failures = 0;
      } catch (error) {
        failures++;
        const transient = isDatabaseUnavailable(error);
        const dropped = !transient && failures >= 3;
        if (dropped) {
          // Not an outage and not going away by retrying: report exactly what is given up.
          let requests = 0;
          for (const usage of keys) requests += usage.requests;
          options.log.error(
            { error: safeError(error), keys: keys.length, requests },
            "usage batch rejected by the database three times: dropped",
          );
          failures = 0;
        }
        restore(pending.slice(dropped ? from + keysPerWrite : from));
        if (!dropped) {
          options.log.warn(
            { error: safeError(error), keys: buffer.size, attempt: failures },
            "usage write failed: kept in memory, retrying",
          );
        }
        return false;
      }
    }
    return true;
  }

  /**
   * Writes what is buffered now; resolves true when it was written (or nothing was due). A
   * write already in flight took an earlier snapshot, so the call waits for it and then
   * writes what arrived since. The timer's ticks leave client addresses written less than a
   * minute ago for later (`scope` "due", see the address recorder); a call writes them all.
   */
  function flush(scope: "due" | "everything" = "everything"): Promise<boolean> {
    if (flushing) return flushing.then(() => flush(scope));
    flushing = (options.alertsDb ? writeAlerts() : Promise.resolve())
      .then(() => writeOnce(scope))
      .then(async (written) =>
        addresses ? (await addresses.flush(options.now(), scope)) && written : written,
      )
      .finally(() => (flushing = null));
    return flushing;
  }

  // A tick that finds the previous flush still writing skips: flushes never pile up.
  const flushTimer = setInterval(() => {
    if (!flushing) void flush("due");
  }, options.flushIntervalMs);
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
    recordAlert,
    recordCanaryTrigger,
    flush,
    prune,
    /** Requests recorded but not yet written. */
    get pendingRequests() {
      let n = 0;
      for (const usage of buffer.values()) n += usage.requests;
      return n;
    },
    /** Keys with usage not yet written. */
    get pendingKeys() {
      return buffer.size;
    },
    /**
     * Stops the timers and writes everything, retrying until `deadlineMs` has passed
     * (graceful shutdown). What still could not be written goes to the spill file, or is
     * logged as lost; resolves to the number of requests lost (0 when nothing was).
     */
    async close(deadlineMs = 5_000): Promise<number> {
      clearInterval(flushTimer);
      clearInterval(pruneTimer);
      const giveUpAt = Date.now() + deadlineMs;
      while (true) {
        await flush();
        if (
          buffer.size === 0 &&
          !addresses?.pending &&
          alerts.length + canaryTriggers.length === 0
        ) {
          return 0;
        }
        if (Date.now() >= giveUpAt) break;
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
      return this.spillPending();
    },
    /**
     * Writes the counts still buffered to the spill file (or logs them as lost). Synchronous,
     * so a shutdown that overran its grace period can call it just before exiting. Returns
     * the number of requests lost.
     */
    spillPending(): number {
      const pending = this.pendingRequests;
      // Only client addresses or alerts were left, no counts: nothing to spill.
      if (pending === 0) return 0;
      if (options.spill) {
        try {
          const file = options.spill([...buffer.values()]);
          options.log.warn(
            { keys: buffer.size, requests: pending, file },
            "usage could not be written before shutdown: spilled to a file, replayed at the next start",
          );
          buffer = new Map();
          return 0;
        } catch (error) {
          options.log.error({ error: safeError(error) }, "usage spill file could not be written");
        }
      }
      options.log.error(
        { keys: buffer.size, requests: pending },
        "usage could not be written before shutdown: these counts are lost",
      );
      return pending;
    },
  };
}

export type UsageRecorder = ReturnType<typeof createUsageRecorder>;

const MAX_BUFFERED_ALERTS = 10_000;

/**
 * Element-wise sum of two integer arrays of any lengths. An array constructor over the pairs
 * costs 4.9 µs for 29 elements against 8.1 µs for an `array_agg` subquery (measured on
 * 100,000 rows); these merges were most of the rollup upserts' cost.
 */
const arraySum = (a: string, b: string) =>
  `array(select coalesce(x, 0) + coalesce(y, 0) from unnest(${a}, ${b}) with ordinality as s(x, y, i) order by i)`;
/**
 * Sum of two `{name: count}` objects: the stored one `a` with the entries of the new one `b`
 * added. Walks only `b` (one or two names a flush, against the dozens a day's row collects):
 * merging both sides with a union and a group by cost 40 µs a row against 18 µs for this,
 * measured on 25,000 minute rows.
 */
const objectSum = (a: string, b: string) =>
  `(${a} || coalesce((select jsonb_object_agg(e.key, e.value::bigint + coalesce((${a} ->> e.key)::bigint, 0)) from jsonb_each_text(${b}) e), '{}'::jsonb))`;

/**
 * A Postgres array literal of values that need no quoting (uuids, finite numbers, ISO times
 * and dates), sent as one text parameter and cast in SQL. The driver's array serializer
 * quotes and escapes every element: a tenth of the process's CPU for a flush, measured at
 * 20,000 keys, where a join costs a fraction of that.
 */
const arrayLiteral = (values: readonly (string | number)[]) => `{${values.join(",")}}`;

/**
 * Texts that hold no newline (JSON from `JSON.stringify`, array literals) one per line: one
 * text parameter, split in SQL with `string_to_array(…, E'\n')`, instead of an array the
 * driver would quote and escape element by element.
 */
const lines = (values: readonly string[]) => values.join("\n");

/**
 * A tally as the rollup rows' JSON stores it (`{"200":1}`), written straight from its pairs:
 * names are distinct, numbers need no escaping and text names go through `JSON.stringify`.
 */
function tallyJson(tally: Tally<string | number>): string {
  let json = "{";
  for (let i = 0; i < tally.length; i += 2) {
    const name = tally[i]!;
    json += `${i === 0 ? "" : ","}${typeof name === "number" ? `"${name}"` : JSON.stringify(name)}:${tally[i + 1]}`;
  }
  return `${json}}`;
}

/**
 * The Postgres sink: one statement per batch (in a transaction that plans it for rows in
 * memory, see `RANDOM_READS_ARE_CHEAP`), with every input as one array parameter per column
 * (`unnest`), so the statement text never changes and the driver prepares it once per
 * connection. The arrays travel as text built here (see `arrayLiteral` and `lines`) and are
 * cast in SQL; nested arrays as one literal per line (Postgres has no ragged arrays). The
 * JSON lines are cast row by row after `unnest`: casting the split `text[]` to `jsonb[]` as
 * a whole cost about 12 µs of PostgreSQL's CPU a row against 1 µs (measured on 2,000-key
 * batches over 100,000 stored rows), a third of the whole write.
 * Data-modifying CTEs update `total_requests` and `last_used_at` and upsert the day rollups:
 * two rows per key, the day's peak minute merged as the larger of the stored and the new
 * (see `Cell.peakMinuteQuota`). Before migration 0008 a third row per key and minute was
 * upserted to find that peak, a third of the write's cost. Keys deleted meanwhile are skipped
 * rather than failing the batch.
 */
export function createPostgresUsageSink(db: Database): UsageSink {
  return {
    async write(batch) {
      const column = <T>(rows: readonly T[], value: (row: T) => string | number) =>
        arrayLiteral(rows.map(value));
      const jsonColumn = <T>(rows: readonly T[], value: (row: T) => string) =>
        lines(rows.map(value));
      await db.transaction(async (tx) => {
        await tx.execute(RANDOM_READS_ARE_CHEAP);
        await tx.execute(sql`
        with totals as (
          select key_id, requests,
                 'epoch'::timestamptz + last_used_ms * interval '1 millisecond' as last_used_at
            from unnest(${column(batch.keys, (u) => u.keyId)}::uuid[],
                        ${column(batch.keys, (u) => u.requests)}::bigint[],
                        ${column(batch.keys, (u) => u.lastUsedAtMs)}::float8[])
            as t(key_id, requests, last_used_ms)
        ), updated as (
          update api_keys k
             set total_requests = k.total_requests + t.requests,
                 last_used_at = greatest(k.last_used_at, t.last_used_at)
            from totals t
           where k.id = t.key_id
          returning k.id
        ), day_input as (
          select key_id, date '1970-01-01' + day_number as day, requests, by_status::jsonb as by_status,
                 routes::jsonb as routes, latency_sum_ms,
                 latency_buckets::bigint[] as latency_buckets,
                 rate_limited_by_hour::int[] as rate_limited_by_hour, quota_used,
                 peak_minute_quota
            from unnest(${column(batch.days, (c) => c.keyId)}::uuid[],
                        ${column(batch.days, (c) => c.start / DAY_MS)}::int[],
                        ${column(batch.days, (c) => c.requests)}::bigint[],
                        string_to_array(${jsonColumn(batch.days, (c) => tallyJson(c.byStatus))}, E'\n'),
                        string_to_array(${jsonColumn(batch.days, (c) => tallyJson(c.routes))}, E'\n'),
                        ${column(batch.days, (c) => c.latencySumMs)}::float8[],
                        string_to_array(${jsonColumn(batch.days, (c) => histogramLiteral(c.latency))}, E'\n'),
                        string_to_array(${jsonColumn(batch.days, (c) => hoursLiteral(c.rateLimitedByHour))}, E'\n'),
                        ${column(batch.days, (c) => c.quotaUsed)}::float8[],
                        ${column(batch.days, (c) => c.peakMinuteQuota)}::float8[])
            as t(key_id, day_number, requests, by_status, routes, latency_sum_ms, latency_buckets,
                 rate_limited_by_hour, quota_used, peak_minute_quota)
        ), days as (
          insert into usage_days as u
            (key_id, day, requests, by_status, routes, latency_sum_ms, latency_buckets,
             rate_limited_by_hour, quota_used, peak_minute_quota)
          select d.key_id, d.day, d.requests, d.by_status, d.routes, d.latency_sum_ms,
                 d.latency_buckets, d.rate_limited_by_hour, d.quota_used, d.peak_minute_quota
            from day_input d
           where d.key_id in (select id from updated)
          on conflict (key_id, day) do update set
            requests = u.requests + excluded.requests,
            by_status = ${sql.raw(objectSum("u.by_status", "excluded.by_status"))},
            routes = ${sql.raw(objectSum("u.routes", "excluded.routes"))},
            latency_sum_ms = u.latency_sum_ms + excluded.latency_sum_ms,
            latency_buckets = ${sql.raw(arraySum("u.latency_buckets", "excluded.latency_buckets"))},
            rate_limited_by_hour = case
              when excluded.rate_limited_by_hour = array_fill(0, array[24])
                then u.rate_limited_by_hour
              else ${sql.raw(arraySum("u.rate_limited_by_hour", "excluded.rate_limited_by_hour"))} end,
            quota_used = u.quota_used + excluded.quota_used,
            peak_minute_quota = greatest(u.peak_minute_quota, excluded.peak_minute_quota)
          returning 1
        )
        select (select count(*) from updated) as keys, (select count(*) from days) as days
      `);
      });
    },
    async prune(beforeMs) {
      const before = new Date(beforeMs);
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
