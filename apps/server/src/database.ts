import path from "node:path";
import { openDatabase } from "@repo/db";
import type { Env } from "./env.js";

/** Postgres when DATABASE_URL is set, otherwise the embedded PGlite under DATA_DIR. */
export function openConfiguredDatabase(env: Env) {
  return env.DATABASE_URL
    ? openDatabase({ kind: "postgres", url: env.DATABASE_URL, poolSize: env.DATABASE_POOL_SIZE })
    : openDatabase({ kind: "pglite", dataDir: path.join(env.dataDir, "pglite") });
}
