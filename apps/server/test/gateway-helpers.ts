import { randomBytes } from "node:crypto";
import { generateKey, TIERS, type Tier } from "@repo/api";
import { apiKeys, eq, users, type Database } from "@repo/db";

export interface TestKey {
  key: string;
  hash: string;
  id: string;
  ownerId: string;
}

/** Creates an account and a key straight in the database (the mint API is not under test). */
export async function createKey(
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

export async function keyRow(db: Database, id: string) {
  const [row] = await db.select().from(apiKeys).where(eq(apiKeys.id, id));
  return row!;
}

/** A settable clock for the app's injectable `now`. */
export function fakeClock(start: string) {
  let current = new Date(start).getTime();
  return {
    now: () => new Date(current),
    set(iso: string) {
      current = new Date(iso).getTime();
    },
    advance(ms: number) {
      current += ms;
    },
  };
}
