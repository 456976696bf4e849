import { sql } from "drizzle-orm";
import {
  boolean,
  index,
  jsonb,
  pgTable,
  text,
  timestamp,
  uniqueIndex,
  uuid,
} from "drizzle-orm/pg-core";
import { users } from "./users.js";

/**
 * Every alert raised for an account (key.*, canary.*, account.*, webhook.*): the source of
 * both the in-app notifications and the webhook outbox (`webhook_deliveries`).
 */
export const alertEvents = pgTable(
  "alert_events",
  {
    id: uuid().primaryKey().defaultRandom(),
    ownerId: text()
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    type: text().notNull(),
    /** The webhook body's `data`: ids and prefixes, never a secret. */
    data: jsonb().$type<Record<string, unknown>>().notNull(),
    /**
     * Makes "once per key per day/hour" hold across processes and retried writes: a second
     * insert with the same key is ignored. Null: no deduplication.
     */
    dedupeKey: text(),
    /** Shown in the bell (false when the account turned this event type off). */
    inApp: boolean().notNull().default(true),
    readAt: timestamp({ withTimezone: true }),
    createdAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    uniqueIndex("alert_events_dedupe_idx").on(t.dedupeKey),
    index("alert_events_owner_created_idx")
      .on(t.ownerId, t.createdAt.desc())
      .where(sql`${t.inApp}`),
  ],
);

/** Per-account choice of which event types appear in the bell (absent row: they do). */
export const notificationPreferences = pgTable(
  "notification_preferences",
  {
    ownerId: text()
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    type: text().notNull(),
    inApp: boolean().notNull(),
  },
  (t) => [uniqueIndex("notification_preferences_pk").on(t.ownerId, t.type)],
);
