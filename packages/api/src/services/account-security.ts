// What an account holder does to protect their account: sessions, password, sudo mode, the
// authenticator app and recovery codes, and the second step of a two-step sign-in.
import { createHash, randomBytes } from "node:crypto";
import { and, authChallenges, databaseErrorCode, eq, gt, lt, sessions, sql, users } from "@repo/db";
import { ApiError } from "@repo/core";
import type { ApiDeps } from "../deps.js";
import { hashPassword, verifyPassword } from "../auth/password.js";
import { assertAcceptablePassword } from "../auth/password-policy.js";
import type { SignedInUser } from "../auth/session.js";
import { isoSeconds } from "../keys/serialize.js";
import type { RequestMeta } from "./audit-log.js";
import * as events from "./account-events.js";
import { listPasskeys } from "./passkeys.js";
import { normalizeEmail } from "./user-accounts.js";
import {
  beginTotp,
  hasConfirmedTotp,
  remainingRecoveryCodes,
  removeTotp,
  replaceRecoveryCodes,
  useRecoveryCode,
  useTotpCode,
} from "./totp.js";

/** Sensitive changes need a sign-in (or re-authentication) this recent: GitHub's sudo mode. */
export const RECENT_AUTH_MS = 10 * 60_000;
/** A password step waits this long for its second factor. */
const SECOND_FACTOR_TTL_MS = 5 * 60_000;
/** Wrong codes one password step may try before it has to be redone. */
const SECOND_FACTOR_ATTEMPTS = 5;

const sha256 = (value: string) => createHash("sha256").update(value).digest("hex");

/** The id the Security page uses for a session: derived from, never equal to, the row id. */
const publicSessionId = (sessionId: string) => sha256(`session:${sessionId}`).slice(0, 32);

export interface SessionContext {
  deps: ApiDeps;
  user: SignedInUser;
  sessionId: string;
  authenticatedAt: Date;
  meta: RequestMeta;
}

export function assertRecentAuth(ctx: SessionContext): void {
  if (ctx.deps.now().getTime() - ctx.authenticatedAt.getTime() > RECENT_AUTH_MS) {
    throw new ApiError("reauthentication_required");
  }
}

// ---------------------------------------------------------------- sessions

export async function listSessions(ctx: SessionContext) {
  const rows = await ctx.deps.db
    .select()
    .from(sessions)
    .where(and(eq(sessions.userId, ctx.user.id), gt(sessions.expiresAt, ctx.deps.now())))
    .orderBy(sql`${sessions.lastSeenAt} desc`);
  return rows.map((row) => ({
    id: publicSessionId(row.id),
    created_at: isoSeconds(row.createdAt),
    last_seen_at: isoSeconds(row.lastSeenAt),
    ip: row.ip,
    user_agent: row.userAgent,
    current: row.id === ctx.sessionId,
  }));
}

/** Ends one of the account's sessions (the next request made with it is unauthenticated). */
export async function endSession(ctx: SessionContext, id: string): Promise<void> {
  const rows = await ctx.deps.db
    .select({ id: sessions.id })
    .from(sessions)
    .where(eq(sessions.userId, ctx.user.id));
  const target = rows.find((row) => publicSessionId(row.id) === id);
  if (!target) throw new ApiError("not_found", { message: "No such session." });
  await ctx.deps.sessions.invalidate(target.id);
  await events.sessionsEnded(ctx.deps.db, ctx.user.id, { by: "user", count: 1 }, ctx.meta);
}

export async function endOtherSessions(ctx: SessionContext): Promise<{ ended: number }> {
  const ended = await ctx.deps.sessions.invalidateOthers(ctx.user.id, ctx.sessionId);
  if (ended > 0) {
    await events.sessionsEnded(ctx.deps.db, ctx.user.id, { by: "user", count: ended }, ctx.meta);
  }
  return { ended };
}

// ---------------------------------------------------------------- proving who you are

async function passwordHashOf(ctx: { deps: ApiDeps }, userId: string): Promise<string> {
  const [row] = await ctx.deps.db
    .select({ passwordHash: users.passwordHash })
    .from(users)
    .where(eq(users.id, userId));
  if (!row) throw new ApiError("not_authenticated");
  return row.passwordHash;
}

/**
 * Checks the signed-in user's password for a sensitive change, under the same throttles as
 * sign-in (a stolen session must not become a password-guessing oracle).
 */
async function checkOwnPassword(ctx: SessionContext, password: string, field: string) {
  const slowedMs = await ctx.deps.throttle.beginSignIn(ctx.user.email, ctx.meta.ip);
  if (slowedMs > 0) throw ctx.deps.throttle.slowedDown(slowedMs);
  if (!(await verifyPassword(await passwordHashOf(ctx, ctx.user.id), password))) {
    await ctx.deps.throttle.signInFailed(ctx.user.email);
    throw new ApiError("invalid_credentials", {
      message: "The password is not right.",
      details: { field },
    });
  }
  await ctx.deps.throttle.signInSucceeded(ctx.user.email, ctx.meta.ip);
}

/** Checks a current authenticator code (each code once), throttled per account. */
async function checkOwnCode(ctx: SessionContext, code: string, field = "code") {
  await ctx.deps.throttle.beginSecondFactor(ctx.user.id);
  if (!(await useTotpCode(ctx.deps.db, ctx.user.id, code, ctx.deps.now()))) {
    await ctx.deps.throttle.secondFactorFailed(ctx.user.id);
    await events.secondFactorFailed(ctx.deps.db, ctx.user.id, ctx.meta);
    throw new ApiError("invalid_second_factor", { details: { field } });
  }
  await ctx.deps.throttle.secondFactorSucceeded(ctx.user.id);
}

/** Opens the 10-minute window for sensitive changes, with the password or a current code. */
export async function reauthenticate(
  ctx: SessionContext,
  input: { password: string } | { code: string },
) {
  if ("password" in input) await checkOwnPassword(ctx, input.password, "password");
  else await checkOwnCode(ctx, input.code);
  await ctx.deps.sessions.markAuthenticated(ctx.sessionId);
  await events.reauthenticated(ctx.deps.db, ctx.user.id, ctx.meta);
  return {
    authenticated_until: new Date(ctx.deps.now().getTime() + RECENT_AUTH_MS).toISOString(),
  };
}

/**
 * Changes the password. The current password (and a current code when an authenticator is
 * set up) is required in the same request, which also counts as re-authentication; every
 * other session ends.
 */
export async function changePassword(
  ctx: SessionContext,
  input: { current_password: string; new_password: string; code?: string | undefined },
) {
  await checkOwnPasswordAndFactor(ctx, input.current_password, "current_password", input.code);
  if (input.new_password === input.current_password) {
    throw new ApiError("validation_error", {
      message: "Choose a password different from the current one.",
      details: { field: "new_password" },
    });
  }
  assertAcceptablePassword(input.new_password, ctx.user.email, "new_password");
  const passwordHash = await hashPassword(input.new_password);
  await ctx.deps.db.update(users).set({ passwordHash }).where(eq(users.id, ctx.user.id));
  const ended = await ctx.deps.sessions.invalidateOthers(ctx.user.id, ctx.sessionId);
  await ctx.deps.sessions.markAuthenticated(ctx.sessionId);
  await events.passwordChanged(ctx.deps.db, ctx.user.id, ctx.meta);
  if (ended > 0) {
    await events.sessionsEnded(
      ctx.deps.db,
      ctx.user.id,
      { by: "password_change", count: ended },
      ctx.meta,
    );
  }
  return { sessions_ended: ended };
}

/**
 * Changes the sign-in email. Needs the current password (and a current code when an
 * authenticator is set up): a stolen session alone cannot move the account to another
 * address. Sessions stay; the change is audited with both addresses.
 */
export async function changeEmail(
  ctx: SessionContext,
  input: { password: string; new_email: string; code?: string | undefined },
) {
  await checkOwnPasswordAndFactor(ctx, input.password, "password", input.code);
  const email = normalizeEmail(input.new_email);
  if (email === normalizeEmail(ctx.user.email)) {
    throw new ApiError("validation_error", {
      message: "This is already your email address.",
      details: { field: "new_email" },
    });
  }
  await ctx.deps.db.transaction(async (tx) => {
    const [taken] = await tx.select({ id: users.id }).from(users).where(eq(users.email, email));
    if (taken) throw new ApiError("email_taken", { details: { field: "new_email" } });
    try {
      await tx.update(users).set({ email }).where(eq(users.id, ctx.user.id));
    } catch (error) {
      // Another account took it between the check and the update.
      if (databaseErrorCode(error) === "23505") {
        throw new ApiError("email_taken", { details: { field: "new_email" } });
      }
      throw error;
    }
    await events.emailChanged(tx, ctx.user.id, { from: ctx.user.email, to: email }, ctx.meta);
  });
  await ctx.deps.sessions.markAuthenticated(ctx.sessionId);
  return { email };
}

/** The password, and a current code when an authenticator app is set up. */
async function checkOwnPasswordAndFactor(
  ctx: SessionContext,
  password: string,
  field: string,
  code: string | undefined,
) {
  await checkOwnPassword(ctx, password, field);
  if (await hasConfirmedTotp(ctx.deps.db, ctx.user.id)) {
    if (!code) {
      throw new ApiError("invalid_second_factor", {
        message: "Enter the current code from your authenticator app.",
        details: { field: "code" },
      });
    }
    await checkOwnCode(ctx, code);
  }
}

// ---------------------------------------------------------------- authenticator app

export async function securityOverview(ctx: SessionContext) {
  const totp = await hasConfirmedTotp(ctx.deps.db, ctx.user.id);
  return {
    totp_enabled: totp,
    recovery_codes_remaining: totp ? await remainingRecoveryCodes(ctx.deps.db, ctx.user.id) : 0,
    passkeys: (await listPasskeys(ctx.deps.db, ctx.user.id)).length,
    recent_auth_until:
      ctx.deps.now().getTime() - ctx.authenticatedAt.getTime() <= RECENT_AUTH_MS
        ? new Date(ctx.authenticatedAt.getTime() + RECENT_AUTH_MS).toISOString()
        : null,
  };
}

export function beginTotpEnrolment(ctx: SessionContext) {
  assertRecentAuth(ctx);
  return beginTotp(ctx.deps.db, ctx.user);
}

/** Confirms enrolment with a code from the app; returns the 10 recovery codes, shown once. */
export async function confirmTotpEnrolment(ctx: SessionContext, code: string) {
  await ctx.deps.throttle.beginSecondFactor(ctx.user.id);
  if (!(await useTotpCode(ctx.deps.db, ctx.user.id, code, ctx.deps.now(), true))) {
    await ctx.deps.throttle.secondFactorFailed(ctx.user.id);
    throw new ApiError("invalid_second_factor", {
      message: "That code does not match. Check the time on your phone and enter the newest code.",
      details: { field: "code" },
    });
  }
  const codes = await replaceRecoveryCodes(ctx.deps.db, ctx.user.id);
  await events.totpEnabled(ctx.deps.db, ctx.user.id, ctx.meta);
  return { recovery_codes: codes };
}

/** Turning the app off needs the password and a current code, whatever the session's age. */
export async function disableTotp(ctx: SessionContext, input: { password: string; code: string }) {
  if (!(await hasConfirmedTotp(ctx.deps.db, ctx.user.id))) {
    throw new ApiError("second_factor_not_enrolled");
  }
  await checkOwnPassword(ctx, input.password, "password");
  await checkOwnCode(ctx, input.code);
  await removeTotp(ctx.deps.db, ctx.user.id);
  await events.totpDisabled(ctx.deps.db, ctx.user.id, ctx.meta);
}

/** New recovery codes (the old ones stop working): the password and a current code. */
export async function regenerateRecoveryCodes(
  ctx: SessionContext,
  input: { password: string; code: string },
) {
  if (!(await hasConfirmedTotp(ctx.deps.db, ctx.user.id))) {
    throw new ApiError("second_factor_not_enrolled");
  }
  await checkOwnPassword(ctx, input.password, "password");
  await checkOwnCode(ctx, input.code);
  const codes = await replaceRecoveryCodes(ctx.deps.db, ctx.user.id);
  await events.recoveryCodesRegenerated(ctx.deps.db, ctx.user.id, ctx.meta);
  return { recovery_codes: codes };
}

// ---------------------------------------------------------------- two-step sign-in

export type SecondFactorMethod = "totp" | "recovery_code";

/**
 * After a right password on an account with an authenticator: a single-use challenge, bound
 * to this browser by an HttpOnly cookie, valid 5 minutes. No session exists yet.
 */
/** Marks a second-factor step that no code can complete (see `signIn`'s slowed-down path). */
const DECOY_CHALLENGE = "decoy";

/**
 * Opens the second-factor step for `userId`. A `decoy` step looks exactly like a real one
 * (same cookie, same answer) but no code completes it: it is what a wrong password gets while
 * the account is slowed down, so that a guess's answer does not tell whether it was right.
 */
export async function startSecondFactor(deps: ApiDeps, userId: string, decoy = false) {
  const token = randomBytes(32).toString("base64url");
  const at = deps.now();
  // Expired challenges are cleared as new ones are made (the table stays small).
  await deps.db.delete(authChallenges).where(lt(authChallenges.expiresAt, at));
  await deps.db.insert(authChallenges).values({
    id: sha256(token),
    kind: "second_factor",
    userId,
    challenge: decoy ? DECOY_CHALLENGE : null,
    expiresAt: new Date(at.getTime() + SECOND_FACTOR_TTL_MS),
  });
  return {
    cookie: deps.sessions.challengeCookie(token, SECOND_FACTOR_TTL_MS / 1000),
    methods: ["totp", "recovery_code"] satisfies SecondFactorMethod[],
  };
}

/**
 * The second step: a current code (once per 30-second window) or an unused recovery code
 * for the password step this browser passed. Returns the user id to start a session for.
 */
export async function completeSecondFactor(
  deps: ApiDeps,
  cookieHeader: string | undefined,
  input: { code: string } | { recovery_code: string },
  meta: RequestMeta,
): Promise<{ userId: string; method: events.SignInMethod }> {
  const token = deps.sessions.readChallenge(cookieHeader);
  const at = deps.now();
  const [challenge] = token
    ? await deps.db
        .select()
        .from(authChallenges)
        .where(
          and(
            eq(authChallenges.id, sha256(token)),
            eq(authChallenges.kind, "second_factor"),
            gt(authChallenges.expiresAt, at),
          ),
        )
    : [];
  if (!challenge?.userId || challenge.attempts >= SECOND_FACTOR_ATTEMPTS) {
    throw new ApiError("second_factor_expired");
  }
  const userId = challenge.userId;
  await deps.throttle.beginSecondFactor(userId);

  let method: events.SignInMethod;
  let remaining: number | null = null;
  // A decoy step fails like a wrong code (after the same check, so it takes as long).
  const decoy = challenge.challenge === DECOY_CHALLENGE;
  if ("code" in input) {
    if (!(await useTotpCode(deps.db, userId, input.code, at)) || decoy) {
      return failSecondFactor(deps, challenge.id, userId, "code", meta);
    }
    method = "password+totp";
  } else {
    // A decoy never spends a recovery code, right or wrong.
    remaining = decoy ? null : await useRecoveryCode(deps.db, userId, input.recovery_code, at);
    if (remaining === null) {
      return failSecondFactor(deps, challenge.id, userId, "recovery_code", meta);
    }
    method = "password+recovery_code";
  }
  // The challenge is spent exactly once, even if two right answers race.
  const spent = await deps.db
    .delete(authChallenges)
    .where(eq(authChallenges.id, challenge.id))
    .returning({ id: authChallenges.id });
  if (spent.length === 0) throw new ApiError("second_factor_expired");
  await deps.throttle.secondFactorSucceeded(userId);
  if (remaining !== null) await events.recoveryCodeUsed(deps.db, userId, remaining, meta);
  return { userId, method };
}

async function failSecondFactor(
  deps: ApiDeps,
  challengeId: string,
  userId: string,
  field: string,
  meta: RequestMeta,
): Promise<never> {
  await deps.db
    .update(authChallenges)
    .set({ attempts: sql`${authChallenges.attempts} + 1` })
    .where(eq(authChallenges.id, challengeId));
  await deps.throttle.secondFactorFailed(userId);
  await events.secondFactorFailed(deps.db, userId, meta);
  throw new ApiError("invalid_second_factor", { details: { field } });
}
