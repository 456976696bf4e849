import type { ApiDeps } from "../deps.js";
import { ApiError } from "@repo/core";
import { verifyAgainstDummy, verifyPassword } from "../auth/password.js";
import { assertAcceptablePassword } from "../auth/password-policy.js";
import type { SignedInUser } from "../auth/session.js";
import * as events from "./account-events.js";
import { completeSecondFactor, startSecondFactor } from "./account-security.js";
import { recordAnonymousSignInFailure, recordAudit, type RequestMeta } from "./audit-log.js";
import { hasConfirmedTotp } from "./totp.js";
import { createUser, findUserByEmail, normalizeEmail } from "./user-accounts.js";
import { users, eq } from "@repo/db";

interface Credentials {
  email: string;
  password: string;
}

export interface SignedIn {
  user: SignedInUser;
  cookie: string;
}

/**
 * Starts a fresh session. Any session the browser already presented is deleted first, so a
 * planted (fixated) or shared cookie never survives a sign-in.
 */
async function startSession(
  deps: ApiDeps,
  user: SignedInUser,
  previousSessionId: string | null,
  meta: RequestMeta,
): Promise<SignedIn> {
  if (previousSessionId) await deps.sessions.invalidate(previousSessionId);
  const { cookie } = await deps.sessions.create(user.id, meta);
  return { user, cookie };
}

export async function signUp(
  deps: ApiDeps,
  input: Credentials,
  meta: RequestMeta,
  previousSessionId: string | null,
): Promise<SignedIn> {
  if (!deps.signUpEnabled) throw new ApiError("signup_disabled");
  await deps.throttle.beginSignUp(meta.ip);
  assertAcceptablePassword(input.password, input.email, "password");
  const created = await createUser(deps.db, input);
  await recordAudit(deps.db, { userId: created.id, action: "auth.sign_up", meta });
  return startSession(
    deps,
    { id: created.id, email: created.email, tier: created.tier },
    previousSessionId,
    meta,
  );
}

export type SignInResult =
  ({ kind: "signed_in" } & SignedIn) | { kind: "second_factor"; methods: string[]; cookie: string };

/**
 * Password sign-in. Unknown emails and wrong passwords take the same time (a dummy argon2
 * verification) and produce the same error, so neither timing nor body reveals accounts.
 * With an authenticator set up, a right password creates no session: it opens a short-lived
 * second-factor step bound to this browser.
 */
export async function signIn(
  deps: ApiDeps,
  input: Credentials,
  meta: RequestMeta,
  previousSessionId: string | null,
): Promise<SignInResult> {
  const email = normalizeEmail(input.email);
  const slowedMs = await deps.throttle.beginSignIn(email, meta.ip);
  const user = await findUserByEmail(deps.db, email);
  const twoStep = user ? await hasConfirmedTotp(deps.db, user.id) : false;
  // Strangers' wrong guesses slow an account down. Without a second factor its owner waits
  // too; with one, the owner still gets in (password + code), and guesses meanwhile learn
  // nothing: a wrong password opens a decoy second-factor step that no code completes.
  if (slowedMs > 0 && !twoStep) throw deps.throttle.slowedDown(slowedMs);
  const valid = user
    ? await verifyPassword(user.passwordHash, input.password)
    : await verifyAgainstDummy(input.password);
  if (!user || !valid) {
    await deps.throttle.signInFailed(email);
    if (user) {
      await recordAudit(deps.db, {
        userId: user.id,
        action: "auth.sign_in_failed",
        details: { reason: "wrong_password" },
        meta,
      });
    } else {
      await recordAnonymousSignInFailure(deps.db, email, meta);
    }
    if (user && slowedMs > 0) {
      return { kind: "second_factor", ...(await startSecondFactor(deps, user.id, true)) };
    }
    throw new ApiError("invalid_credentials");
  }
  if (user.disabledAt) {
    await recordAudit(deps.db, {
      userId: user.id,
      action: "auth.sign_in_failed",
      details: { reason: "account_disabled" },
      meta,
    });
    throw new ApiError("account_disabled");
  }
  // With a second factor the failure counters are cleared only once it is passed too
  // (verifySecondFactor): clearing them on the password alone would end the slow-down and so
  // tell a guesser which guess was right.
  if (twoStep) return { kind: "second_factor", ...(await startSecondFactor(deps, user.id)) };
  await deps.throttle.signInSucceeded(email, meta.ip);
  await events.signedIn(deps.db, user.id, "password", meta);
  const session = await startSession(
    deps,
    { id: user.id, email: user.email, tier: user.tier },
    previousSessionId,
    meta,
  );
  return { kind: "signed_in", ...session };
}

/** The second step of a two-step sign-in: a code or a recovery code creates the session. */
export async function verifySecondFactor(
  deps: ApiDeps,
  cookieHeader: string | undefined,
  input: { code: string } | { recovery_code: string },
  meta: RequestMeta,
  previousSessionId: string | null,
): Promise<SignedIn> {
  const { userId, method } = await completeSecondFactor(deps, cookieHeader, input, meta);
  const signedIn = await signInAs(deps, userId, method, meta, previousSessionId);
  await deps.throttle.signInSucceeded(normalizeEmail(signedIn.user.email), meta.ip);
  return signedIn;
}

/** Starts the session for an account that has proved itself (both factors, or a passkey). */
export async function signInAs(
  deps: ApiDeps,
  userId: string,
  method: events.SignInMethod,
  meta: RequestMeta,
  previousSessionId: string | null,
): Promise<SignedIn> {
  const [user] = await deps.db.select().from(users).where(eq(users.id, userId));
  if (!user) throw new ApiError("second_factor_expired");
  if (user.disabledAt) throw new ApiError("account_disabled");
  await events.signedIn(deps.db, user.id, method, meta);
  return startSession(
    deps,
    { id: user.id, email: user.email, tier: user.tier },
    previousSessionId,
    meta,
  );
}

export async function signOut(
  deps: ApiDeps,
  user: SignedInUser,
  sessionId: string,
  meta: RequestMeta,
): Promise<void> {
  await deps.sessions.invalidate(sessionId);
  await recordAudit(deps.db, { userId: user.id, action: "auth.sign_out", meta });
}
