import { randomUUID } from "node:crypto";
import type { FastifyRequest } from "fastify";
import { credentialForm, type CanaryRecord } from "./canary-registry.js";
import type { KeyRecord } from "./key-cache.js";
import type { Quota } from "./rate-limit.js";
import type { UsageRecorder } from "./usage-meter.js";

const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;
const MINUTE_MS = 60_000;
/** Keys remembered per detector before it forgets (the database's dedupe keys still hold). */
const MAX_REMEMBERED = 100_000;
/** Uses of one canary recorded per minute per process; a flood beyond it is logged, not stored. */
const CANARY_TRIGGERS_PER_MINUTE = 20;

/**
 * Alerts the data plane raises: quota warnings (80% and 100% of the daily limit), a revoked
 * or expired key presented, a canary used. Each check is a comparison and a map lookup (O(1),
 * no I/O); what fires is queued in the usage buffer and written with the next batch, where
 * the events' dedupe keys make "once per key per day/hour" exact across processes. The maps
 * here only keep one process from queueing the same alert again and again.
 */
export function createDataPlaneAlerts(usage: UsageRecorder) {
  /** keyId → day start + level (80/100) last queued. */
  const quotaWarned = new Map<string, number>();
  /** keyId → hour start last queued. */
  const revokedWarned = new Map<string, number>();
  /** canaryId → [minute start, uses recorded in it]. */
  const canaryUses = new Map<string, [number, number]>();

  function remember<V>(map: Map<string, V>, id: string, value: V) {
    if (map.size >= MAX_REMEMBERED) map.clear();
    map.set(id, value);
  }

  return {
    /** After a key's quota was taken (or read): warn at 80% and 100% of the day's limit. */
    quota(key: KeyRecord, quota: Quota, atMs: number) {
      const perDay = key.limits.perDay;
      if (quota.dayRemaining > perDay * 0.2) return;
      const level = quota.dayRemaining <= 0 ? 100 : 80;
      const dayStart = atMs - (atMs % DAY_MS);
      const marker = dayStart + level;
      const last = quotaWarned.get(key.id);
      if (last !== undefined && last >= marker) return;
      remember(quotaWarned, key.id, marker);
      const day = new Date(dayStart).toISOString().slice(0, 10);
      usage.recordAlert({
        ownerId: key.ownerId,
        type: "key.quota_warning",
        atMs,
        dedupeKey: `key.quota_warning:${key.id}:${day}:${level}`,
        data: {
          key_id: key.id,
          key_prefix: key.keyPrefix,
          threshold_percent: level,
          limit_per_day: perDay,
          remaining: Math.max(0, quota.dayRemaining),
          day,
        },
      });
    },

    /** A revoked or expired key was presented: at most once per key per hour. */
    revokedKeyUsed(
      key: KeyRecord,
      state: "revoked" | "expired",
      request: FastifyRequest,
      atMs: number,
    ) {
      const hourStart = atMs - (atMs % HOUR_MS);
      if (revokedWarned.get(key.id) === hourStart) return;
      remember(revokedWarned, key.id, hourStart);
      usage.recordAlert({
        ownerId: key.ownerId,
        type: "key.revoked_key_used",
        atMs,
        dedupeKey: `key.revoked_key_used:${key.id}:${hourStart}`,
        data: {
          key_id: key.id,
          key_prefix: key.keyPrefix,
          state,
          used_at: new Date(atMs).toISOString(),
          address: request.ip,
          user_agent: request.headers["user-agent"] ?? null,
          method: request.method,
          path: pathOf(request.url),
        },
      });
    },

    /** A canary was presented: recorded and alerted at once (bounded per minute). */
    canaryTriggered(canary: CanaryRecord, request: FastifyRequest, atMs: number) {
      const minute = atMs - (atMs % MINUTE_MS);
      const uses = canaryUses.get(canary.id);
      if (uses && uses[0] === minute) {
        if (uses[1] >= CANARY_TRIGGERS_PER_MINUTE) return;
        uses[1]++;
      } else remember(canaryUses, canary.id, [minute, 1]);
      usage.recordCanaryTrigger({
        id: randomUUID(),
        canaryId: canary.id,
        ownerId: canary.ownerId,
        name: canary.name,
        note: canary.note,
        keyPrefix: canary.keyPrefix,
        atMs,
        address: request.ip,
        userAgent: truncate(request.headers["user-agent"]),
        method: request.method,
        path: pathOf(request.url).slice(0, 500),
        credential: credentialForm(request),
      });
    },
  };
}

export type DataPlaneAlerts = ReturnType<typeof createDataPlaneAlerts>;

/** The path without its query string (which may hold the key itself as `api_key`). */
function pathOf(url: string): string {
  const at = url.indexOf("?");
  return at === -1 ? url : url.slice(0, at);
}

function truncate(value: string | undefined): string | null {
  return value === undefined ? null : value.slice(0, 500);
}
