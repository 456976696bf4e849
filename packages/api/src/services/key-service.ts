import {
  apiKeys,
  and,
  count,
  desc,
  eq,
  gt,
  isNull,
  or,
  sql,
  users,
  type ApiKey,
  type Executor,
} from "@repo/db";
import { TIERS, TIER_NAMES, type Tier } from "@repo/core";
import type { ApiDeps } from "../deps.js";
import { ApiError } from "@repo/core";
import { notifyKeysChanged, writeAlertEvents, type AlertEventInput } from "@repo/core";
import { generateKey } from "@repo/core";
import { nameHint } from "../keys/naming.js";
import type { CreateKeyInput } from "../keys/schemas.js";
import { isoSeconds, toCreatedKey, toKeyDetail, toKeyListItem } from "../keys/serialize.js";
import { recordAudit, type RequestMeta } from "./audit-log.js";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export const STORE_WARNING = "Store this API key securely. It will not be shown again.";

/** The `key.created` alert of a new key (minted, or a rotation's successor): no secret. */
export function keyCreatedAlert(key: ApiKey, at: Date): AlertEventInput {
  return {
    ownerId: key.ownerId,
    type: "key.created",
    atMs: at.getTime(),
    data: {
      key_id: key.id,
      key_prefix: key.keyPrefix,
      name: key.name,
      scopes: key.scopes,
      expires_at: key.expiresAt ? isoSeconds(key.expiresAt) : null,
    },
  };
}

/** SQL condition: the key is neither revoked nor expired at `now`. */
export function isActiveKey(now: Date) {
  return and(isNull(apiKeys.revokedAt), or(isNull(apiKeys.expiresAt), gt(apiKeys.expiresAt, now)));
}

/**
 * SQL condition: the key takes a place in the tier's allowance. A rotated key living out its
 * grace period does not (its successor does), so rotating at the limit always works.
 */
export function countsAgainstAllowance(now: Date) {
  return and(isActiveKey(now), isNull(apiKeys.rotatedToId));
}

/** The lifetime a create (or a shortening edit) asks for, in seconds; null: never expires. */
export function requestedLifetimeSeconds(input: {
  expires_in_days?: number | null | undefined;
  expires_in_hours?: number | null | undefined;
}): number | null {
  if (input.expires_in_hours) return input.expires_in_hours * 3_600;
  if (input.expires_in_days) return input.expires_in_days * 86_400;
  return null;
}

/**
 * The list query, built once per database: it runs on every dashboard load, and building a
 * drizzle query costs more CPU than Postgres spends answering this one (see bench/).
 */
const listQueries = new WeakMap<Executor, ReturnType<typeof prepareListQuery>>();
function prepareListQuery(db: Executor) {
  return db
    .select()
    .from(apiKeys)
    .where(eq(apiKeys.ownerId, sql.placeholder("ownerId")))
    .orderBy(desc(apiKeys.createdAt), desc(apiKeys.id))
    .prepare("list_api_keys");
}

/** All of the owner's keys, revoked and expired included, newest first. */
export async function listKeys(db: Executor, ownerId: string) {
  let query = listQueries.get(db);
  if (!query) {
    query = prepareListQuery(db);
    listQueries.set(db, query);
  }
  const rows = await query.execute({ ownerId });
  return { data: rows.map(toKeyListItem), meta: { total: rows.length } };
}

/**
 * One of the owner's keys. Another account's key, a missing key and a malformed id all give
 * the same `key_not_found`, so ids of other accounts cannot be probed.
 */
export async function getKey(db: Executor, ownerId: string, keyId: string) {
  return { data: toKeyDetail(await findOwnedKey(db, ownerId, keyId)) };
}

export async function findOwnedKey(db: Executor, ownerId: string, keyId: string) {
  if (!UUID.test(keyId)) throw new ApiError("key_not_found");
  const [row] = await db
    .select()
    .from(apiKeys)
    .where(and(eq(apiKeys.id, keyId), eq(apiKeys.ownerId, ownerId)));
  if (!row) throw new ApiError("key_not_found");
  return row;
}

/** The account's tier, what it allows, and how much of its key allowance is in use. */
export async function keyAllowance(db: Executor, ownerId: string, now: Date) {
  const [user] = await db.select({ tier: users.tier }).from(users).where(eq(users.id, ownerId));
  if (!user) throw new ApiError("not_authenticated");
  const [active] = await db
    .select({ n: count() })
    .from(apiKeys)
    .where(and(eq(apiKeys.ownerId, ownerId), countsAgainstAllowance(now)));
  const policy = TIERS[user.tier];
  return {
    tier: user.tier,
    active_keys: active?.n ?? 0,
    max_active_keys: policy.maxActiveKeys,
    scopes: [...policy.scopes],
    rate_limit_per_minute: policy.rateLimitPerMinute,
    rate_limit_per_day: policy.rateLimitPerDay,
  };
}

/**
 * Mints a key for the owner at the account's current tier. The owner's row is locked for the
 * transaction, so concurrent creates count active keys one after another and the tier's
 * allowance holds exactly. The secret exists only in the return value.
 */
export async function createKey(
  deps: ApiDeps,
  ownerId: string,
  input: CreateKeyInput,
  meta: RequestMeta,
) {
  const now = deps.now();
  const { row, key } = await deps.db.transaction(async (tx) => {
    const [owner] = await tx
      .select({ tier: users.tier })
      .from(users)
      .where(eq(users.id, ownerId))
      .for("update");
    if (!owner) throw new ApiError("not_authenticated");
    const policy = TIERS[owner.tier];

    const allowedScopes: readonly string[] = policy.scopes;
    const refused = (input.scopes ?? []).filter((scope) => !allowedScopes.includes(scope));
    if (refused.length > 0) {
      throw new ApiError("validation_error", {
        message: `Your ${owner.tier} tier does not include: ${refused.join(", ")}.`,
        details: { field: "scopes", allowed: allowedScopes },
      });
    }

    const [active] = await tx
      .select({ n: count() })
      .from(apiKeys)
      .where(and(eq(apiKeys.ownerId, ownerId), countsAgainstAllowance(now)));
    if ((active?.n ?? 0) >= policy.maxActiveKeys) {
      throw new ApiError("key_limit_reached", {
        message: `Your ${owner.tier} tier allows ${policy.maxActiveKeys} active keys. Revoke a key you no longer use, or upgrade.`,
        details: { tier: owner.tier, limit: policy.maxActiveKeys, active: active?.n ?? 0 },
      });
    }

    const lifetime = requestedLifetimeSeconds(input);
    const generated = generateKey();
    const [inserted] = await tx
      .insert(apiKeys)
      .values({
        ownerId,
        name: input.name,
        keyPrefix: generated.prefix,
        keyHash: generated.hash,
        tier: owner.tier,
        scopes: input.scopes ?? [...policy.scopes],
        rateLimitPerMinute: policy.rateLimitPerMinute,
        rateLimitPerDay: policy.rateLimitPerDay,
        allowedIps: input.allowed_ips?.length ? [...new Set(input.allowed_ips)] : null,
        createdAt: now,
        lifetimeSeconds: lifetime,
        expiresAt: lifetime === null ? null : new Date(now.getTime() + lifetime * 1000),
      })
      .returning();
    if (!inserted) throw new Error("insert returned no row");
    await recordAudit(tx, {
      userId: ownerId,
      action: "key.created",
      keyId: inserted.id,
      keyPrefix: inserted.keyPrefix,
      details: {
        name: inserted.name,
        scopes: inserted.scopes,
        expires_at: inserted.expiresAt?.toISOString() ?? null,
        allowed_ips: inserted.allowedIps,
      },
      meta,
      at: now,
    });
    await writeAlertEvents(tx, [keyCreatedAlert(inserted, now)]);
    return { row: inserted, key: generated.key };
  });

  // The new key's hash joins this process's filter of existing keys before the secret is
  // shown (other processes learn it from the insert trigger's NOTIFY).
  deps.onKeysChanged([row.keyHash]);
  const hint = nameHint(row.name);
  return {
    data: toCreatedKey(row, key),
    meta: { warning: STORE_WARNING, ...(hint ? { name_hint: hint } : {}) },
  };
}

/**
 * Revokes one of the owner's keys, irreversibly. The first revocation's time and reason are
 * kept; a second attempt is `key_already_revoked`. Verification caches everywhere drop the key
 * as soon as the transaction commits.
 */
export async function revokeKey(
  deps: ApiDeps,
  ownerId: string,
  input: { id: string; reason?: string | undefined },
  meta: RequestMeta,
) {
  const now = deps.now();
  const reason = input.reason ? input.reason : null;
  const revoked = await deps.db.transaction(async (tx) => {
    const existing = await findOwnedKey(tx, ownerId, input.id);
    const [row] = await tx
      .update(apiKeys)
      .set({ revokedAt: now, revokedReason: reason })
      .where(and(eq(apiKeys.id, existing.id), isNull(apiKeys.revokedAt)))
      .returning({ keyHash: apiKeys.keyHash, keyPrefix: apiKeys.keyPrefix });
    if (!row) throw new ApiError("key_already_revoked");
    await notifyKeysChanged(tx, [row.keyHash]);
    await recordAudit(tx, {
      userId: ownerId,
      action: "key.revoked",
      keyId: existing.id,
      keyPrefix: row.keyPrefix,
      details: { name: existing.name, reason },
      meta,
      at: now,
    });
    await writeAlertEvents(tx, [
      {
        ownerId,
        type: "key.revoked",
        atMs: now.getTime(),
        data: { key_id: existing.id, key_prefix: row.keyPrefix, name: existing.name, reason },
      },
    ]);
    return row;
  });
  deps.onKeysChanged([revoked.keyHash]);
  return { success: true as const, message: "API key revoked successfully" };
}

/**
 * After a downgrade, cuts the owner's active keys of a higher tier to `tier`: its limits,
 * and the scopes it allows. Returns how many keys changed; each gets an audit event.
 */
export async function applyTierToActiveKeys(
  tx: Executor,
  ownerId: string,
  tier: Tier,
  now: Date = new Date(),
): Promise<number> {
  const higher = TIER_NAMES.slice(TIER_NAMES.indexOf(tier) + 1);
  if (higher.length === 0) return 0;
  const policy = TIERS[tier];
  const allowed: readonly string[] = policy.scopes;
  const keys = await tx
    .select({
      id: apiKeys.id,
      keyPrefix: apiKeys.keyPrefix,
      keyHash: apiKeys.keyHash,
      tier: apiKeys.tier,
      scopes: apiKeys.scopes,
    })
    .from(apiKeys)
    .where(and(eq(apiKeys.ownerId, ownerId), isActiveKey(now), sql`${apiKeys.tier} in ${higher}`))
    .for("update");
  for (const key of keys) {
    const scopes = key.scopes.filter((scope) => allowed.includes(scope));
    await tx
      .update(apiKeys)
      .set({
        tier,
        scopes,
        rateLimitPerMinute: policy.rateLimitPerMinute,
        rateLimitPerDay: policy.rateLimitPerDay,
      })
      .where(eq(apiKeys.id, key.id));
    await recordAudit(tx, {
      userId: ownerId,
      action: "key.downgraded",
      keyId: key.id,
      keyPrefix: key.keyPrefix,
      details: {
        from: key.tier,
        to: tier,
        scopes_removed: key.scopes.filter((scope) => !allowed.includes(scope)),
      },
      at: now,
    });
  }
  await notifyKeysChanged(
    tx,
    keys.map((key) => key.keyHash),
  );
  return keys.length;
}
