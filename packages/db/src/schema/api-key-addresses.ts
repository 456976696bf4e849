import { bigint, index, pgTable, primaryKey, text, timestamp, uuid } from "drizzle-orm/pg-core";
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
  (t) => [
    primaryKey({ columns: [t.keyId, t.address] }),
    index("api_key_addresses_key_last_seen_idx").on(t.keyId, t.lastSeenAt.desc()),
  ],
);
