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
}
