import { apiKeys, and, eq, gt, isNull, or, sql, type Executor } from "@repo/db";
import { TIERS, TIER_NAMES, type Tier } from "../config/tiers.js";
import { notifyKeysChanged } from "../keys/events.js";
import { recordAudit } from "./audit.js";

/** SQL condition: the key is neither revoked nor expired at `now`. */
export function isActiveKey(now: Date) {
  return and(isNull(apiKeys.revokedAt), or(isNull(apiKeys.expiresAt), gt(apiKeys.expiresAt, now)));
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
  const allowed = policy.scopes as readonly string[];
  const keys = await tx
    .select({
      id: apiKeys.id,
      keyPrefix: apiKeys.keyPrefix,
      keyHash: apiKeys.keyHash,
      tier: apiKeys.tier,
      scopes: apiKeys.scopes,
    })
    .from(apiKeys)
    .where(and(eq(apiKeys.ownerId, ownerId), isActiveKey(now), sql`${apiKeys.tier} in ${higher}`));
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
