import { bigserial, index, integer, pgTable, text, timestamp, uuid } from "drizzle-orm/pg-core";
import { alertEvents } from "./alert-events.js";
import { users } from "./users.js";

/** An account's HTTPS receivers of signed events. */
export const webhookEndpoints = pgTable(
  "webhook_endpoints",
  {
    id: uuid().primaryKey().defaultRandom(),
    ownerId: text()
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    url: text().notNull(),
    description: text().notNull().default(""),
    events: text().array().notNull(),
    /**
     * `whsec_…`. Kept in the clear: an HMAC needs the key itself (as every Standard Webhooks
     * sender does); it is never returned after creation or rotation, nor logged.
     */
    secret: text().notNull(),
    /** The secret before the last rotation, still signing until `previousSecretExpiresAt`. */
    previousSecret: text(),
    previousSecretExpiresAt: timestamp({ withTimezone: true }),
    createdAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
    /** Since when every delivery failed (null: the last one succeeded). */
    failingSince: timestamp({ withTimezone: true }),
    disabledAt: timestamp({ withTimezone: true }),
    disabledReason: text(),
  },
  (t) => [index("webhook_endpoints_owner_idx").on(t.ownerId, t.createdAt.desc())],
);

/**
 * The durable outbox: one row per (event, endpoint). Workers claim due rows with
 * `FOR UPDATE SKIP LOCKED` and a lease, so several processes deliver each once.
 */
export const webhookDeliveries = pgTable(
  "webhook_deliveries",
  {
    id: bigserial({ mode: "number" }).primaryKey(),
    eventId: uuid()
      .notNull()
      .references(() => alertEvents.id, { onDelete: "cascade" }),
    endpointId: uuid()
      .notNull()
      .references(() => webhookEndpoints.id, { onDelete: "cascade" }),
    /** `pending` | `delivered` | `failed` (gave up or endpoint disabled). */
    status: text().notNull().default("pending"),
    attempts: integer().notNull().default(0),
    nextAttemptAt: timestamp({ withTimezone: true }),
    /** A worker holds the row until then (a crashed worker's claim lapses). */
    lockedUntil: timestamp({ withTimezone: true }),
    lastStatus: integer(),
    lastError: text(),
    lastDurationMs: integer(),
    lastAttemptAt: timestamp({ withTimezone: true }),
    createdAt: timestamp({ withTimezone: true }).notNull(),
  },
  (t) => [
    index("webhook_deliveries_due_idx").on(t.status, t.nextAttemptAt),
    index("webhook_deliveries_endpoint_idx").on(t.endpointId, t.id.desc()),
  ],
);
