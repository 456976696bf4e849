import type { Redis } from "ioredis";
import {
  RateLimiterMemory,
  RateLimiterRedis,
  RateLimiterRes,
  type RateLimiterAbstract,
} from "rate-limiter-flexible";
import { ApiError } from "@repo/core";

export interface ThrottlePolicy {
  /** Failed sign-ins allowed per (account, client address) per window, then 429 for that pair. */
  perAccountAddress: number;
  /** Failed sign-ins allowed per client address per window (however many accounts it tries). */
  perAddress: number;
  /**
   * Failed sign-ins per account (from any address) after which the account is slowed down:
   * each further failure makes the next attempt wait 1, 2, 4 … seconds, up to `maxDelaySeconds`.
   * Never a lockout: strangers can slow the owner down, not keep them out.
   */
  slowDownAfter: number;
  maxDelaySeconds: number;
  windowSeconds: number;
  /** Wrong second-factor codes per account per window (the password was right). */
  secondFactorFailures: number;
  /** Sign-ups allowed per client address per window. */
  signUpsPerAddress: number;
  /** Keys one account may create per minute (bounds scripted abuse of a stolen session). */
  keyCreatesPerMinute: number;
}

export const DEFAULT_THROTTLE_POLICY: ThrottlePolicy = {
  perAccountAddress: 10,
  perAddress: 50,
  slowDownAfter: 10,
  maxDelaySeconds: 60,
  windowSeconds: 15 * 60,
  secondFactorFailures: 10,
  signUpsPerAddress: 20,
  keyCreatesPerMinute: 30,
};

export interface ThrottleStore {
  /** Counters shared by every server process; unset = this process's memory. */
  redis?: Redis | undefined;
  /** Namespace of the counters in Redis. */
  keyPrefix?: string;
}

export type AuthThrottle = ReturnType<typeof createAuthThrottle>;

/**
 * Abuse throttles for the management plane, in Redis when one is configured (so a second
 * server process does not hand out more guesses) and in memory otherwise. While Redis is
 * unreachable each process falls back to its own memory counters rather than failing
 * sign-ins. Attempts take their point before the password is checked, so concurrent guesses
 * cannot overshoot.
 */
export function createAuthThrottle(
  policy: ThrottlePolicy = DEFAULT_THROTTLE_POLICY,
  store: ThrottleStore = {},
) {
  const prefix = store.keyPrefix ?? "keyservice:auth:";
  const make = (name: string, points: number, duration: number): RateLimiterAbstract => {
    const memory = new RateLimiterMemory({ points, duration, keyPrefix: name });
    if (!store.redis) return memory;
    return new RateLimiterRedis({
      storeClient: store.redis,
      points,
      duration,
      keyPrefix: `${prefix}${name}`,
      insuranceLimiter: memory,
    });
  };
  const window = policy.windowSeconds;
  const byPair = make("signin_pair", policy.perAccountAddress, window);
  const byAddress = make("signin_address", policy.perAddress, window);
  // Counts failures only (never refuses by itself); `accountDelay` holds the slow-down.
  const accountFailures = make("signin_account", 1_000_000, window);
  const accountDelay = make("signin_delay", 1, policy.maxDelaySeconds);
  const secondFactor = make("second_factor", policy.secondFactorFailures, window);
  const signUps = make("signup_address", policy.signUpsPerAddress, window);
  const keyCreates = make("key_create", policy.keyCreatesPerMinute, 60);

  const refuse = (msBeforeNext: number) =>
    new ApiError("too_many_attempts", {
      headers: { "retry-after": String(Math.max(1, Math.ceil(msBeforeNext / 1000))) },
    });

  async function take(limiter: RateLimiterAbstract, key: string): Promise<void> {
    try {
      await limiter.consume(key);
    } catch (error) {
      if (!(error instanceof RateLimiterRes)) throw error;
      throw refuse(error.msBeforeNext);
    }
  }

  const pairKey = (email: string, address: string) => `${email}|${address}`;

  return {
    /**
     * Before a password check: refuses the pair or the address. Resolves to how long the
     * account is still slowed down (0: it is not); the caller decides what that means (see
     * `signIn`: an account with a second factor still lets its owner in).
     */
    async beginSignIn(email: string, address: string): Promise<number> {
      const delay = await accountDelay.get(email);
      await take(byAddress, address);
      await take(byPair, pairKey(email, address));
      return delay && delay.consumedPoints > 0 ? delay.msBeforeNext : 0;
    },

    /** The refusal of an attempt on an account that is slowed down. */
    slowedDown: (msBeforeNext: number) => refuse(msBeforeNext),

    /** After a wrong password: past `slowDownAfter` failures the next attempt must wait. */
    async signInFailed(email: string): Promise<void> {
      const failures = await accountFailures.consume(email);
      const over = failures.consumedPoints - policy.slowDownAfter;
      if (over >= 0) {
        await accountDelay.block(email, Math.min(2 ** over, policy.maxDelaySeconds));
      }
    },

    /** The password was right: this pair and the account start afresh. */
    async signInSucceeded(email: string, address: string): Promise<void> {
      await Promise.all([
        byPair.delete(pairKey(email, address)),
        accountFailures.delete(email),
        accountDelay.delete(email),
        byAddress.reward(address, 1),
      ]);
    },

    /** Before a second-factor code is checked (wrong codes per account per window). */
    async beginSecondFactor(userId: string): Promise<void> {
      const state = await secondFactor.get(userId);
      if (state && state.consumedPoints >= policy.secondFactorFailures) {
        throw refuse(state.msBeforeNext);
      }
    },
    async secondFactorFailed(userId: string): Promise<void> {
      await secondFactor.penalty(userId, 1);
    },
    async secondFactorSucceeded(userId: string): Promise<void> {
      await secondFactor.delete(userId);
    },

    async beginSignUp(address: string): Promise<void> {
      await take(signUps, address);
    },
    async beginKeyCreate(userId: string): Promise<void> {
      await take(keyCreates, userId);
    },
  };
}
