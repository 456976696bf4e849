import type { ApiKey } from "@repo/db";
import type { CreatedKey, KeyDetail, KeyListItem } from "./schemas.js";

/** ISO-8601 UTC in the documentation's style: `2026-05-17T09:42:11Z`. */
export function isoSeconds(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, "Z");
}

const isoOrNull = (date: Date | null) => (date ? isoSeconds(date) : null);

/**
 * The one serializer of key rows: REST responses and tRPC results are built from these, so
 * the dashboard sees exactly what REST clients see. Secrets and hashes are never read here.
 */
export function toKeyListItem(row: ApiKey): KeyListItem {
  return {
    id: row.id,
    key_prefix: row.keyPrefix,
    name: row.name,
    tier: row.tier,
    scopes: row.scopes,
    total_requests: row.totalRequests,
    last_used_at: isoOrNull(row.lastUsedAt),
    created_at: isoSeconds(row.createdAt),
    expires_at: isoOrNull(row.expiresAt),
    revoked_at: isoOrNull(row.revokedAt),
  };
}

export function toKeyDetail(row: ApiKey): KeyDetail {
  return {
    ...toKeyListItem(row),
    rate_limit_per_minute: row.rateLimitPerMinute,
    rate_limit_per_day: row.rateLimitPerDay,
    allowed_ips: row.allowedIps,
    revoked_reason: row.revokedReason,
    rotated_to: row.rotatedToId,
    rotated_from: row.rotatedFromId,
  };
}

export function toCreatedKey(row: ApiKey, key: string): CreatedKey {
  return {
    ...toKeyListItem(row),
    key_preview: `${row.keyPrefix}••••••••`,
    rate_limit_per_minute: row.rateLimitPerMinute,
    rate_limit_per_day: row.rateLimitPerDay,
    allowed_ips: row.allowedIps,
    key,
    full_key: key,
  };
}
