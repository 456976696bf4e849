import { apiKeys, and, eq, users, type ApiKey, type Transaction } from "@repo/db";
import { ApiError, generateKey, notifyKeysChanged, TIERS, writeAlertEvents } from "@repo/core";
import type { ApiDeps } from "../deps.js";
import type { RotateKeyInput, UpdateKeyInput } from "../keys/schemas.js";
import { isoSeconds, toCreatedKey, toKeyDetail } from "../keys/serialize.js";
import { recordAudit, type RequestMeta } from "./audit-log.js";
import {
  findOwnedKey,
  keyCreatedAlert,
  requestedLifetimeSeconds,
  STORE_WARNING,
} from "./key-service.js";

const MINUTE_MS = 60_000;

/** The owner's key, locked for the transaction: concurrent changes to it run one at a time. */
async function lockOwnedKey(tx: Transaction, ownerId: string, keyId: string): Promise<ApiKey> {
  const found = await findOwnedKey(tx, ownerId, keyId);
  const [locked] = await tx.select().from(apiKeys).where(eq(apiKeys.id, found.id)).for("update");
  if (!locked) throw new ApiError("key_not_found");
  return locked;
}

const isExpired = (row: ApiKey, now: Date) =>
  row.expiresAt !== null && row.expiresAt.getTime() <= now.getTime();

/**
 * Replaces a key without downtime: mints its successor (same name, scopes narrowed to the
 * account's current tier, allowed addresses and minted lifetime) and lets the old key live
 * for the grace period, never longer than it would have anyway. The key row is locked, so of
 * two concurrent rotations exactly one succeeds; the other sees `rotated_to` and gets 409.
 * The successor takes the old key's place in the allowance (see countsAgainstAllowance), so
 * a rotation never hits the key limit. Every process drops the old key's cached record when
 * this commits (its expiry changed), so the deadline holds everywhere.
 */
export async function rotateKey(
  deps: ApiDeps,
  ownerId: string,
  input: RotateKeyInput,
  meta: RequestMeta,
) {
  const now = deps.now();
  const graceEnd = new Date(now.getTime() + input.expire_current_in_minutes * MINUTE_MS);
  const result = await deps.db.transaction(async (tx) => {
    const old = await lockOwnedKey(tx, ownerId, input.id);
    if (old.rotatedToId !== null) {
      throw new ApiError("key_already_rotated", { details: { rotated_to: old.rotatedToId } });
    }
    if (old.revokedAt !== null || isExpired(old, now)) throw new ApiError("key_not_active");

    const [owner] = await tx.select({ tier: users.tier }).from(users).where(eq(users.id, ownerId));
    if (!owner) throw new ApiError("not_authenticated");
    const policy = TIERS[owner.tier];
    const tierScopes: readonly string[] = policy.scopes;
    const scopes = old.scopes.filter((scope) => tierScopes.includes(scope));
    if (scopes.length === 0) {
      throw new ApiError("validation_error", {
        message: `None of this key's scopes are in your ${owner.tier} tier: create a new key instead.`,
        details: { field: "scopes", allowed: tierScopes },
      });
    }
    // Keys minted before lifetimes were recorded: their original span is the lifetime.
    const lifetimeSeconds =
      old.lifetimeSeconds ??
      (old.expiresAt
        ? Math.round((old.expiresAt.getTime() - old.createdAt.getTime()) / 1000)
        : null);

    const generated = generateKey();
    const [successor] = await tx
      .insert(apiKeys)
      .values({
        ownerId,
        name: old.name,
        keyPrefix: generated.prefix,
        keyHash: generated.hash,
        tier: owner.tier,
        scopes,
        rateLimitPerMinute: policy.rateLimitPerMinute,
        rateLimitPerDay: policy.rateLimitPerDay,
        allowedIps: old.allowedIps,
        createdAt: now,
        lifetimeSeconds,
        expiresAt:
          lifetimeSeconds === null ? null : new Date(now.getTime() + lifetimeSeconds * 1000),
        rotatedFromId: old.id,
      })
      .returning();
    if (!successor) throw new Error("insert returned no row");

    const oldExpiresAt =
      old.expiresAt && old.expiresAt.getTime() < graceEnd.getTime() ? old.expiresAt : graceEnd;
    await tx
      .update(apiKeys)
      .set({ rotatedToId: successor.id, expiresAt: oldExpiresAt })
      .where(eq(apiKeys.id, old.id));
    await notifyKeysChanged(tx, [old.keyHash]);

    await recordAudit(tx, {
      userId: ownerId,
      action: "key.rotated",
      keyId: old.id,
      keyPrefix: old.keyPrefix,
      details: {
        name: old.name,
        rotated_to: successor.id,
        rotated_to_prefix: successor.keyPrefix,
        grace_minutes: input.expire_current_in_minutes,
        previous_expires_at: old.expiresAt ? isoSeconds(old.expiresAt) : null,
        expires_at: isoSeconds(oldExpiresAt),
      },
      meta,
      at: now,
    });
    await recordAudit(tx, {
      userId: ownerId,
      action: "key.created",
      keyId: successor.id,
      keyPrefix: successor.keyPrefix,
      details: {
        name: successor.name,
        scopes: successor.scopes,
        expires_at: successor.expiresAt ? isoSeconds(successor.expiresAt) : null,
        allowed_ips: successor.allowedIps,
        rotated_from: old.id,
      },
      meta,
      at: now,
    });
    // The rotation, and the successor as a key like any other (endpoints that follow
    // `key.created` learn of it too).
    await writeAlertEvents(tx, [
      {
        ownerId,
        type: "key.rotated",
        atMs: now.getTime(),
        data: {
          key_id: old.id,
          key_prefix: old.keyPrefix,
          name: old.name,
          rotated_to: successor.id,
          rotated_to_prefix: successor.keyPrefix,
          expires_at: isoSeconds(oldExpiresAt),
        },
      },
      keyCreatedAlert(successor, now),
    ]);
    return { old, successor, key: generated.key, oldExpiresAt };
  });
  // The successor's hash too: it must verify here the moment its secret is shown.
  deps.onKeysChanged([result.old.keyHash, result.successor.keyHash]);

  return {
    data: { ...toCreatedKey(result.successor, result.key), rotated_from: result.old.id },
    meta: {
      warning: STORE_WARNING,
      previous_key: { id: result.old.id, expires_at: isoSeconds(result.oldExpiresAt) },
    },
  };
}

/**
 * Edits a key in place: its name, its allowed addresses, fewer scopes, a sooner expiry. It can
 * never widen what the key may do (more scopes, a later expiry): those need a new key. The
 * change reaches every process's key cache the way a revocation does, so the very next
 * request anywhere sees it. Revoked keys are final.
 */
export async function updateKey(
  deps: ApiDeps,
  ownerId: string,
  input: UpdateKeyInput,
  meta: RequestMeta,
) {
  const now = deps.now();
  const updated = await deps.db.transaction(async (tx) => {
    const row = await lockOwnedKey(tx, ownerId, input.id);
    if (row.revokedAt !== null) throw new ApiError("key_not_active");

    const changes: Partial<Pick<ApiKey, "name" | "allowedIps" | "scopes" | "expiresAt">> = {};
    const changed: Record<string, { from: unknown; to: unknown }> = {};

    if (input.name !== undefined && input.name !== row.name) {
      changes.name = input.name;
      changed.name = { from: row.name, to: input.name };
    }
    if (input.allowed_ips !== undefined) {
      const next = input.allowed_ips?.length ? [...new Set(input.allowed_ips)] : null;
      changes.allowedIps = next;
      changed.allowed_ips = { from: row.allowedIps, to: next };
    }
    if (input.scopes !== undefined) {
      const beyond = input.scopes.filter((scope) => !row.scopes.includes(scope));
      if (beyond.length > 0) {
        throw new ApiError("validation_error", {
          message: `Scopes can only be narrowed. This key does not have: ${beyond.join(", ")}.`,
          details: { field: "scopes", allowed: row.scopes },
        });
      }
      changes.scopes = input.scopes;
      changed.scopes = { from: row.scopes, to: input.scopes };
    }
    const lifetime = requestedLifetimeSeconds(input);
    if (lifetime !== null) {
      const expiresAt = new Date(now.getTime() + lifetime * 1000);
      if (row.expiresAt !== null && expiresAt.getTime() > row.expiresAt.getTime()) {
        throw new ApiError("validation_error", {
          message: `The expiry can only be brought forward: this key expires at ${isoSeconds(row.expiresAt)}.`,
          details: {
            field: input.expires_in_hours !== undefined ? "expires_in_hours" : "expires_in_days",
            expires_at: isoSeconds(row.expiresAt),
          },
        });
      }
      changes.expiresAt = expiresAt;
      changed.expires_at = {
        from: row.expiresAt ? isoSeconds(row.expiresAt) : null,
        to: isoSeconds(expiresAt),
      };
    }

    if (Object.keys(changes).length === 0) return { row, changed: false };
    const [next] = await tx
      .update(apiKeys)
      .set(changes)
      .where(and(eq(apiKeys.id, row.id), eq(apiKeys.ownerId, ownerId)))
      .returning();
    if (!next) throw new ApiError("key_not_found");
    await notifyKeysChanged(tx, [row.keyHash]);
    await recordAudit(tx, {
      userId: ownerId,
      action: "key.updated",
      keyId: row.id,
      keyPrefix: row.keyPrefix,
      details: { name: next.name, changes: changed },
      meta,
      at: now,
    });
    return { row: next, changed: true };
  });
  if (updated.changed) deps.onKeysChanged([updated.row.keyHash]);
  return { data: toKeyDetail(updated.row) };
}
