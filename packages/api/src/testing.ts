import { randomBytes } from "node:crypto";
import { apiKeys, users, type Database } from "@repo/db";
import { TIERS, type Tier } from "./config/tiers.js";
import { generateKey } from "./keys/format.js";

export interface TestKey {
  key: string;
  hash: string;
  id: string;
  ownerId: string;
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
  const generated = generateKey();
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
  return { key: generated.key, hash: generated.hash, id: row!.id, ownerId };
}
