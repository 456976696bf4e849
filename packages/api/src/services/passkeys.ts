// Passkeys (WebAuthn): registered from the Security page, and a way to sign in on their own
// (user verification required, so one passkey counts as both factors).
import { createHash, randomBytes } from "node:crypto";
import {
  generateAuthenticationOptions,
  generateRegistrationOptions,
  verifyAuthenticationResponse,
  verifyRegistrationResponse,
  type AuthenticationResponseJSON,
  type RegistrationResponseJSON,
} from "@simplewebauthn/server";
import { and, asc, authChallenges, eq, gt, lt, passkeys, users, type Executor } from "@repo/db";
import { ApiError } from "@repo/core";
import type { ApiDeps } from "../deps.js";
import { isoSeconds } from "../keys/serialize.js";
import type { RequestMeta } from "./audit-log.js";
import * as events from "./account-events.js";
import type { SessionContext } from "./account-security.js";

const CEREMONY_TTL_MS = 5 * 60_000;
export const MAX_PASSKEYS = 20;

const sha256 = (value: string) => createHash("sha256").update(value).digest("hex");

/** The relying party is the dashboard itself: its id and origin come from PUBLIC_URL. */
function relyingParty(deps: ApiDeps) {
  return { id: deps.publicUrl.hostname, origin: deps.publicUrl.origin, name: "Threat Intel" };
}

export async function listPasskeys(db: Executor, userId: string) {
  const rows = await db
    .select()
    .from(passkeys)
    .where(eq(passkeys.userId, userId))
    .orderBy(asc(passkeys.createdAt));
  return rows.map((row) => ({
    id: row.id,
    name: row.name,
    backed_up: row.backedUp === "yes",
    created_at: isoSeconds(row.createdAt),
    last_used_at: row.lastUsedAt ? isoSeconds(row.lastUsedAt) : null,
  }));
}

async function storeChallenge(
  deps: ApiDeps,
  id: string,
  kind: "passkey_register" | "passkey_sign_in",
  challenge: string,
  userId: string | null,
) {
  const at = deps.now();
  await deps.db.delete(authChallenges).where(lt(authChallenges.expiresAt, at));
  const expiresAt = new Date(at.getTime() + CEREMONY_TTL_MS);
  await deps.db
    .insert(authChallenges)
    .values({ id, kind, userId, challenge, expiresAt })
    .onConflictDoUpdate({ target: authChallenges.id, set: { challenge, expiresAt, attempts: 0 } });
}

/** Takes a ceremony's challenge out of the table: each one is usable once. */
async function takeChallenge(
  deps: ApiDeps,
  id: string,
  kind: "passkey_register" | "passkey_sign_in",
) {
  const [row] = await deps.db
    .delete(authChallenges)
    .where(
      and(
        eq(authChallenges.id, id),
        eq(authChallenges.kind, kind),
        gt(authChallenges.expiresAt, deps.now()),
      ),
    )
    .returning();
  return row?.challenge ?? null;
}

const registrationKey = (sessionId: string) => sha256(`passkey_register:${sessionId}`);

/** Options for navigator.credentials.create(), bound to this session (sudo mode). */
export async function registrationOptions(ctx: SessionContext) {
  const existing = await listPasskeys(ctx.deps.db, ctx.user.id);
  if (existing.length >= MAX_PASSKEYS) {
    throw new ApiError("validation_error", {
      message: `An account can hold at most ${MAX_PASSKEYS} passkeys. Remove one first.`,
    });
  }
  const rp = relyingParty(ctx.deps);
  const options = await generateRegistrationOptions({
    rpName: rp.name,
    rpID: rp.id,
    userName: ctx.user.email,
    userID: new TextEncoder().encode(ctx.user.id),
    attestationType: "none",
    excludeCredentials: existing.map((passkey) => ({ id: passkey.id })),
    authenticatorSelection: { residentKey: "required", userVerification: "required" },
  });
  await storeChallenge(
    ctx.deps,
    registrationKey(ctx.sessionId),
    "passkey_register",
    options.challenge,
    ctx.user.id,
  );
  return options;
}

export async function registerPasskey(
  ctx: SessionContext,
  input: { name: string; response: RegistrationResponseJSON },
) {
  const challenge = await takeChallenge(
    ctx.deps,
    registrationKey(ctx.sessionId),
    "passkey_register",
  );
  if (!challenge) throw new ApiError("passkey_not_verified");
  const rp = relyingParty(ctx.deps);
  const result = await verifyRegistrationResponse({
    response: input.response,
    expectedChallenge: challenge,
    expectedOrigin: rp.origin,
    expectedRPID: rp.id,
    requireUserVerification: true,
  }).catch(() => null);
  if (!result?.verified) throw new ApiError("passkey_not_verified");
  const { credential, credentialBackedUp } = result.registrationInfo;
  const inserted = await ctx.deps.db
    .insert(passkeys)
    .values({
      id: credential.id,
      userId: ctx.user.id,
      name: input.name,
      publicKey: Buffer.from(credential.publicKey).toString("base64url"),
      counter: credential.counter,
      transports: credential.transports ?? null,
      backedUp: credentialBackedUp ? "yes" : "no",
    })
    .onConflictDoNothing()
    .returning({ id: passkeys.id });
  if (inserted.length === 0) {
    throw new ApiError("validation_error", { message: "This passkey is already registered." });
  }
  await events.passkeyAdded(ctx.deps.db, ctx.user.id, input.name, ctx.meta);
  return { id: credential.id, name: input.name };
}

export async function renamePasskey(ctx: SessionContext, input: { id: string; name: string }) {
  const renamed = await ctx.deps.db
    .update(passkeys)
    .set({ name: input.name })
    .where(and(eq(passkeys.id, input.id), eq(passkeys.userId, ctx.user.id)))
    .returning({ id: passkeys.id });
  if (renamed.length === 0) throw new ApiError("not_found", { message: "No such passkey." });
}

export async function removePasskey(ctx: SessionContext, input: { id: string }) {
  const [removed] = await ctx.deps.db
    .delete(passkeys)
    .where(and(eq(passkeys.id, input.id), eq(passkeys.userId, ctx.user.id)))
    .returning({ name: passkeys.name });
  if (!removed) throw new ApiError("not_found", { message: "No such passkey." });
  await events.passkeyRemoved(ctx.deps.db, ctx.user.id, removed.name, ctx.meta);
}

/** Options for navigator.credentials.get(): any passkey of this site (discoverable). */
export async function signInOptions(deps: ApiDeps) {
  const options = await generateAuthenticationOptions({
    rpID: relyingParty(deps).id,
    userVerification: "required",
  });
  const token = randomBytes(32).toString("base64url");
  await storeChallenge(deps, sha256(token), "passkey_sign_in", options.challenge, null);
  return { options, cookie: deps.sessions.challengeCookie(token, CEREMONY_TTL_MS / 1000) };
}

/** Verifies a passkey assertion; returns the account to start a session for. */
export async function verifySignIn(
  deps: ApiDeps,
  cookieHeader: string | undefined,
  response: AuthenticationResponseJSON,
  meta: RequestMeta,
): Promise<{ userId: string }> {
  const token = deps.sessions.readChallenge(cookieHeader);
  const challenge = token ? await takeChallenge(deps, sha256(token), "passkey_sign_in") : null;
  if (!challenge) throw new ApiError("passkey_not_verified");
  const [stored] = await deps.db
    .select({ passkey: passkeys, disabledAt: users.disabledAt })
    .from(passkeys)
    .innerJoin(users, eq(users.id, passkeys.userId))
    .where(eq(passkeys.id, response.id));
  if (!stored) throw new ApiError("passkey_not_verified");
  const rp = relyingParty(deps);
  const result = await verifyAuthenticationResponse({
    response,
    expectedChallenge: challenge,
    expectedOrigin: rp.origin,
    expectedRPID: rp.id,
    requireUserVerification: true,
    credential: {
      id: stored.passkey.id,
      publicKey: new Uint8Array(Buffer.from(stored.passkey.publicKey, "base64url")),
      counter: stored.passkey.counter,
      transports: stored.passkey.transports ?? undefined,
    },
  }).catch(() => null);
  if (!result?.verified) {
    await events.secondFactorFailed(deps.db, stored.passkey.userId, meta);
    throw new ApiError("passkey_not_verified");
  }
  if (stored.disabledAt) throw new ApiError("account_disabled");
  await deps.db
    .update(passkeys)
    .set({ counter: result.authenticationInfo.newCounter, lastUsedAt: deps.now() })
    .where(eq(passkeys.id, stored.passkey.id));
  return { userId: stored.passkey.userId };
}
