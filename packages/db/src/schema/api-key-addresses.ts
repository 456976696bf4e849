import { bigint, pgTable, primaryKey, text, timestamp, uuid } from "drizzle-orm/pg-core";
import { apiKeys } from "./api-keys.js";

/**
 * The client addresses each key is used from, written by the data plane's batched recorder
 * (never one query per request). IPv4 addresses exactly, IPv6 per /64 (`2001:db8:1:2::/64`).
 * At most 100 rows per key: the least recently seen go first.
 */
export const apiKeyAddresses = pgTable(
  "api_key_addresses",
  {
    keyId: uuid()
      .notNull()
      .references(() => apiKeys.id, { onDelete: "cascade" }),
    address: text().notNull(),
    firstSeenAt: timestamp({ withTimezone: true }).notNull(),
    lastSeenAt: timestamp({ withTimezone: true }).notNull(),
    requests: bigint({ mode: "number" }).notNull(),
  },
  // No index on last_seen_at: it changes with every write, and an indexed column that changes
  // rules out in-place (HOT) updates. The primary key finds a key's rows (at most 100) and
  // they are sorted in memory.
  (t) => [primaryKey({ columns: [t.keyId, t.address] })],
);
