import { randomBytes } from "node:crypto";
import { and, count, desc, eq, queryRows, sql, webhookEndpoints, type Executor } from "@repo/db";
import { ApiError, notifyOutbox } from "@repo/core";
import ipaddr from "ipaddr.js";
import type { ApiDeps } from "../deps.js";
import { isoSeconds } from "../keys/serialize.js";
import { messageId } from "../webhooks/delivery-worker.js";
import type { CreateWebhookInput, UpdateWebhookInput } from "../webhooks/schemas.js";
import { isAllowlisted, refusedRange } from "../webhooks/ssrf-guard.js";
import { recordAudit, type RequestMeta } from "./audit-log.js";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
export const MAX_WEBHOOK_ENDPOINTS = 10;
/** Both the old and the new secret sign deliveries for this long after a rotation. */
export const ROTATION_OVERLAP_MS = 24 * 3_600_000;
const DELIVERIES_LISTED = 50;

const isoOrNull = (date: Date | null) => (date ? isoSeconds(date) : null);

/** `whsec_` + base64 of 32 random bytes (Standard Webhooks: 24–64). */
function newSecret() {
  return `whsec_${randomBytes(32).toString("base64")}`;
}

type Endpoint = typeof webhookEndpoints.$inferSelect;

/** Never the secret: it is shown once, when created or rotated. */
function toEndpoint(row: Endpoint, now: Date) {
  return {
    id: row.id,
    url: row.url,
    description: row.description,
    events: row.events,
    created_at: isoSeconds(row.createdAt),
    enabled: row.disabledAt === null,
    disabled_at: isoOrNull(row.disabledAt),
    disabled_reason: row.disabledReason,
    failing_since: isoOrNull(row.failingSince),
    previous_secret_expires_at:
      row.previousSecretExpiresAt && row.previousSecretExpiresAt > now
        ? isoSeconds(row.previousSecretExpiresAt)
        : null,
  };
}

/**
 * A destination that can never be delivered to is refused up front: an address literal in a
 * private, loopback or link-local range (outside the operator's allowlist), or plain http to
 * anything but an allowlisted address. Names are checked when delivering, on what they
 * resolve to then.
 */
function checkDestination(deps: ApiDeps, url: string) {
  const parsed = new URL(url);
  const host = parsed.hostname.replace(/^\[|\]$/g, "");
  const literal = ipaddr.isValid(host);
  const refused = literal ? refusedRange(host, deps.webhookPolicy) : null;
  const plainRefused =
    parsed.protocol === "http:" && !(literal && isAllowlisted(host, deps.webhookPolicy));
  if (refused || plainRefused) {
    throw new ApiError("validation_error", {
      message: refused
        ? `Webhooks cannot be sent to a ${refused} address.`
        : "Enter an https:// URL (plain http only reaches addresses the operator allowlisted).",
      details: { field: "url" },
    });
  }
}

async function findOwned(db: Executor, ownerId: string, id: string) {
  if (!UUID.test(id)) throw new ApiError("webhook_not_found");
  const [row] = await db
    .select()
    .from(webhookEndpoints)
    .where(and(eq(webhookEndpoints.id, id), eq(webhookEndpoints.ownerId, ownerId)));
  if (!row) throw new ApiError("webhook_not_found");
  return row;
}

export async function listWebhooks(deps: ApiDeps, ownerId: string) {
  const rows = await deps.db
    .select()
    .from(webhookEndpoints)
    .where(eq(webhookEndpoints.ownerId, ownerId))
    .orderBy(desc(webhookEndpoints.createdAt));
  const now = deps.now();
  return rows.map((row) => toEndpoint(row, now));
}

export async function createWebhook(
  deps: ApiDeps,
  ownerId: string,
  input: CreateWebhookInput,
  meta: RequestMeta,
) {
  checkDestination(deps, input.url);
  const now = deps.now();
  const secret = newSecret();
  const row = await deps.db.transaction(async (tx) => {
    await tx.execute(sql`select 1 from users where id = ${ownerId} for update`);
    const [existing] = await tx
      .select({ n: count() })
      .from(webhookEndpoints)
      .where(eq(webhookEndpoints.ownerId, ownerId));
    if ((existing?.n ?? 0) >= MAX_WEBHOOK_ENDPOINTS) {
      throw new ApiError("webhook_limit_reached", { details: { limit: MAX_WEBHOOK_ENDPOINTS } });
    }
    const [inserted] = await tx
      .insert(webhookEndpoints)
      .values({
        ownerId,
        url: input.url,
        description: input.description ?? "",
        events: input.events,
        secret,
        createdAt: now,
      })
      .returning();
    if (!inserted) throw new Error("insert returned no row");
    await recordAudit(tx, {
      userId: ownerId,
      action: "webhook.created",
      details: { endpoint_id: inserted.id, url: inserted.url, events: inserted.events },
      meta,
      at: now,
    });
    return inserted;
  });
  return { id: row.id, secret, endpoint: toEndpoint(row, now) };
}

export async function updateWebhook(
  deps: ApiDeps,
  ownerId: string,
  input: UpdateWebhookInput,
  meta: RequestMeta,
) {
  if (input.url !== undefined) checkDestination(deps, input.url);
  const now = deps.now();
  const row = await deps.db.transaction(async (tx) => {
    const existing = await findOwned(tx, ownerId, input.id);
    const enable = input.enabled === true && existing.disabledAt !== null;
    const disable = input.enabled === false && existing.disabledAt === null;
    const [updated] = await tx
      .update(webhookEndpoints)
      .set({
        ...(input.url !== undefined ? { url: input.url } : {}),
        ...(input.events !== undefined ? { events: input.events } : {}),
        ...(input.description !== undefined ? { description: input.description } : {}),
        ...(enable ? { disabledAt: null, disabledReason: null, failingSince: null } : {}),
        ...(disable ? { disabledAt: now, disabledReason: "disabled by you" } : {}),
      })
      .where(eq(webhookEndpoints.id, existing.id))
      .returning();
    if (disable) {
      await tx.execute(sql`
        update webhook_deliveries set status = 'failed', next_attempt_at = null,
               last_error = coalesce(last_error, 'endpoint disabled')
         where endpoint_id = ${existing.id} and status = 'pending'`);
    }
    await recordAudit(tx, {
      userId: ownerId,
      action: "webhook.updated",
      details: {
        endpoint_id: existing.id,
        fields: Object.keys(input).filter((field) => field !== "id"),
      },
      meta,
      at: now,
    });
    return updated!;
  });
  return toEndpoint(row, now);
}

export async function removeWebhook(deps: ApiDeps, ownerId: string, id: string, meta: RequestMeta) {
  await deps.db.transaction(async (tx) => {
    const existing = await findOwned(tx, ownerId, id);
    await tx.delete(webhookEndpoints).where(eq(webhookEndpoints.id, existing.id));
    await recordAudit(tx, {
      userId: ownerId,
      action: "webhook.removed",
      details: { endpoint_id: existing.id, url: existing.url },
      meta,
      at: deps.now(),
    });
  });
  return { success: true as const };
}

/**
 * A new secret, shown once. The old one keeps signing beside it for 24 hours (both signatures
 * in `webhook-signature`), so a receiver can switch without losing a delivery.
 */
export async function rotateWebhookSecret(
  deps: ApiDeps,
  ownerId: string,
  id: string,
  meta: RequestMeta,
) {
  const now = deps.now();
  const secret = newSecret();
  const row = await deps.db.transaction(async (tx) => {
    const existing = await findOwned(tx, ownerId, id);
    const [updated] = await tx
      .update(webhookEndpoints)
      .set({
        secret,
        previousSecret: existing.secret,
        previousSecretExpiresAt: new Date(now.getTime() + ROTATION_OVERLAP_MS),
      })
      .where(eq(webhookEndpoints.id, existing.id))
      .returning();
    await recordAudit(tx, {
      userId: ownerId,
      action: "webhook.secret_rotated",
      details: { endpoint_id: existing.id },
      meta,
      at: now,
    });
    return updated!;
  });
  return { id: row.id, secret, endpoint: toEndpoint(row, now) };
}

/** Queues a `webhook.test` event for this endpoint alone (not shown in the bell). */
export async function sendTestEvent(deps: ApiDeps, ownerId: string, id: string) {
  const now = deps.now();
  return deps.db.transaction(async (tx) => {
    const endpoint = await findOwned(tx, ownerId, id);
    if (endpoint.disabledAt) {
      throw new ApiError("validation_error", {
        message: "This endpoint is disabled. Enable it first.",
        details: { field: "id" },
      });
    }
    const [event] = await queryRows<{ id: string }>(
      tx,
      sql`
        insert into alert_events (owner_id, type, data, in_app, created_at)
        values (${ownerId}, 'webhook.test',
                ${JSON.stringify({ endpoint_id: endpoint.id, message: "Test event from the key service." })}::jsonb,
                false, ${now.toISOString()}::timestamptz)
        returning id`,
    );
    await tx.execute(sql`
      insert into webhook_deliveries (event_id, endpoint_id, next_attempt_at, created_at)
      values (${event!.id}, ${endpoint.id}, ${now.toISOString()}::timestamptz, ${now.toISOString()}::timestamptz)`);
    await notifyOutbox(tx);
    return { event_id: messageId(event!.id) };
  });
}

/** The endpoint's recent deliveries, newest first. */
export async function listDeliveries(deps: ApiDeps, ownerId: string, id: string) {
  const endpoint = await findOwned(deps.db, ownerId, id);
  const rows = await queryRows<{
    id: number;
    event_id: string;
    type: string;
    status: string;
    attempts: number;
    last_status: number | null;
    last_error: string | null;
    last_duration_ms: number | null;
    next_attempt_at: string | null;
    last_attempt_at: string | null;
    created_at: string;
  }>(
    deps.db,
    sql`
      select d.id::int as id, d.event_id, e.type, d.status, d.attempts, d.last_status, d.last_error,
             d.last_duration_ms, d.next_attempt_at, d.last_attempt_at, d.created_at
        from webhook_deliveries d join alert_events e on e.id = d.event_id
       where d.endpoint_id = ${endpoint.id}
       order by d.id desc
       limit ${DELIVERIES_LISTED}`,
  );
  const iso = (value: string | null) => (value ? isoSeconds(new Date(value)) : null);
  return rows.map((row) => ({
    id: Number(row.id),
    message_id: messageId(row.event_id),
    event: row.type,
    status: row.status as "pending" | "delivered" | "failed",
    attempts: row.attempts,
    response_status: row.last_status,
    error: row.last_error,
    duration_ms: row.last_duration_ms,
    next_retry_at: row.status === "pending" ? iso(row.next_attempt_at) : null,
    last_attempt_at: iso(row.last_attempt_at),
    created_at: iso(row.created_at)!,
  }));
}

/** Sends a delivery again now (same message id: receivers deduplicate by it). */
export async function redeliver(deps: ApiDeps, ownerId: string, id: string, deliveryId: number) {
  const now = deps.now();
  return deps.db.transaction(async (tx) => {
    const endpoint = await findOwned(tx, ownerId, id);
    if (endpoint.disabledAt) {
      throw new ApiError("validation_error", {
        message: "This endpoint is disabled. Enable it first.",
        details: { field: "id" },
      });
    }
    const updated = await queryRows<{ id: number }>(
      tx,
      sql`
        update webhook_deliveries
           set status = 'pending', next_attempt_at = ${now.toISOString()}::timestamptz,
               locked_until = null, created_at = ${now.toISOString()}::timestamptz
         where id = ${deliveryId} and endpoint_id = ${endpoint.id}
        returning id`,
    );
    if (updated.length === 0) throw new ApiError("delivery_not_found");
    await notifyOutbox(tx);
    return { success: true as const };
  });
}
