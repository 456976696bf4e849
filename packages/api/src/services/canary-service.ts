import {
  canaryKeys,
  canaryTriggers,
  and,
  count,
  desc,
  eq,
  isNull,
  sql,
  type Executor,
} from "@repo/db";
import { ApiError, CANARY_CHANGES_CHANNEL, generateKey } from "@repo/core";
import type { CanaryKey } from "@repo/db";
import type { ApiDeps } from "../deps.js";
import type { CreateCanaryInput } from "../canaries/schemas.js";
import { isoSeconds } from "../keys/serialize.js";
import { recordAudit, type RequestMeta } from "./audit-log.js";
import { STORE_WARNING } from "./key-service.js";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** Armed canaries per account: plenty for planting, bounded against abuse. */
export const MAX_ARMED_CANARIES = 100;
/** Triggers listed per canary (newest first). */
const MAX_TRIGGERS_LISTED = 500;

const isoOrNull = (date: Date | null) => (date ? isoSeconds(date) : null);

function toCanaryItem(row: CanaryKey) {
  return {
    id: row.id,
    name: row.name,
    note: row.note,
    key_prefix: row.keyPrefix,
    created_at: isoSeconds(row.createdAt),
    retired_at: isoOrNull(row.retiredAt),
    last_triggered_at: isoOrNull(row.lastTriggeredAt),
    trigger_count: row.triggerCount,
  };
}

async function findOwnedCanary(db: Executor, ownerId: string, id: string) {
  if (!UUID.test(id)) throw new ApiError("canary_not_found");
  const [row] = await db
    .select()
    .from(canaryKeys)
    .where(and(eq(canaryKeys.id, id), eq(canaryKeys.ownerId, ownerId)));
  if (!row) throw new ApiError("canary_not_found");
  return row;
}

/** All of the owner's canaries, retired ones included, newest first. */
export async function listCanaries(db: Executor, ownerId: string) {
  const rows = await db
    .select()
    .from(canaryKeys)
    .where(eq(canaryKeys.ownerId, ownerId))
    .orderBy(desc(canaryKeys.createdAt), desc(canaryKeys.id));
  return { data: rows.map(toCanaryItem), meta: { total: rows.length } };
}

/**
 * Mints a decoy: a key of exactly the real format (same generator), stored by hash in its own
 * table, so it never counts as a key, never appears among them and never passes verification.
 * Every gateway learns of it through NOTIFY; this process's before the call returns.
 */
export async function createCanary(
  deps: ApiDeps,
  ownerId: string,
  input: CreateCanaryInput,
  meta: RequestMeta,
) {
  const now = deps.now();
  const { row, key } = await deps.db.transaction(async (tx) => {
    // Serializes this owner's creates, so the limit holds under concurrency.
    await tx.execute(sql`select 1 from users where id = ${ownerId} for update`);
    const [armed] = await tx
      .select({ n: count() })
      .from(canaryKeys)
      .where(and(eq(canaryKeys.ownerId, ownerId), isNull(canaryKeys.retiredAt)));
    if ((armed?.n ?? 0) >= MAX_ARMED_CANARIES) {
      throw new ApiError("canary_limit_reached", {
        details: { limit: MAX_ARMED_CANARIES },
      });
    }
    const generated = generateKey();
    const [inserted] = await tx
      .insert(canaryKeys)
      .values({
        ownerId,
        name: input.name,
        note: input.note,
        keyPrefix: generated.prefix,
        keyHash: generated.hash,
        createdAt: now,
      })
      .returning();
    if (!inserted) throw new Error("insert returned no row");
    await tx.execute(sql`select pg_notify(${CANARY_CHANGES_CHANNEL}, ${inserted.id})`);
    await recordAudit(tx, {
      userId: ownerId,
      action: "canary.created",
      keyPrefix: inserted.keyPrefix,
      details: { canary_id: inserted.id, name: inserted.name },
      meta,
      at: now,
    });
    return { row: inserted, key: generated.key };
  });
  await deps.onCanariesChanged();
  const item = toCanaryItem(row);
  return {
    data: {
      id: item.id,
      name: item.name,
      note: item.note,
      key_prefix: item.key_prefix,
      created_at: item.created_at,
      key,
      full_key: key,
    },
    meta: { warning: STORE_WARNING },
  };
}

/** Retires a canary: from then on it is an unknown key like any other (no more alerts). */
export async function retireCanary(deps: ApiDeps, ownerId: string, id: string, meta: RequestMeta) {
  const now = deps.now();
  await deps.db.transaction(async (tx) => {
    const existing = await findOwnedCanary(tx, ownerId, id);
    const [row] = await tx
      .update(canaryKeys)
      .set({ retiredAt: now })
      .where(and(eq(canaryKeys.id, existing.id), isNull(canaryKeys.retiredAt)))
      .returning({ id: canaryKeys.id });
    if (!row) throw new ApiError("canary_already_retired");
    await tx.execute(sql`select pg_notify(${CANARY_CHANGES_CHANNEL}, ${row.id})`);
    await recordAudit(tx, {
      userId: ownerId,
      action: "canary.retired",
      keyPrefix: existing.keyPrefix,
      details: { canary_id: existing.id, name: existing.name },
      meta,
      at: now,
    });
  });
  await deps.onCanariesChanged();
  return { success: true as const, message: "Canary key retired" };
}

/** Every recorded use of one of the owner's canaries, newest first. */
export async function listCanaryTriggers(db: Executor, ownerId: string, id: string) {
  const canary = await findOwnedCanary(db, ownerId, id);
  const rows = await db
    .select()
    .from(canaryTriggers)
    .where(eq(canaryTriggers.canaryId, canary.id))
    .orderBy(desc(canaryTriggers.at), desc(canaryTriggers.id))
    .limit(MAX_TRIGGERS_LISTED);
  return {
    data: rows.map((t) => ({
      at: isoSeconds(t.at),
      address: t.address,
      user_agent: t.userAgent,
      method: t.method,
      path: t.path,
      credential: t.credential,
    })),
    meta: { total: canary.triggerCount, canary: toCanaryItem(canary) },
  };
}
