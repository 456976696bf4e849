import type { Redis } from "ioredis";

const MINUTE_MS = 60_000;
const DAY_MS = 86_400_000;

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
   * Takes one request from both windows of `keyId` atomically, or none when either is
   * exhausted (a refused request consumes nothing). `consume: false` only reads the state,
   * for responses that are refused for another reason but still report the key's quota.
   */
  take(keyId: string, limits: Limits, nowMs: number, consume?: boolean): Quota | Promise<Quota>;
  close(): Promise<void>;
}

/** Window starts for fixed UTC windows (epoch ms is UTC, so flooring is the UTC boundary). */
export function windowStarts(nowMs: number) {
  return { minute: nowMs - (nowMs % MINUTE_MS), day: nowMs - (nowMs % DAY_MS) };
}

/** Builds the reported quota from the counts after this request (shared by both limiters). */
export function quotaFrom(
  allowed: boolean,
  minuteCount: number,
  dayCount: number,
  limits: Limits,
  nowMs: number,
): Quota {
  const starts = windowStarts(nowMs);
  const minuteRemaining = Math.max(0, limits.perMinute - minuteCount);
  const dayRemaining = Math.max(0, limits.perDay - dayCount);
  // The day binds once it has less left than the minute (or is what refused the request).
  const dayBinds = allowed ? dayRemaining < minuteRemaining : dayCount >= limits.perDay;
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
    take(keyId, limits, nowMs, consume = true) {
      const starts = windowStarts(nowMs);
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
      const allowed = c.minute < limits.perMinute && c.day < limits.perDay;
      if (allowed && consume) {
        c.minute++;
        c.day++;
      }
      return quotaFrom(allowed, c.minute, c.day, limits, nowMs);
    },
    close: () => Promise.resolve(),
  };
}

/**
 * Both windows in one round trip: check both, then increment both or neither. Keys carry the
 * window start (from the app clock) and expire after their window, so no reset logic is
 * needed; the `{keyId}` hash tag keeps both keys in one Redis Cluster slot.
 */
const TAKE_SCRIPT = `
local minute = tonumber(redis.call('GET', KEYS[1]) or '0')
local day = tonumber(redis.call('GET', KEYS[2]) or '0')
if ARGV[5] == '0' or minute >= tonumber(ARGV[1]) or day >= tonumber(ARGV[2]) then
  return {0, minute, day}
end
minute = redis.call('INCR', KEYS[1])
if minute == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[3]) end
day = redis.call('INCR', KEYS[2])
if day == 1 then redis.call('PEXPIRE', KEYS[2], ARGV[4]) end
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
    async take(keyId, limits, nowMs, consume = true) {
      const starts = windowStarts(nowMs);
      const [ok, minute, day] = await client.keyserviceTake(
        `${keyPrefix}{${keyId}}:m:${starts.minute}`,
        `${keyPrefix}{${keyId}}:d:${starts.day}`,
        limits.perMinute,
        limits.perDay,
        // Outlive the window a little, so clocks a few seconds apart still share the counter.
        MINUTE_MS + 60_000,
        DAY_MS + 60_000,
        consume ? "1" : "0",
      );
      // A dry read reports the counts as they are; "allowed" then means "would be allowed".
      const allowed = consume ? ok === 1 : minute < limits.perMinute && day < limits.perDay;
      return quotaFrom(allowed, minute, day, limits, nowMs);
    },
    async close() {
      await redis.quit().catch(() => redis.disconnect());
    },
  };
}
