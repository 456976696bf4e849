// Authenticator-app codes (TOTP, RFC 6238) and the recovery codes that back them up.
import { createHash, randomInt } from "node:crypto";
import { Secret, TOTP } from "otpauth";
import { toString as qrSvg } from "qrcode";
import {
  and,
  count,
  eq,
  isNotNull,
  isNull,
  or,
  lt,
  recoveryCodes,
  sql,
  totpFactors,
  type Executor,
} from "@repo/db";
import { ApiError } from "@repo/core";

const ISSUER = "Threat Intel API keys";
/** RFC 6238 defaults, the ones every authenticator app supports. */
const PERIOD_SECONDS = 30;
const DIGITS = 6;
/** One step either side: a code typed as it rolls over, or a phone clock 30 s off, still works. */
const WINDOW = 1;
export const RECOVERY_CODE_COUNT = 10;

function totp(secret: string, label = "account") {
  return new TOTP({
    issuer: ISSUER,
    label,
    algorithm: "SHA1",
    digits: DIGITS,
    period: PERIOD_SECONDS,
    secret: Secret.fromBase32(secret),
  });
}

/** The code an authenticator shows at `at` (tests compute codes from the secret with this). */
export function totpCodeAt(secret: string, at: Date): string {
  return totp(secret).generate({ timestamp: at.getTime() });
}

/**
 * The time step a code belongs to, or null when it is not valid at `at` (±1 step). Codes are
 * compared by the library in constant time.
 */
export function matchTotpStep(secret: string, code: string, at: Date): number | null {
  const token = code.replace(/\s/g, "");
  if (!/^\d{6}$/.test(token)) return null;
  const timestamp = at.getTime();
  const delta = totp(secret).validate({ token, timestamp, window: WINDOW });
  if (delta === null) return null;
  return TOTP.counter({ period: PERIOD_SECONDS, timestamp }) + delta;
}

export async function hasConfirmedTotp(db: Executor, userId: string): Promise<boolean> {
  const [row] = await db
    .select({ userId: totpFactors.userId })
    .from(totpFactors)
    .where(and(eq(totpFactors.userId, userId), isNotNull(totpFactors.confirmedAt)));
  return row !== undefined;
}

/** Starts (or restarts) enrolment: a new secret, not asked for at sign-in until confirmed. */
export async function beginTotp(db: Executor, user: { id: string; email: string }) {
  if (await hasConfirmedTotp(db, user.id)) throw new ApiError("second_factor_already_enrolled");
  const secret = new Secret({ size: 20 }).base32;
  await db
    .insert(totpFactors)
    .values({ userId: user.id, secret })
    .onConflictDoUpdate({
      target: totpFactors.userId,
      set: { secret, confirmedAt: null, lastUsedStep: null, createdAt: sql`now()` },
    });
  const otpauthUri = totp(secret, user.email).toString();
  const svg = await qrSvg(otpauthUri, { type: "svg", margin: 1, errorCorrectionLevel: "M" });
  return {
    secret,
    otpauth_uri: otpauthUri,
    qr_code: `data:image/svg+xml;base64,${Buffer.from(svg).toString("base64")}`,
  };
}

/**
 * Accepts a code at most once: the step it belongs to must be later than the last accepted
 * one, claimed by a single conditional UPDATE, so a replayed or concurrently reused code
 * fails. `pending` checks the unconfirmed secret of an enrolment instead.
 */
export async function useTotpCode(
  db: Executor,
  userId: string,
  code: string,
  at: Date,
  pending = false,
): Promise<boolean> {
  const [factor] = await db
    .select()
    .from(totpFactors)
    .where(
      and(
        eq(totpFactors.userId, userId),
        pending ? isNull(totpFactors.confirmedAt) : isNotNull(totpFactors.confirmedAt),
      ),
    );
  if (!factor) return false;
  const step = matchTotpStep(factor.secret, code, at);
  if (step === null) return false;
  const claimed = await db
    .update(totpFactors)
    .set({ lastUsedStep: step, ...(pending ? { confirmedAt: at } : {}) })
    .where(
      and(
        eq(totpFactors.userId, userId),
        eq(totpFactors.secret, factor.secret),
        or(isNull(totpFactors.lastUsedStep), lt(totpFactors.lastUsedStep, step)),
      ),
    )
    .returning({ userId: totpFactors.userId });
  return claimed.length === 1;
}

const RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789";

function hashRecoveryCode(code: string): string {
  const normalized = code.toLowerCase().replace(/[^a-z0-9]/g, "");
  return createHash("sha256").update(`recovery:${normalized}`).digest("hex");
}

/**
 * Replaces the account's recovery codes with 10 new ones (`xxxxx-xxxxx`, ~49 bits each).
 * Only their hashes are stored; the codes themselves are returned once, to be shown once.
 */
export async function replaceRecoveryCodes(db: Executor, userId: string): Promise<string[]> {
  const codes = Array.from({ length: RECOVERY_CODE_COUNT }, () => {
    const chars = Array.from(
      { length: 10 },
      () => RECOVERY_ALPHABET[randomInt(RECOVERY_ALPHABET.length)],
    ).join("");
    return `${chars.slice(0, 5)}-${chars.slice(5)}`;
  });
  await db.delete(recoveryCodes).where(eq(recoveryCodes.userId, userId));
  await db
    .insert(recoveryCodes)
    .values(codes.map((code) => ({ userId, codeHash: hashRecoveryCode(code) })));
  return codes;
}

/** Spends a recovery code (once: a single conditional UPDATE). Returns how many are left, or null. */
export async function useRecoveryCode(
  db: Executor,
  userId: string,
  code: string,
  at: Date,
): Promise<number | null> {
  if (code.length > 64) return null;
  const spent = await db
    .update(recoveryCodes)
    .set({ usedAt: at })
    .where(
      and(
        eq(recoveryCodes.userId, userId),
        eq(recoveryCodes.codeHash, hashRecoveryCode(code)),
        isNull(recoveryCodes.usedAt),
      ),
    )
    .returning({ id: recoveryCodes.id });
  if (spent.length === 0) return null;
  return remainingRecoveryCodes(db, userId);
}

export async function remainingRecoveryCodes(db: Executor, userId: string): Promise<number> {
  const [row] = await db
    .select({ n: count() })
    .from(recoveryCodes)
    .where(and(eq(recoveryCodes.userId, userId), isNull(recoveryCodes.usedAt)));
  return row?.n ?? 0;
}

/** Removes the authenticator and every recovery code. */
export async function removeTotp(db: Executor, userId: string): Promise<void> {
  await db.delete(recoveryCodes).where(eq(recoveryCodes.userId, userId));
  await db.delete(totpFactors).where(eq(totpFactors.userId, userId));
}
