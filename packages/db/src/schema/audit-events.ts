import { bigserial, index, jsonb, pgTable, text, timestamp, uuid } from "drizzle-orm/pg-core";
import { users } from "./users.js";

export const auditEvents = pgTable(
  "audit_events",
  {
    id: bigserial({ mode: "number" }).primaryKey(),
    /** The account the event belongs to; null for sign-in attempts on unknown emails. */
    userId: text().references(() => users.id, { onDelete: "cascade" }),
    /** e.g. `auth.sign_in`, `auth.sign_in_failed`, `key.created`, `key.revoked`. */
    action: text().notNull(),
    keyId: uuid(),
    keyPrefix: text(),
    /** Small structured context (revoke reason, failure cause). Never secrets. */
    details: jsonb().$type<Record<string, unknown>>(),
    ip: text(),
    userAgent: text(),
    createdAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [index("audit_events_user_id_idx").on(t.userId, t.id.desc())],
);

export type AuditEvent = typeof auditEvents.$inferSelect;
