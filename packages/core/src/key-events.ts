import { sql, type Executor } from "@repo/db";

/**
 * Postgres NOTIFY channel carrying the hash of every key that was revoked or changed. Sent
 * inside the changing transaction, so it is delivered exactly when the change commits; every
 * server process listening drops the key from its verification cache.
 */
export const KEY_CHANGES_CHANNEL = "api_key_changes";

export async function notifyKeysChanged(tx: Executor, keyHashes: readonly string[]) {
  for (const hash of keyHashes) {
    await tx.execute(sql`select pg_notify(${KEY_CHANGES_CHANNEL}, ${hash})`);
  }
}
