import { sql } from "drizzle-orm";
import {
  bigint,
  check,
  index,
  integer,
  pgTable,
  text,
  timestamp,
  uniqueIndex,
  uuid,
  type AnyPgColumn,
} from "drizzle-orm/pg-core";
import { users } from "./users.js";

export const apiKeys = pgTable(
  "api_keys",
  {
    id: uuid().primaryKey().defaultRandom(),
    ownerId: text()
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    name: text().notNull(),
    /** First 12 characters of the key (`sk_live_` + 4), safe to show and log. */
    keyPrefix: text().notNull(),
    /** SHA-256 (hex) of the full key. The key itself is never stored. */
    keyHash: text().notNull(),
    /** Tier, scopes and limits are copied from the account when the key is minted. */
    tier: text({ enum: ["free", "pro"] }).notNull(),
    scopes: text().array().notNull(),
    rateLimitPerMinute: integer().notNull(),
    rateLimitPerDay: integer().notNull(),
    /** IPv4/IPv6 addresses or CIDR ranges; null means any address. */
    allowedIps: text().array(),
    /** Every request attributed to the key, whatever its status (written in batches). */
    totalRequests: bigint({ mode: "number" }).notNull().default(0),
    lastUsedAt: timestamp({ withTimezone: true }),
    createdAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
    /** Null: never expires. */
    expiresAt: timestamp({ withTimezone: true }),
    /** Null: active. Set once; revocation is irreversible. */
    revokedAt: timestamp({ withTimezone: true }),
    revokedReason: text(),
    /**
     * The lifetime the key was minted with, in seconds (null: never expires). A rotation gives
     * the successor the same lifetime, whatever later edits did to this key's expiry.
     */
    lifetimeSeconds: integer(),
    /** Set when the key was rotated: its successor. The key then lives out its grace period. */
    rotatedToId: uuid().references((): AnyPgColumn => apiKeys.id, { onDelete: "set null" }),
    /** The key this one replaced by rotation. */
    rotatedFromId: uuid().references((): AnyPgColumn => apiKeys.id, { onDelete: "set null" }),
  },
  (t) => [
    uniqueIndex("api_keys_key_hash_idx").on(t.keyHash),
    index("api_keys_owner_created_idx").on(t.ownerId, t.createdAt.desc()),
    // The expiry sweep (every minute) reads only live keys that expire: a small partial index.
    index("api_keys_expiring_idx")
      .on(t.expiresAt)
      .where(sql`${t.revokedAt} is null and ${t.expiresAt} is not null`),
    check("api_keys_tier_check", sql`${t.tier} in ('free', 'pro')`),
  ],
);

export type ApiKey = typeof apiKeys.$inferSelect;
