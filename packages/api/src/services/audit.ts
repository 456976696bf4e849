import { auditEvents, and, desc, eq, lt, type Executor } from "@repo/db";
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
  | "key.created"
  | "key.revoked"
  | "key.downgraded";

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
