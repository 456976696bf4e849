import { auditEvents, and, desc, eq, isNull, lt, or, sql, type Executor } from "@repo/db";
import { isoSeconds } from "../keys/serialize.js";

/** Where a request came from, recorded with every audit event. */
export interface RequestMeta {
  ip: string;
  userAgent: string | undefined;
}

export type AuditAction =
  | "auth.sign_up"
  | "auth.sign_in"
  | "auth.sign_in_failed"
  | "auth.sign_out"
  | "account.tier_changed"
  // Account security (services/account-events.ts has one function per event).
  | "auth.second_factor_failed"
  | "auth.reauthenticated"
  | "account.totp_enabled"
  | "account.totp_disabled"
  | "account.recovery_codes_regenerated"
  | "account.recovery_code_used"
  | "account.passkey_added"
  | "account.passkey_removed"
  | "account.session_ended"
  | "account.password_changed"
  | "account.email_changed"
  | "account.password_reset_issued"
  | "account.password_reset"
  | "account.second_factor_reset"
  | "account.disabled"
  | "account.enabled"
  | "key.created"
  | "key.revoked"
  | "key.downgraded"
  | "canary.created"
  | "canary.retired"
  | "webhook.created"
  | "webhook.updated"
  | "webhook.removed"
  | "webhook.secret_rotated"
  | "key.rotated"
  | "key.updated";

export interface AuditEntry {
  userId: string | null;
  action: AuditAction;
  keyId?: string;
  keyPrefix?: string;
  details?: Record<string, unknown>;
  meta?: RequestMeta;
  at?: Date;
}

export async function recordAudit(db: Executor, entry: AuditEntry): Promise<void> {
  await db.insert(auditEvents).values({
    userId: entry.userId,
    action: entry.action,
    keyId: entry.keyId,
    keyPrefix: entry.keyPrefix,
    details: entry.details,
    ip: entry.meta?.ip,
    // User agents are attacker-controlled: keep them bounded.
    userAgent: entry.meta?.userAgent?.slice(0, 512),
    createdAt: entry.at,
  });
}

/** Failed sign-ins on unknown emails are kept this long, and at most this many. */
const ANONYMOUS_RETENTION_DAYS = 7;
const ANONYMOUS_MAX_ROWS = 10_000;
/** Pruning runs on about one anonymous insert in this many (it is a range delete). */
const PRUNE_EVERY = 50;

/**
 * A failed sign-in on an email with no account. A flood of these must not grow the table
 * without bound: rows older than 7 days, and all but the newest 10,000, are pruned as new
 * ones arrive (the per-address sign-in throttle bounds how fast they can arrive at all).
 */
export async function recordAnonymousSignInFailure(
  db: Executor,
  email: string,
  meta: RequestMeta,
): Promise<void> {
  await recordAudit(db, {
    userId: null,
    action: "auth.sign_in_failed",
    details: { reason: "unknown_email", email: email.slice(0, 254) },
    meta,
  });
  if (Math.random() * PRUNE_EVERY < 1) await pruneAnonymousAudit(db);
}

export async function pruneAnonymousAudit(
  db: Executor,
  maxRows = ANONYMOUS_MAX_ROWS,
): Promise<void> {
  await db
    .delete(auditEvents)
    .where(
      and(
        isNull(auditEvents.userId),
        or(
          lt(
            auditEvents.createdAt,
            sql`now() - make_interval(days => ${ANONYMOUS_RETENTION_DAYS})`,
          ),
          lt(
            auditEvents.id,
            sql`(select coalesce(min(id), 0) from (select id from ${auditEvents} where user_id is null order by id desc limit ${maxRows}) newest)`,
          ),
        ),
      ),
    );
}

/**
 * One page of an account's audit trail, newest first. `cursor` is the id of the last event of
 * the previous page (ids increase with time, so "older" = smaller id).
 */
export async function listAudit(
  db: Executor,
  ownerId: string,
  input: { limit: number; cursor?: number | undefined },
) {
  const rows = await db
    .select()
    .from(auditEvents)
    .where(
      and(
        eq(auditEvents.userId, ownerId),
        input.cursor === undefined ? undefined : lt(auditEvents.id, input.cursor),
      ),
    )
    .orderBy(desc(auditEvents.id))
    .limit(input.limit + 1);
  const page = rows.slice(0, input.limit);
  return {
    events: page.map((event) => ({
      id: event.id,
      action: event.action,
      key_id: event.keyId,
      key_prefix: event.keyPrefix,
      details: event.details ?? {},
      ip: event.ip,
      user_agent: event.userAgent,
      created_at: isoSeconds(event.createdAt),
    })),
    next_cursor: rows.length > input.limit ? (page[page.length - 1]?.id ?? null) : null,
  };
}
