import { index, pgTable, text, timestamp } from "drizzle-orm/pg-core";
import { users } from "./users.js";

export const sessions = pgTable(
  "sessions",
  {
    /**
     * SHA-256 (hex) of the session token held in the cookie, never the token itself:
     * a read of this table does not hand out live sessions.
     */
    id: text().primaryKey(),
    userId: text()
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    /** Idle expiry; Lucia pushes it forward while the session is used. */
    expiresAt: timestamp({ withTimezone: true }).notNull(),
    /** Start of the session, for the absolute lifetime that Lucia does not enforce itself. */
    createdAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
    /** Last request made with the session (written at most once a minute). */
    lastSeenAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
    /** Last time the holder proved who they are (sign-in or re-authentication): sudo mode. */
    authenticatedAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
    /** Where the session was signed in from, shown on the Security page. */
    ip: text(),
    userAgent: text(),
  },
  (t) => [index("sessions_user_id_idx").on(t.userId)],
);
