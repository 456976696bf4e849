import type { Database } from "@repo/db";
import type { AuthThrottle } from "./auth/throttle.js";
import type { SessionManager } from "./auth/session.js";

/** Everything the API needs from its host, built once by the server (or a test). */
export interface ApiDeps {
  db: Database;
  sessions: SessionManager;
  throttle: AuthThrottle;
  /** Exact origins (scheme://host[:port]) allowed to make state-changing requests. */
  allowedOrigins: ReadonlySet<string>;
  signUpEnabled: boolean;
  now: () => Date;
  /**
   * Called after a transaction that revoked or changed keys has committed, with their hashes,
   * so this process's verification cache drops them at once (other processes learn through
   * NOTIFY on KEY_CHANGES_CHANNEL).
   */
  onKeysChanged: (keyHashes: readonly string[]) => void;
}
