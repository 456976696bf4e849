import path from "node:path";
import { openDatabase, type DatabaseHandle } from "@repo/db";
import { lockDataDir } from "./data-dir-lock.js";
import type { Env } from "./env.js";

/**
 * Postgres when DATABASE_URL is set, otherwise the embedded PGlite under DATA_DIR, which is
 * locked for this process first (a second process is refused before it touches the data;
 * see data-dir-lock.ts). Closing the handle releases the lock.
 */
export async function openConfiguredDatabase(
  env: Env,
  onAvailabilityChange?: (state: "down" | "up", error?: unknown) => void,
): Promise<DatabaseHandle> {
  if (env.DATABASE_URL) {
    return openDatabase({
      kind: "postgres",
      url: env.DATABASE_URL,
      poolSize: env.DATABASE_POOL_SIZE,
      onAvailabilityChange,
    });
  }
  const lock = lockDataDir(env.dataDir);
  try {
    const handle = await openDatabase({
      kind: "pglite",
      dataDir: path.join(env.dataDir, "pglite"),
    });
    return {
      ...handle,
      async close() {
        try {
          await handle.close();
        } finally {
          lock.release();
        }
      },
    };
  } catch (error) {
    lock.release();
    throw error;
  }
}
