import type { Database } from "@repo/db";
import type { AuthThrottle } from "./auth/throttle.js";
import type { SessionManager } from "./auth/session.js";
import type { DestinationPolicy } from "./webhooks/ssrf-guard.js";

/** Everything the API needs from its host, built once by the server (or a test). */
export interface ApiDeps {
  db: Database;
  sessions: SessionManager;
  throttle: AuthThrottle;
  /** Exact origins (scheme://host[:port]) allowed to make state-changing requests. */
  allowedOrigins: ReadonlySet<string>;
  signUpEnabled: boolean;
  /** The URL users open: passkeys are bound to its host name (RP id) and origin. */
  publicUrl: URL;
  now: () => Date;
  /**
   * Called after a transaction that created, revoked or changed keys has committed, with
   * their hashes, so this process's verification cache and key filter see it at once (other
   * processes learn through NOTIFY on KEY_CHANGES_CHANNEL).
   */
  onKeysChanged: (keyHashes: readonly string[]) => void;
  /** Called after canaries were minted or retired: this process's gateway reloads its set. */
  onCanariesChanged: () => Promise<void>;
  /** Where webhook endpoints may point (WEBHOOK_ALLOWED_CIDRS). */
  webhookPolicy: DestinationPolicy;
  /**
   * Changes (mutations) one account may have in flight in this process; more are answered 503
   * with `Retry-After: 1` at once (default {@link DEFAULT_CHANGES_IN_FLIGHT_PER_ACCOUNT}).
   */
  changesInFlightPerAccount?: number;
}

/**
 * A change waits at most 1.5 s for a row lock. Without a per-account bound, one account whose
 * rows are locked (or a script hammering it) could hold every connection of the pool for that
 * long, and every other account's changes would wait behind it. The server sets half of
 * DATABASE_POOL_SIZE (5 by default); this is the bound when nothing is set.
 */
export const DEFAULT_CHANGES_IN_FLIGHT_PER_ACCOUNT = 4;
