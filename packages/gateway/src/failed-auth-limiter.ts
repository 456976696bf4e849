import ipaddr from "ipaddr.js";
import type { Redis } from "ioredis";
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes } from "rate-limiter-flexible";

/**
 * Failed key authentications per client address. Its point is taken atomically *before* a
 * key is looked up (so concurrent guesses cannot all pass a check made earlier), and given
 * back when the key verifies: a key that works is never refused because its address (a NAT,
 * everyone behind one proxy) also sent bad ones. IPv6 clients are grouped by /64, the
 * smallest block one subscriber is usually given; shared through Redis when configured.
 */
export interface FailedAuthVerdict {
  blocked: boolean;
  retryAfter: number;
}

export interface FailedAuthLimiter {
  /**
   * Takes one point for `ip` before a key lookup: blocked once the minute's points are spent.
   * Shared through Redis when configured (a promise then), so every process guarding the one
   * database counts an address once.
   */
  take(ip: string): FailedAuthVerdict | Promise<FailedAuthVerdict>;
  /**
   * The same for a key that cannot exist (malformed, or not in the key filter): counted in
   * this process only, with no I/O at all, since such a key never reaches the database.
   */
  takeLocal(ip: string): FailedAuthVerdict;
  /** Whether this process's own count for `ip` is already over the limit (takes nothing). */
  blockedLocally(ip: string): boolean;
  /** Gives the point back (the key verified). */
  refund(ip: string): void;
}

const OPEN: FailedAuthVerdict = { blocked: false, retryAfter: 0 };

/**
 * Per-process counters in fixed UTC minutes: one map per minute, replaced when the minute
 * turns, so rotating addresses never grow it beyond one minute's worth. Single-threaded, so
 * taking a point is atomic.
 */
function createMemoryWindow(perMinute: number, now: () => number) {
  let minute = -1;
  let counts = new Map<string, number>();
  const roll = () => {
    const current = Math.floor(now() / 60_000);
    if (current !== minute) {
      minute = current;
      counts = new Map();
    }
  };
  return {
    take(group: string): FailedAuthVerdict {
      roll();
      const count = (counts.get(group) ?? 0) + 1;
      counts.set(group, count);
      if (count <= perMinute) return OPEN;
      return {
        blocked: true,
        retryAfter: Math.max(1, Math.ceil(((minute + 1) * 60_000 - now()) / 1000)),
      };
    },
    blocked(group: string): boolean {
      roll();
      return (counts.get(group) ?? 0) >= perMinute;
    },
    refund(group: string) {
      roll();
      const count = counts.get(group);
      if (count !== undefined) counts.set(group, Math.max(0, count - 1));
    },
  };
}

/** The address a limit is counted against: IPv4 as is, IPv6 by its /64. */
export function addressGroup(ip: string): string {
  let parsed: ipaddr.IPv4 | ipaddr.IPv6;
  try {
    parsed = ipaddr.process(ip);
  } catch {
    return ip;
  }
  if (parsed.kind() === "ipv4") return parsed.toString();
  const parts = (parsed as ipaddr.IPv6).parts;
  return `${parts
    .slice(0, 4)
    .map((part) => part.toString(16))
    .join(":")}::/64`;
}

export function createFailedAuthLimiter(options: {
  perMinute: number;
  redis?: Redis;
  keyPrefix?: string;
  now?: () => number;
}): FailedAuthLimiter {
  const memory = createMemoryWindow(options.perMinute, options.now ?? Date.now);
  if (!options.redis) {
    const take = (ip: string) => memory.take(addressGroup(ip));
    return {
      take,
      takeLocal: take,
      blockedLocally: (ip) => memory.blocked(addressGroup(ip)),
      refund: (ip) => memory.refund(addressGroup(ip)),
    };
  }
  // Redis down: each process counts on its own meanwhile (never unlimited, never a 503).
  const shared = new RateLimiterRedis({
    storeClient: options.redis,
    points: options.perMinute,
    duration: 60,
    keyPrefix: `${options.keyPrefix ?? "keyservice:rl:"}failed_auth`,
    insuranceLimiter: new RateLimiterMemory({ points: options.perMinute, duration: 60 }),
  });
  return {
    takeLocal: (ip) => memory.take(addressGroup(ip)),
    blockedLocally: (ip) => memory.blocked(addressGroup(ip)),
    async take(ip) {
      try {
        await shared.consume(addressGroup(ip), 1);
        return OPEN;
      } catch (rejection) {
        if (rejection instanceof RateLimiterRes) {
          return {
            blocked: true,
            retryAfter: Math.max(1, Math.ceil(rejection.msBeforeNext / 1000)),
          };
        }
        // Only reached when the insurance limiter failed too: counting is lost, not service.
        return OPEN;
      }
    },
    refund(ip) {
      shared.reward(addressGroup(ip), 1).catch(() => {});
    },
  };
}
