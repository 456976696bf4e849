import type { ApiDeps } from "../deps.js";
import { ApiError } from "../errors.js";
import { verifyAgainstDummy, verifyPassword } from "../auth/password.js";
import type { SignedInUser } from "../auth/session.js";
import { recordAudit, type RequestMeta } from "./audit.js";
import { createUser, findUserByEmail, normalizeEmail } from "./users.js";

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
): Promise<SignedIn> {
  if (previousSessionId) await deps.sessions.invalidate(previousSessionId);
  const { cookie } = await deps.sessions.create(user.id);
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
  const created = await createUser(deps.db, input);
  await recordAudit(deps.db, { userId: created.id, action: "auth.sign_up", meta });
  return startSession(
    deps,
    { id: created.id, email: created.email, tier: created.tier },
    previousSessionId,
  );
}

/**
 * Password sign-in. Unknown emails and wrong passwords take the same time (a dummy argon2
 * verification) and produce the same error, so neither timing nor body reveals accounts.
 */
export async function signIn(
  deps: ApiDeps,
  input: Credentials,
  meta: RequestMeta,
  previousSessionId: string | null,
): Promise<SignedIn> {
  const email = normalizeEmail(input.email);
  await deps.throttle.beginSignIn(email, meta.ip);
  const user = await findUserByEmail(deps.db, email);
  const valid = user
    ? await verifyPassword(user.passwordHash, input.password)
    : await verifyAgainstDummy(input.password);
  if (!user || !valid) {
    await recordAudit(deps.db, {
      userId: user?.id ?? null,
      action: "auth.sign_in_failed",
      details: user ? { reason: "wrong_password" } : { reason: "unknown_email", email },
      meta,
    });
    throw new ApiError("invalid_credentials");
  }
  await deps.throttle.signInSucceeded(email, meta.ip);
  await recordAudit(deps.db, { userId: user.id, action: "auth.sign_in", meta });
  return startSession(deps, { id: user.id, email: user.email, tier: user.tier }, previousSessionId);
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
