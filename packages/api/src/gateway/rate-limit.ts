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
 * Exact counters for one process. `take` is synchronous, so concurrent requests cannot both
 * see the last unit of quota (and the hot path awaits nothing).
 */
export function createMemoryRateLimiter(): RateLimiter {
  const counters = new Map<string, Counters>();
  let lastSweepDay = 0;

  return {
    take(keyId, limits, nowMs, consume = true, cost = 1) {
      const starts = windowStarts(nowMs);
      const units = unitsOf(cost);
      if (starts.day !== lastSweepDay) {
        // Yesterday's counters are dead weight: drop them once a day.
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
      const allowed = fits(c.minute, c.day, units, limits);
      if (allowed && consume) {
        c.minute += units;
        c.day += units;
      }
      return quotaFrom(allowed, c.minute, c.day, units, limits, nowMs);
    },
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
}

/**
 * Limits shared by every process using the same Redis. ioredis sends the script by EVALSHA
 * (loading it on first use), so each request is one atomic round trip.
 */
export function createRedisRateLimiter(redis: Redis, keyPrefix: string): RateLimiter {
  redis.defineCommand("keyserviceTake", { numberOfKeys: 2, lua: TAKE_SCRIPT });
  const client = redis as Redis & TakeCommand;
  return {
    async take(keyId, limits, nowMs, consume = true, cost = 1) {
      const starts = windowStarts(nowMs);
      const units = unitsOf(cost);
      const [ok, minute, day] = await client.keyserviceTake(
        // "u": the counters hold units (half requests), not requests.
        `${keyPrefix}{${keyId}}:mu:${starts.minute}`,
        `${keyPrefix}{${keyId}}:du:${starts.day}`,
        limits.perMinute * UNITS_PER_REQUEST,
        limits.perDay * UNITS_PER_REQUEST,
        // Outlive the window a little, so clocks a few seconds apart still share the counter.
        MINUTE_MS + 60_000,
        DAY_MS + 60_000,
        consume ? "1" : "0",
        units,
      );
      // A dry read reports the counts as they are; "allowed" then means "would be allowed".
      const allowed = consume ? ok === 1 : fits(minute, day, units, limits);
      return quotaFrom(allowed, minute, day, units, limits, nowMs);
    },
    async close() {
      await redis.quit().catch(() => redis.disconnect());
    },
  };
}
