import { randomBytes } from "node:crypto";
import { apiKeys, users, type Database } from "@repo/db";
import { TIERS, type Tier } from "@repo/core";
import { generateKey } from "@repo/core";

export interface TestKey {
  key: string;
  hash: string;
  id: string;
  ownerId: string;
}

type KeyWaiter = (db: Database, hash: string) => Promise<void>;
const keyWaiters = new Set<KeyWaiter>();

/**
 * For tests: `waiter` runs after every key `insertTestKey` inserts, before it returns. A
 * gateway under test registers one that waits for the key to reach its key filter: on
 * Postgres the insert trigger's NOTIFY arrives asynchronously, while a test uses its key at
 * once. Returns the unregistering function.
 */
export function onTestKeyInserted(waiter: KeyWaiter): () => void {
  keyWaiters.add(waiter);
  return () => keyWaiters.delete(waiter);
}

/**
 * A waiter for `onTestKeyInserted`: keys inserted into `db` wait (up to 5 s, then the test
 * sees the gateway's real answer) until `knows(hash)`.
 */
export function waitUntilKnown(target: Database, knows: (hash: string) => boolean): KeyWaiter {
  return async (db, hash) => {
    if (db !== target) return;
    for (let waited = 0; !knows(hash) && waited < 5_000; waited += 2) {
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
  };
}

/**
 * For tests and benchmarks: an account and a key inserted straight into the database, for
 * code under test that is not the mint API. Never used by the service itself.
 */
export async function insertTestKey(
  db: Database,
  options: {
    tier?: Tier;
    scopes?: string[];
    allowedIps?: string[] | null;
    expiresAt?: Date | null;
    perMinute?: number;
    perDay?: number;
    ownerId?: string;
    /** The key to store (default: a new one). */
    generated?: ReturnType<typeof generateKey>;
  } = {},
): Promise<TestKey> {
  const tier = options.tier ?? "free";
  let ownerId = options.ownerId;
  if (!ownerId) {
    ownerId = randomBytes(15).toString("base64url");
    await db.insert(users).values({
      id: ownerId,
      email: `${ownerId}@example.com`,
      passwordHash: "unused",
      tier,
    });
  }
  const generated = options.generated ?? generateKey();
  const [row] = await db
    .insert(apiKeys)
    .values({
      ownerId,
      name: "gateway-test",
      keyPrefix: generated.prefix,
      keyHash: generated.hash,
      tier,
      scopes: options.scopes ?? [...TIERS[tier].scopes],
      rateLimitPerMinute: options.perMinute ?? TIERS[tier].rateLimitPerMinute,
      rateLimitPerDay: options.perDay ?? TIERS[tier].rateLimitPerDay,
      allowedIps: options.allowedIps ?? null,
      expiresAt: options.expiresAt ?? null,
    })
    .returning({ id: apiKeys.id });
  for (const waiter of keyWaiters) await waiter(db, generated.hash);
  return { key: generated.key, hash: generated.hash, id: row!.id, ownerId };
}
