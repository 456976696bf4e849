import { sql } from "drizzle-orm";
import { check, pgTable, text, timestamp, uniqueIndex } from "drizzle-orm/pg-core";

export const users = pgTable(
  "users",
  {
    /** Random opaque id (Lucia requires text ids). */
    id: text().primaryKey(),
    /** Stored trimmed and lower-cased; the unique index on lower() is the real guarantee. */
    email: text().notNull(),
    /** argon2id PHC string. */
    passwordHash: text().notNull(),
    /** The subscription tier; keys copy it (and its limits) when they are minted. */
    tier: text({ enum: ["free", "pro"] })
      .notNull()
      .default("free"),
    createdAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
    /** Set by an operator (`users disable`): the account cannot sign in. Null = enabled. */
    disabledAt: timestamp({ withTimezone: true }),
  },
  (t) => [
    uniqueIndex("users_email_lower_idx").on(sql`lower(${t.email})`),
    check("users_tier_check", sql`${t.tier} in ('free', 'pro')`),
  ],
);

export type User = typeof users.$inferSelect;
