import type { Redis } from "ioredis";

const MINUTE_MS = 60_000;
const DAY_MS = 86_400_000;
/**
 * Counters count half requests, so that every cost in use (1, and TAXII's 2.5) is a whole
 * number of units in memory and in Redis. Limits and `remaining` are still in requests.
 */
const UNITS_PER_REQUEST = 2;

/** A request's cost (e.g. 2.5) in counter units. */
function unitsOf(cost: number): number {
  return Math.round(cost * UNITS_PER_REQUEST);
}

export interface Limits {
  perMinute: number;
  perDay: number;
}

/** The outcome for one request, and what its X-RateLimit-* headers say. */
export interface Quota {
  allowed: boolean;
  /** The window the headers describe: the minute, or the day once that one binds. */
  window: "minute" | "day";
  limit: number;
  remaining: number;
  /** Unix seconds at which `window` resets. */
  reset: number;
  /** Seconds until a refused request may succeed (429 only). */
  retryAfter: number;
  minuteRemaining: number;
  dayRemaining: number;
  /**
   * Quota the key's current UTC minute holds after this request, in requests (whole or half):
   * every process's with Redis. The usage analytics' per-minute peak is the largest seen.
   */
  minuteUsed: number;
  /** Unix seconds at which each window resets. */
  minuteReset: number;
  dayReset: number;
}

export interface RateLimiter {
  /**
   * Takes `cost` requests (1 unless the route weighs more, in steps of 0.5) from both
   * windows of `keyId` atomically, or nothing when either cannot hold it (a refused request
   * consumes nothing). `consume: false` only reads the state, for responses that are refused
   * for another reason but still report the key's quota.
   */
  take(
    keyId: string,
    limits: Limits,
    nowMs: number,
    consume?: boolean,
    cost?: number,
  ): Quota | Promise<Quota>;
  /** Whether the counters can be reached (waiting up to `waitMs` for a connection). */
  ready(waitMs?: number): Promise<boolean>;
  close(): Promise<void>;
}

/** Window starts for fixed UTC windows (epoch ms is UTC, so flooring is the UTC boundary). */
export function windowStarts(nowMs: number) {
  return { minute: nowMs - (nowMs % MINUTE_MS), day: nowMs - (nowMs % DAY_MS) };
}

/**
 * Builds the reported quota from the counter units after this request (shared by both
 * limiters). `units` is what the request costs, which decides the binding window of a refusal.
 */
export function quotaFrom(
  allowed: boolean,
  minuteUnits: number,
  dayUnits: number,
  units: number,
  limits: Limits,
  nowMs: number,
): Quota {
  const starts = windowStarts(nowMs);
  const minuteRemaining = requestsLeft(limits.perMinute, minuteUnits);
  const dayRemaining = requestsLeft(limits.perDay, dayUnits);
  // The day binds once it has less left than the minute (or is what refused the request).
  const dayBinds = allowed
    ? dayRemaining < minuteRemaining
    : dayUnits + units > limits.perDay * UNITS_PER_REQUEST;
  const windowEnd = dayBinds ? starts.day + DAY_MS : starts.minute + MINUTE_MS;
  return {
    allowed,
    window: dayBinds ? "day" : "minute",
    limit: dayBinds ? limits.perDay : limits.perMinute,
    remaining: dayBinds ? dayRemaining : minuteRemaining,
    reset: Math.ceil(windowEnd / 1000),
    retryAfter: Math.max(1, Math.ceil((windowEnd - nowMs) / 1000)),
    minuteRemaining,
    dayRemaining,
    minuteUsed: minuteUnits / UNITS_PER_REQUEST,
    minuteReset: (starts.minute + MINUTE_MS) / 1000,
    dayReset: (starts.day + DAY_MS) / 1000,
  };
}

/** Whole requests (of cost 1) that still fit under `limit` with `used` units taken. */
function requestsLeft(limit: number, used: number): number {
  return Math.max(0, Math.floor((limit * UNITS_PER_REQUEST - used) / UNITS_PER_REQUEST));
}

/** True when both windows can hold `units` more. */
function fits(minuteUnits: number, dayUnits: number, units: number, limits: Limits) {
  return (
    minuteUnits + units <= limits.perMinute * UNITS_PER_REQUEST &&
    dayUnits + units <= limits.perDay * UNITS_PER_REQUEST
  );
}

interface Counters {
  minuteStart: number;
  minute: number;
  dayStart: number;
  day: number;
}

/**
 * Per-key counters of the current UTC minute and day: the in-process limiter's state, and the
 * Redis limiter's record of what it accepted. Yesterday's entries are dropped once a day.
 */
function windowCounters() {
  const counters = new Map<string, Counters>();
  let lastSweepDay = 0;
  return {
    entries: () => counters.entries(),
    /** The key's counters, reset for any window that has moved on since they were used. */
    current(keyId: string, nowMs: number): Counters {
      const starts = windowStarts(nowMs);
      if (starts.day !== lastSweepDay) {
        for (const [id, c] of counters) if (c.dayStart !== starts.day) counters.delete(id);
        lastSweepDay = starts.day;
      }
      let c = counters.get(keyId);
      if (!c) {
        c = { minuteStart: starts.minute, minute: 0, dayStart: starts.day, day: 0 };
        counters.set(keyId, c);
      }
      if (c.minuteStart !== starts.minute)
        Object.assign(c, { minuteStart: starts.minute, minute: 0 });
      if (c.dayStart !== starts.day) Object.assign(c, { dayStart: starts.day, day: 0 });
      return c;
    },
  };
}

/**
 * Exact counters for one process. `take` is synchronous, so concurrent requests cannot both
 * see the last unit of quota (and the hot path awaits nothing).
 */
export function createMemoryRateLimiter(): RateLimiter {
  const counters = windowCounters();

  return {
    take(keyId, limits, nowMs, consume = true, cost = 1) {
      const units = unitsOf(cost);
      const c = counters.current(keyId, nowMs);
      const allowed = fits(c.minute, c.day, units, limits);
      if (allowed && consume) {
        c.minute += units;
        c.day += units;
      }
      return quotaFrom(allowed, c.minute, c.day, units, limits, nowMs);
    },
    ready: () => Promise.resolve(true),
    close: () => Promise.resolve(),
  };
}

/**
 * Both windows in one round trip: check both, then add the request's units to both or to
 * neither. Keys carry the window start (from the app clock) and expire after their window, so
 * no reset logic is needed; the `{keyId}` hash tag keeps both keys in one Redis Cluster slot.
 * ARGV: minute limit, day limit (both in units), minute TTL, day TTL (ms), consume, units.
 */
const TAKE_SCRIPT = `
local units = tonumber(ARGV[6])
local minute = tonumber(redis.call('GET', KEYS[1]) or '0')
local day = tonumber(redis.call('GET', KEYS[2]) or '0')
if ARGV[5] == '0' or minute + units > tonumber(ARGV[1]) or day + units > tonumber(ARGV[2]) then
  return {0, minute, day}
end
minute = redis.call('INCRBY', KEYS[1], units)
if minute == units then redis.call('PEXPIRE', KEYS[1], ARGV[3]) end
day = redis.call('INCRBY', KEYS[2], units)
if day == units then redis.call('PEXPIRE', KEYS[2], ARGV[4]) end
return {1, minute, day}
`;

/**
 * Adds units to a window counter unconditionally (restoring what was accepted before a
 * Redis restart). ARGV: units, TTL (ms).
 */
const RESTORE_SCRIPT = `
local n = redis.call('INCRBY', KEYS[1], ARGV[1])
if n == tonumber(ARGV[1]) then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return n
`;

/**
 * Names this Redis's dataset: a random value set once, kept as long as the data is. A
 * different (or missing) value after a reconnect means the counters were lost (a restart
 * without persistence, a flush, a failover to an empty replica).
 */
const EPOCH_SCRIPT = `
redis.call('SET', KEYS[1], ARGV[1], 'NX')
return redis.call('GET', KEYS[1])
`;

interface TakeCommand {
  keyserviceTake(
    minuteKey: string,
    dayKey: string,
    perMinute: number,
    perDay: number,
    minuteTtlMs: number,
    dayTtlMs: number,
    consume: "0" | "1",
    units: number,
  ): Promise<[number, number, number]>;
  keyserviceRestore(key: string, units: number, ttlMs: number): Promise<number>;
  keyserviceEpoch(key: string, candidate: string): Promise<string>;
}

/**
 * Limits shared by every process using the same Redis. ioredis sends the script by EVALSHA
 * (loading it on first use), so each request is one atomic round trip.
 *
 * Each process also counts, in memory, the units it took in the current windows (a
 * shadow). When Redis comes back without its data (the dataset's epoch changed), every
 * process adds its shadow back before answering again, so the windows hold at least what
 * was accepted in them and no key gets more than its limit. With persistence (see README)
 * the epoch survives a restart and nothing is added twice.
 */
export function createRedisRateLimiter(
  redis: Redis,
  keyPrefix: string,
  onRestoreError: (error: unknown) => void = () => {},
): RateLimiter {
  redis.defineCommand("keyserviceTake", { numberOfKeys: 2, lua: TAKE_SCRIPT });
  redis.defineCommand("keyserviceRestore", { numberOfKeys: 1, lua: RESTORE_SCRIPT });
  redis.defineCommand("keyserviceEpoch", { numberOfKeys: 1, lua: EPOCH_SCRIPT });
  const client = redis as Redis & TakeCommand;
  const accepted = windowCounters();
  let epoch: string | undefined;
  /** While set, takes wait: the windows are being restored. */
  let restoring: Promise<void> | undefined;

  const minuteKey = (keyId: string, start: number) => `${keyPrefix}{${keyId}}:mu:${start}`;
  const dayKey = (keyId: string, start: number) => `${keyPrefix}{${keyId}}:du:${start}`;

  async function checkEpoch() {
    const current = await client.keyserviceEpoch(
      `${keyPrefix}epoch`,
      `${Date.now()}-${Math.random().toString(36).slice(2)}`,
    );
    const lost = epoch !== undefined && current !== epoch;
    epoch = current;
    if (!lost) return;
    const starts = windowStarts(Date.now());
    const writes: Promise<unknown>[] = [];
    for (const [keyId, c] of accepted.entries()) {
      if (c.minuteStart === starts.minute && c.minute > 0) {
        writes.push(
          client.keyserviceRestore(minuteKey(keyId, c.minuteStart), c.minute, MINUTE_MS + 60_000),
        );
      }
      if (c.dayStart === starts.day && c.day > 0) {
        writes.push(client.keyserviceRestore(dayKey(keyId, c.dayStart), c.day, DAY_MS + 60_000));
      }
    }
    await Promise.all(writes);
  }

  redis.on("ready", () => {
    restoring = checkEpoch()
      .catch(onRestoreError)
      .finally(() => (restoring = undefined));
  });

  return {
    async take(keyId, limits, nowMs, consume = true, cost = 1) {
      if (restoring) await restoring;
      const starts = windowStarts(nowMs);
      const units = unitsOf(cost);
      const [ok, minute, day] = await client.keyserviceTake(
        // "u": the counters hold units (half requests), not requests.
        minuteKey(keyId, starts.minute),
        dayKey(keyId, starts.day),
        limits.perMinute * UNITS_PER_REQUEST,
        limits.perDay * UNITS_PER_REQUEST,
        // Outlive the window a little, so clocks a few seconds apart still share the counter.
        MINUTE_MS + 60_000,
        DAY_MS + 60_000,
        consume ? "1" : "0",
        units,
      );
      if (consume && ok === 1) {
        // What this process accepted, to restore should Redis lose it (see above).
        const c = accepted.current(keyId, nowMs);
        c.minute += units;
        c.day += units;
      }
      // A dry read reports the counts as they are; "allowed" then means "would be allowed".
      const allowed = consume ? ok === 1 : fits(minute, day, units, limits);
      return quotaFrom(allowed, minute, day, units, limits, nowMs);
    },
    async ready(waitMs = 1_000) {
      const deadline = Date.now() + waitMs;
      while (redis.status !== "ready" && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
      if (restoring) await restoring;
      try {
        return (await redis.ping()) === "PONG";
      } catch {
        return false;
      }
    },
    async close() {
      await redis.quit().catch(() => redis.disconnect());
    },
  };
}
