import { randomUUID } from "node:crypto";
import { queryRows, sql, type Executor } from "@repo/db";

/** The event types an endpoint may subscribe to (CONTRACT §6), in display order. */
export const WEBHOOK_EVENT_TYPES = [
  "key.created",
  "key.rotated",
  "key.revoked",
  "key.expiring",
  "key.expired",
  "key.quota_warning",
  "key.revoked_key_used",
  "key.new_address",
  "canary.triggered",
  "account.second_factor_changed",
  "account.password_changed",
  "account.session_new_address",
] as const;
export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number] | "webhook.test";

/** In-app only (never sent to a webhook): the service telling the account about itself. */
export type InAppEventType = "webhook.endpoint_disabled";
export type AlertEventType = WebhookEventType | InAppEventType;

/** Postgres NOTIFY channel: new deliveries are due (wakes the delivery workers). */
export const WEBHOOK_OUTBOX_CHANNEL = "webhook_outbox";
/** Postgres NOTIFY channel: a canary was minted or retired (gateways reload their set). */
export const CANARY_CHANGES_CHANNEL = "canary_changes";

export interface AlertEventInput {
  /** Preset id (e.g. a canary trigger's), so a retried write inserts nothing twice. */
  id?: string;
  ownerId: string;
  type: AlertEventType;
  /** The webhook body's `data`: ids and prefixes, never a secret. */
  data: Record<string, unknown>;
  /** "At most once" across processes and retries: a second event with this key is dropped. */
  dedupeKey?: string | null;
  atMs: number;
}

/**
 * Writes events to `alert_events` and fans each one out to the owner's enabled endpoints
 * subscribed to its type (`webhook_deliveries`, due at once): one statement, so an event and
 * its deliveries commit together. Duplicates (same id or dedupe key) are skipped. Wakes the
 * delivery workers when anything is due. Returns how many events were new.
 */
export async function writeAlertEvents(
  db: Executor,
  events: readonly AlertEventInput[],
): Promise<number> {
  if (events.length === 0) return 0;
  const input = events.map((event) => ({
    id: event.id ?? randomUUID(),
    owner_id: event.ownerId,
    type: event.type,
    data: event.data,
    dedupe_key: event.dedupeKey ?? null,
    created_at: new Date(event.atMs).toISOString(),
  }));
  const [result] = await queryRows<{ events: number; deliveries: number }>(
    db,
    sql`
      with input as (
        select * from jsonb_to_recordset(${JSON.stringify(input)}::jsonb)
          as t(id uuid, owner_id text, type text, data jsonb, dedupe_key text, created_at timestamptz)
      ), inserted as (
        insert into alert_events (id, owner_id, type, data, dedupe_key, in_app, created_at)
        select i.id, i.owner_id, i.type, i.data, i.dedupe_key,
               coalesce((select p.in_app from notification_preferences p
                          where p.owner_id = i.owner_id and p.type = i.type), true),
               i.created_at
          from input i
         where exists (select 1 from users u where u.id = i.owner_id)
        on conflict do nothing
        returning id, owner_id, type, created_at
      ), fanout as (
        insert into webhook_deliveries (event_id, endpoint_id, next_attempt_at, created_at)
        select e.id, w.id, e.created_at, e.created_at
          from inserted e
          join webhook_endpoints w
            on w.owner_id = e.owner_id and w.disabled_at is null and e.type = any(w.events)
        returning 1
      )
      select (select count(*) from inserted)::int as events,
             (select count(*) from fanout)::int as deliveries
    `,
  );
  if ((result?.deliveries ?? 0) > 0) await notifyOutbox(db);
  return result?.events ?? 0;
}

/** Wakes every delivery worker (inside a transaction: when it commits). */
export async function notifyOutbox(db: Executor) {
  await db.execute(sql`select pg_notify(${WEBHOOK_OUTBOX_CHANNEL}, '')`);
}

/** One use of a canary, as the gateway saw it. */
export interface CanaryTriggerInput {
  id: string;
  canaryId: string;
  ownerId: string;
  name: string;
  note: string;
  keyPrefix: string;
  atMs: number;
  address: string;
  userAgent: string | null;
  method: string;
  path: string;
  credential: string;
}

/**
 * Records canary uses (the trigger rows and the canaries' counters) and raises one
 * `canary.triggered` event per use, with the trigger's id (a retried write adds nothing).
 */
export async function writeCanaryTriggers(
  db: Executor,
  triggers: readonly CanaryTriggerInput[],
): Promise<void> {
  if (triggers.length === 0) return;
  const input = triggers.map((t) => ({
    id: t.id,
    canary_id: t.canaryId,
    at: new Date(t.atMs).toISOString(),
    address: t.address,
    user_agent: t.userAgent,
    method: t.method,
    path: t.path,
    credential: t.credential,
  }));
  await db.execute(sql`
    with input as (
      select * from jsonb_to_recordset(${JSON.stringify(input)}::jsonb)
        as t(id uuid, canary_id uuid, at timestamptz, address text, user_agent text,
             method text, path text, credential text)
    ), inserted as (
      insert into canary_triggers (id, canary_id, at, address, user_agent, method, path, credential)
      select i.id, i.canary_id, i.at, i.address, i.user_agent, i.method, i.path, i.credential
        from input i
       where exists (select 1 from canary_keys c where c.id = i.canary_id)
      on conflict (id) do nothing
      returning canary_id, at
    )
    update canary_keys c
       set trigger_count = c.trigger_count + s.n,
           last_triggered_at = greatest(c.last_triggered_at, s.last)
      from (select canary_id, count(*)::int as n, max(at) as last from inserted group by canary_id) s
     where c.id = s.canary_id
  `);
  await writeAlertEvents(
    db,
    triggers.map((t) => ({
      id: t.id,
      ownerId: t.ownerId,
      type: "canary.triggered" as const,
      atMs: t.atMs,
      data: {
        canary_id: t.canaryId,
        name: t.name,
        note: t.note,
        key_prefix: t.keyPrefix,
        triggered_at: new Date(t.atMs).toISOString(),
        address: t.address,
        user_agent: t.userAgent,
        method: t.method,
        path: t.path,
        credential: t.credential,
      },
    })),
  );
}
