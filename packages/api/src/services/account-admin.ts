// Operator remedies (the `users` CLI): a reset link, ending sessions, removing second
// factors, disabling an account. Each is audited on the account it touches.
import { createHash, randomBytes } from "node:crypto";
import { and, eq, gt, isNull, passkeys, passwordResets, sessions, users } from "@repo/db";
import { ApiError } from "@repo/core";
import type { Database } from "@repo/db";
import type { ApiDeps } from "../deps.js";
import { hashPassword } from "../auth/password.js";
import { assertAcceptablePassword } from "../auth/password-policy.js";
import type { RequestMeta } from "./audit-log.js";
import * as events from "./account-events.js";
import { removeTotp } from "./totp.js";
import { findUserByEmail } from "./user-accounts.js";

export const RESET_LINK_TTL_MS = 60 * 60_000;

const sha256 = (value: string) => createHash("sha256").update(value).digest("hex");

async function accountByEmail(db: Database, email: string) {
  const user = await findUserByEmail(db, email);
  if (!user) throw new ApiError("not_found", { message: `No account with email ${email}.` });
  return user;
}

async function endAllSessions(db: Database, userId: string): Promise<number> {
  const ended = await db
    .delete(sessions)
    .where(eq(sessions.userId, userId))
    .returning({ id: sessions.id });
  return ended.length;
}

/**
 * A one-time link to choose a new password, valid one hour (there is no email: the operator
 * hands it over). The token travels in the URL fragment, which browsers never send to a
 * server, so it does not land in access logs. Issuing a new link voids older unused ones.
 */
export async function issuePasswordReset(
  db: Database,
  email: string,
  publicUrl: URL,
  now = new Date(),
) {
  const user = await accountByEmail(db, email);
  const token = randomBytes(32).toString("base64url");
  const expiresAt = new Date(now.getTime() + RESET_LINK_TTL_MS);
  await db.transaction(async (tx) => {
    await tx
      .update(passwordResets)
      .set({ usedAt: now })
      .where(and(eq(passwordResets.userId, user.id), isNull(passwordResets.usedAt)));
    await tx.insert(passwordResets).values({ id: sha256(token), userId: user.id, expiresAt });
    await events.passwordResetIssued(tx, user.id, expiresAt);
  });
  const link = new URL("/reset-password", publicUrl);
  link.hash = `token=${token}`;
  return { email: user.email, link: link.toString(), expiresAt };
}

/** Sets the new password from a reset link: single use; every session of the account ends. */
export async function resetPasswordWithToken(
  deps: ApiDeps,
  input: { token: string; new_password: string },
  meta: RequestMeta,
) {
  const at = deps.now();
  const [reset] = await deps.db
    .select({ id: passwordResets.id, userId: passwordResets.userId, email: users.email })
    .from(passwordResets)
    .innerJoin(users, eq(users.id, passwordResets.userId))
    .where(
      and(
        eq(passwordResets.id, sha256(input.token)),
        isNull(passwordResets.usedAt),
        gt(passwordResets.expiresAt, at),
      ),
    );
  if (!reset) throw new ApiError("invalid_reset_link");
  assertAcceptablePassword(input.new_password, reset.email, "new_password");
  const passwordHash = await hashPassword(input.new_password);
  const ended = await deps.db.transaction(async (tx) => {
    const claimed = await tx
      .update(passwordResets)
      .set({ usedAt: at })
      .where(and(eq(passwordResets.id, reset.id), isNull(passwordResets.usedAt)))
      .returning({ id: passwordResets.id });
    if (claimed.length === 0) throw new ApiError("invalid_reset_link");
    await tx.update(users).set({ passwordHash }).where(eq(users.id, reset.userId));
    const removed = await tx
      .delete(sessions)
      .where(eq(sessions.userId, reset.userId))
      .returning({ id: sessions.id });
    await events.passwordReset(tx, reset.userId, meta);
    return removed.length;
  });
  if (ended > 0) {
    await events.sessionsEnded(deps.db, reset.userId, { by: "password_reset", count: ended }, meta);
  }
}

export async function revokeSessions(db: Database, email: string) {
  const user = await accountByEmail(db, email);
  const ended = await endAllSessions(db, user.id);
  await events.sessionsEnded(db, user.id, { by: "operator", count: ended });
  return { email: user.email, ended };
}

/** Removes the authenticator app, recovery codes and passkeys; the password stays. */
export async function resetSecondFactors(db: Database, email: string) {
  const user = await accountByEmail(db, email);
  await removeTotp(db, user.id);
  const removed = await db
    .delete(passkeys)
    .where(eq(passkeys.userId, user.id))
    .returning({ id: passkeys.id });
  await events.secondFactorReset(db, user.id);
  return { email: user.email, passkeysRemoved: removed.length };
}

/**
 * Disabled: no sign-in by any means and every session ends at once. Its API keys keep
 * working: they feed SIEMs and detection pipelines, and disabling a person's dashboard
 * access must not silently blind those; an operator who suspects the keys are compromised
 * revokes them as well (`--revoke-keys` is not offered on purpose: that is a separate,
 * irreversible decision).
 */
export async function setAccountDisabled(db: Database, email: string, disabled: boolean) {
  const user = await accountByEmail(db, email);
  await db
    .update(users)
    .set({ disabledAt: disabled ? new Date() : null })
    .where(eq(users.id, user.id));
  if (!disabled) {
    await events.accountEnabled(db, user.id);
    return { email: user.email, sessionsEnded: 0 };
  }
  const ended = await endAllSessions(db, user.id);
  await events.accountDisabled(db, user.id, ended);
  return { email: user.email, sessionsEnded: ended };
}
