import { RateLimiterMemory, RateLimiterRes, type RateLimiterAbstract } from "rate-limiter-flexible";
import { ApiError } from "../errors.js";

export interface ThrottlePolicy {
  /** Failed sign-ins allowed per account per window. */
  perAccount: number;
  /** Failed sign-ins allowed per client address per window. */
  perAddress: number;
  windowSeconds: number;
  /** Sign-ups allowed per client address per window. */
  signUpsPerAddress: number;
  /** Keys one account may create per minute (bounds scripted abuse of a stolen session). */
  keyCreatesPerMinute: number;
}

export const DEFAULT_THROTTLE_POLICY: ThrottlePolicy = {
  perAccount: 10,
  perAddress: 50,
  windowSeconds: 15 * 60,
  signUpsPerAddress: 20,
  keyCreatesPerMinute: 30,
};

export type AuthThrottle = ReturnType<typeof createAuthThrottle>;

/**
 * Abuse throttles for the management plane. Throttles password guessing per account (however many addresses it comes from) and per
 * address (however many accounts it tries). An attempt takes its point before the password
 * is checked, so concurrent guesses cannot overshoot; a success gives it back.
 */
export function createAuthThrottle(policy: ThrottlePolicy = DEFAULT_THROTTLE_POLICY) {
  const make = (points: number, keyPrefix: string): RateLimiterAbstract =>
    new RateLimiterMemory({ points, duration: policy.windowSeconds, keyPrefix });
  const byAccount = make(policy.perAccount, "signin_account");
  const byAddress = make(policy.perAddress, "signin_address");
  const signUps = make(policy.signUpsPerAddress, "signup_address");
  const keyCreates = new RateLimiterMemory({
    points: policy.keyCreatesPerMinute,
    duration: 60,
    keyPrefix: "key_create",
  });

  async function take(limiter: RateLimiterAbstract, key: string): Promise<void> {
    try {
      await limiter.consume(key);
    } catch (error) {
      if (!(error instanceof RateLimiterRes)) throw error;
      const retryAfter = Math.max(1, Math.ceil(error.msBeforeNext / 1000));
      throw new ApiError("too_many_attempts", { headers: { "retry-after": String(retryAfter) } });
    }
  }

  return {
    async beginSignIn(email: string, address: string): Promise<void> {
      await take(byAddress, address);
      await take(byAccount, email);
    },
    async signInSucceeded(email: string, address: string): Promise<void> {
      await byAccount.delete(email);
      await byAddress.reward(address, 1);
    },
    async beginSignUp(address: string): Promise<void> {
      await take(signUps, address);
    },
    async beginKeyCreate(userId: string): Promise<void> {
      await take(keyCreates, userId);
    },
  };
}
