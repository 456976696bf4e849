import { bigint, index, integer, pgTable, text, timestamp, uuid } from "drizzle-orm/pg-core";
import { users } from "./users.js";

/**
 * An account's TOTP authenticator (RFC 6238). `confirmedAt` null = enrolment begun but not
 * confirmed with a code yet (sign-in does not ask for it).
 */
export const totpFactors = pgTable("totp_factors", {
  userId: text()
    .primaryKey()
    .references(() => users.id, { onDelete: "cascade" }),
  /** Base32 secret: the server must read it back to check codes, so it cannot be hashed. */
  secret: text().notNull(),
  confirmedAt: timestamp({ withTimezone: true }),
  /** The last 30-second time step a code was accepted for: a code works once per window. */
  lastUsedStep: bigint({ mode: "number" }),
  createdAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
});

/** Single-use recovery codes: only their SHA-256 is stored. */
export const recoveryCodes = pgTable(
  "recovery_codes",
  {
    id: uuid().primaryKey().defaultRandom(),
    userId: text()
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    codeHash: text().notNull(),
    usedAt: timestamp({ withTimezone: true }),
    createdAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [index("recovery_codes_user_idx").on(t.userId)],
);

/** WebAuthn credentials (passkeys) registered to an account. */
export const passkeys = pgTable(
  "passkeys",
  {
    /** The credential id (base64url), as the authenticator names it. */
    id: text().primaryKey(),
    userId: text()
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    name: text().notNull(),
    /** COSE public key, base64url. */
    publicKey: text().notNull(),
    counter: bigint({ mode: "number" }).notNull().default(0),
    transports: text().array(),
    backedUp: text({ enum: ["yes", "no"] })
      .notNull()
      .default("no"),
    createdAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
    lastUsedAt: timestamp({ withTimezone: true }),
  },
  (t) => [index("passkeys_user_idx").on(t.userId)],
);

/**
 * Short-lived, single-use challenges: the password step of a two-step sign-in, and WebAuthn
 * registration / sign-in ceremonies. The browser holds a random token (in an HttpOnly
 * cookie or bound to its session); the row id is its SHA-256.
 */
export const authChallenges = pgTable(
  "auth_challenges",
  {
    id: text().primaryKey(),
    kind: text({ enum: ["second_factor", "passkey_sign_in", "passkey_register"] }).notNull(),
    userId: text().references(() => users.id, { onDelete: "cascade" }),
    /** WebAuthn challenge (base64url) for passkey ceremonies. */
    challenge: text(),
    /** Wrong codes tried against this challenge. */
    attempts: integer().notNull().default(0),
    expiresAt: timestamp({ withTimezone: true }).notNull(),
    createdAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [index("auth_challenges_expires_idx").on(t.expiresAt)],
);

/** One-time password-reset links issued by an operator (`users reset-password`). */
export const passwordResets = pgTable("password_resets", {
  /** SHA-256 of the token in the link. */
  id: text().primaryKey(),
  userId: text()
    .notNull()
    .references(() => users.id, { onDelete: "cascade" }),
  expiresAt: timestamp({ withTimezone: true }).notNull(),
  usedAt: timestamp({ withTimezone: true }),
  createdAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
});
