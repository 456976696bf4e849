// One function per audited account-security event: the single place each event happens, so
// notifications (webhooks: account.second_factor_changed, account.password_changed,
// account.session_new_address) hook in here.
import { writeAlertEvents, type WebhookEventType } from "@repo/core";
import { and, auditEvents, eq, inArray, type Executor } from "@repo/db";
import { recordAudit, type AuditEntry, type RequestMeta } from "./audit-log.js";

/**
 * Records the audit event and raises the account's alert (in-app notification and webhooks)
 * in the same transaction or statement sequence. The alert's data carries no secret.
 */
async function auditAndAlert(
  db: Executor,
  entry: AuditEntry & { userId: string },
  alert: { type: WebhookEventType; data: Record<string, unknown> },
) {
  await recordAudit(db, entry);
  await writeAlertEvents(db, [
    { ownerId: entry.userId, type: alert.type, data: alert.data, atMs: Date.now() },
  ]);
}

const secondFactorChanged = (method: string, change: string) => ({
  type: "account.second_factor_changed" as const,
  data: { method, change },
});

export type SignInMethod = "password" | "password+totp" | "password+recovery_code" | "passkey";

/**
 * A completed sign-in. `new_address` is true when this account never signed in from the
 * address before (the `account.session_new_address` notification point).
 */
export async function signedIn(
  db: Executor,
  userId: string,
  method: SignInMethod,
  meta: RequestMeta,
): Promise<{ newAddress: boolean }> {
  // Addresses the account has used before: its sign-up and every earlier sign-in.
  const earlier = await db
    .select({ ip: auditEvents.ip })
    .from(auditEvents)
    .where(
      and(
        eq(auditEvents.userId, userId),
        inArray(auditEvents.action, ["auth.sign_in", "auth.sign_up"]),
      ),
    )
    .limit(1_000);
  const newAddress = !earlier.some((row) => row.ip === meta.ip);
  const entry = {
    userId,
    action: "auth.sign_in" as const,
    details: { method, new_address: newAddress },
    meta,
  };
  // The very first sign-in of an account created elsewhere (an operator's CLI) is not news.
  if (newAddress && earlier.length > 0) {
    await auditAndAlert(db, entry, {
      type: "account.session_new_address",
      data: { address: meta.ip, user_agent: meta.userAgent?.slice(0, 512) ?? null },
    });
  } else await recordAudit(db, entry);
  return { newAddress };
}

export function secondFactorFailed(db: Executor, userId: string, meta: RequestMeta) {
  return recordAudit(db, { userId, action: "auth.second_factor_failed", meta });
}

export function reauthenticated(db: Executor, userId: string, meta: RequestMeta) {
  return recordAudit(db, { userId, action: "auth.reauthenticated", meta });
}

/** account.second_factor_changed: an authenticator app was added. */
export function totpEnabled(db: Executor, userId: string, meta: RequestMeta) {
  return auditAndAlert(
    db,
    { userId, action: "account.totp_enabled", meta },
    secondFactorChanged("totp", "added"),
  );
}

/** account.second_factor_changed: the authenticator app was removed by its owner. */
export function totpDisabled(db: Executor, userId: string, meta: RequestMeta) {
  return auditAndAlert(
    db,
    { userId, action: "account.totp_disabled", meta },
    secondFactorChanged("totp", "removed"),
  );
}

/** account.second_factor_changed: the old recovery codes stopped working. */
export function recoveryCodesRegenerated(db: Executor, userId: string, meta: RequestMeta) {
  return auditAndAlert(
    db,
    { userId, action: "account.recovery_codes_regenerated", meta },
    secondFactorChanged("recovery_codes", "regenerated"),
  );
}

export function recoveryCodeUsed(
  db: Executor,
  userId: string,
  remaining: number,
  meta: RequestMeta,
) {
  return recordAudit(db, {
    userId,
    action: "account.recovery_code_used",
    details: { remaining },
    meta,
  });
}

/** account.second_factor_changed: a passkey was registered. */
export function passkeyAdded(db: Executor, userId: string, name: string, meta: RequestMeta) {
  return auditAndAlert(
    db,
    { userId, action: "account.passkey_added", details: { name }, meta },
    secondFactorChanged("passkey", "added"),
  );
}

/** account.second_factor_changed: a passkey was removed. */
export function passkeyRemoved(db: Executor, userId: string, name: string, meta: RequestMeta) {
  return auditAndAlert(
    db,
    { userId, action: "account.passkey_removed", details: { name }, meta },
    secondFactorChanged("passkey", "removed"),
  );
}

/** `by`: who ended them; `count`: how many sessions ended. */
export function sessionsEnded(
  db: Executor,
  userId: string,
  details: { by: "user" | "operator" | "password_change" | "password_reset"; count: number },
  meta?: RequestMeta,
) {
  return recordAudit(db, { userId, action: "account.session_ended", details, meta });
}

/** The sign-in email changed (audited with both addresses; not a webhook event). */
export function emailChanged(
  db: Executor,
  userId: string,
  change: { from: string; to: string },
  meta: RequestMeta,
) {
  return recordAudit(db, { userId, action: "account.email_changed", details: change, meta });
}

/** account.password_changed (by the owner). */
export function passwordChanged(db: Executor, userId: string, meta: RequestMeta) {
  return auditAndAlert(
    db,
    { userId, action: "account.password_changed", meta },
    { type: "account.password_changed", data: { address: meta.ip, by: "owner" } },
  );
}

export function passwordResetIssued(db: Executor, userId: string, expiresAt: Date) {
  return recordAudit(db, {
    userId,
    action: "account.password_reset_issued",
    details: { by: "operator", expires_at: expiresAt.toISOString() },
  });
}

/** account.password_changed (through an operator's reset link). */
export function passwordReset(db: Executor, userId: string, meta: RequestMeta) {
  return auditAndAlert(
    db,
    { userId, action: "account.password_reset", meta },
    { type: "account.password_changed", data: { address: meta.ip, by: "operator_reset" } },
  );
}

/** account.second_factor_changed: an operator removed every second factor. */
export function secondFactorReset(db: Executor, userId: string) {
  return auditAndAlert(
    db,
    { userId, action: "account.second_factor_reset", details: { by: "operator" } },
    secondFactorChanged("all", "reset_by_operator"),
  );
}

export function accountDisabled(db: Executor, userId: string, sessionsEndedCount: number) {
  return recordAudit(db, {
    userId,
    action: "account.disabled",
    details: { by: "operator", sessions_ended: sessionsEndedCount },
  });
}

export function accountEnabled(db: Executor, userId: string) {
  return recordAudit(db, { userId, action: "account.enabled", details: { by: "operator" } });
}
