import type { DatabaseHandle } from "@repo/db";
import { queryRows, sql } from "@repo/db";
import { safeError, WEBHOOK_OUTBOX_CHANNEL, writeAlertEvents } from "@repo/core";
import { Webhook } from "standardwebhooks";
import { sweepKeyExpiry } from "./expiry-sweep.js";
import { postWebhook, type DestinationPolicy } from "./ssrf-guard.js";

const SECOND = 1_000;
const HOUR = 3_600_000;
const DAY = 86_400_000;
/** Retries stop, and an endpoint failing all along is disabled, after this long. */
export const RETRY_WINDOW_MS = 3 * DAY;
const FIRST_RETRY_MS = 30 * SECOND;
const MAX_RETRY_DELAY_MS = 8 * HOUR;

export interface DeliveryWorkerOptions {
  database: DatabaseHandle;
  now: () => Date;
  log: { warn(obj: object, msg: string): void; info(obj: object, msg: string): void };
  policy: DestinationPolicy;
  /** Per attempt, DNS to response headers (10 s). */
  timeoutMs?: number;
  /** How long a claimed delivery stays claimed if its worker dies (timeout + margin). */
  leaseMs?: number;
  pollIntervalMs?: number;
  /** Expiry notices (key.expiring/expired) are looked for this often. */
  sweepIntervalMs?: number;
  batchSize?: number;
  /** [0, 1): the jitter's source (tests pin it). */
  random?: () => number;
}

interface Claimed {
  id: number;
  event_id: string;
  endpoint_id: string;
  owner_id: string;
  attempts: number;
  created_at: string;
  type: string;
  data: Record<string, unknown>;
  event_at: string;
  url: string;
  secret: string;
  previous_secret: string | null;
  previous_secret_expires_at: string | null;
  failing_since: string | null;
}

/** The delay before retry number `attempt` (1 = after the first failure), ±25% jitter. */
export function retryDelayMs(attempt: number, random: () => number = Math.random): number {
  const base = Math.min(FIRST_RETRY_MS * 2 ** Math.max(0, attempt - 1), MAX_RETRY_DELAY_MS);
  return Math.round(base * (0.75 + random() * 0.5));
}

/** The Standard Webhooks message id of an event: stable across retries and redeliveries. */
export const messageId = (eventId: string) => `msg_${eventId.replaceAll("-", "")}`;

/**
 * Delivers the outbox. Each round claims due deliveries with `FOR UPDATE SKIP LOCKED` and a
 * lease (so several processes never take the same row, and a crashed worker's claims lapse and
 * are retried), POSTs them signed per Standard Webhooks, and records the outcome: delivered;
 * retried with exponential backoff and jitter for three days; given up. An endpoint answering
 * 410, or failing for three days, is disabled and its account notified. Woken by NOTIFY when
 * events are written, and polls as a safety net.
 */
export function createDeliveryWorker(options: DeliveryWorkerOptions) {
  const { database } = options;
  const db = database.db;
  const timeoutMs = options.timeoutMs ?? 10 * SECOND;
  const leaseMs = options.leaseMs ?? timeoutMs + 20 * SECOND;
  const batchSize = options.batchSize ?? 20;
  const random = options.random ?? Math.random;
  const inflight = new AbortController();
  let running: Promise<number> | null = null;
  let again = false;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let sweepTimer: NodeJS.Timeout | undefined;
  let unlisten: (() => Promise<void>) | undefined;

  async function claim(): Promise<Claimed[]> {
    const now = options.now();
    return queryRows<Claimed>(
      db,
      sql`
        with claimed as (
          update webhook_deliveries d
             set locked_until = ${new Date(now.getTime() + leaseMs).toISOString()}::timestamptz,
                 attempts = d.attempts + 1
           where d.id in (
             select id from webhook_deliveries
              where status = 'pending'
                and next_attempt_at <= ${now.toISOString()}::timestamptz
                and (locked_until is null or locked_until <= ${now.toISOString()}::timestamptz)
              order by next_attempt_at
              limit ${batchSize}
              for update skip locked)
          returning d.id, d.event_id, d.endpoint_id, d.attempts, d.created_at
        )
        select c.id, c.event_id, c.endpoint_id, c.attempts, c.created_at,
               e.type, e.data, e.created_at as event_at, w.owner_id,
               w.url, w.secret, w.previous_secret, w.previous_secret_expires_at, w.failing_since
          from claimed c
          join alert_events e on e.id = c.event_id
          join webhook_endpoints w on w.id = c.endpoint_id
      `,
    );
  }

  function sign(delivery: Claimed, body: string, now: Date) {
    const id = messageId(delivery.event_id);
    // The header carries the wall-clock send time: receivers check it against their clocks.
    const sentAt = new Date();
    const secrets = [delivery.secret];
    if (
      delivery.previous_secret &&
      delivery.previous_secret_expires_at &&
      new Date(delivery.previous_secret_expires_at) > now
    ) {
      secrets.push(delivery.previous_secret);
    }
    return {
      "content-type": "application/json",
      "user-agent": "keyservice-webhooks/1",
      "webhook-id": id,
      "webhook-timestamp": String(Math.floor(sentAt.getTime() / 1000)),
      "webhook-signature": secrets
        .map((secret) => new Webhook(secret).sign(id, sentAt, body))
        .join(" "),
    };
  }

  async function deliver(delivery: Claimed) {
    const now = options.now();
    const body = JSON.stringify({
      type: delivery.type,
      timestamp: new Date(delivery.event_at).toISOString(),
      data: delivery.data,
    });
    const result = await postWebhook(delivery.url, body, sign(delivery, body, now), {
      policy: options.policy,
      timeoutMs,
      signal: inflight.signal,
    });
    // Stopped mid-delivery (shutdown): the lease lapses and another worker retries it.
    if (inflight.signal.aborted) return;
    const at = options.now();
    const ok = result.status !== null && result.status >= 200 && result.status < 300;
    const common = {
      lastStatus: result.status,
      lastError: ok ? null : (result.error ?? `HTTP ${result.status}`),
      durationMs: result.durationMs,
      at: at.toISOString(),
    };
    if (ok) {
      await db.execute(sql`
        with d as (
          update webhook_deliveries
             set status = 'delivered', locked_until = null, next_attempt_at = null,
                 last_status = ${common.lastStatus}, last_error = null,
                 last_duration_ms = ${common.durationMs}, last_attempt_at = ${common.at}::timestamptz
           where id = ${delivery.id} returning endpoint_id
        )
        update webhook_endpoints set failing_since = null where id in (select endpoint_id from d)
      `);
      return;
    }
    const failingSince = delivery.failing_since ? new Date(delivery.failing_since) : at;
    const gone = result.status === 410;
    const tooLong = at.getTime() - failingSince.getTime() >= RETRY_WINDOW_MS;
    const giveUp =
      gone || at.getTime() - new Date(delivery.created_at).getTime() >= RETRY_WINDOW_MS;
    const next = giveUp ? null : new Date(at.getTime() + retryDelayMs(delivery.attempts, random));
    await db.transaction(async (tx) => {
      await tx.execute(sql`
        update webhook_deliveries
           set status = ${giveUp ? "failed" : "pending"}, locked_until = null,
               next_attempt_at = ${next?.toISOString() ?? null}::timestamptz,
               last_status = ${common.lastStatus}, last_error = ${common.lastError},
               last_duration_ms = ${common.durationMs}, last_attempt_at = ${common.at}::timestamptz
         where id = ${delivery.id}
      `);
      await tx.execute(sql`
        update webhook_endpoints set failing_since = coalesce(failing_since, ${common.at}::timestamptz)
         where id = ${delivery.endpoint_id}
      `);
      if (gone || tooLong) {
        await disableEndpoint(tx, delivery, gone ? "answered 410 Gone" : "failing for 3 days", at);
      }
    });
  }

  async function disableEndpoint(
    tx: Parameters<Parameters<typeof db.transaction>[0]>[0],
    delivery: Claimed,
    reason: string,
    at: Date,
  ) {
    const disabled = await queryRows<{ id: string }>(
      tx,
      sql`
        update webhook_endpoints set disabled_at = ${at.toISOString()}::timestamptz,
               disabled_reason = ${reason}
         where id = ${delivery.endpoint_id} and disabled_at is null
        returning id
      `,
    );
    if (disabled.length === 0) return;
    await tx.execute(sql`
      update webhook_deliveries
         set status = 'failed', next_attempt_at = null, locked_until = null,
             last_error = coalesce(last_error, 'endpoint disabled')
       where endpoint_id = ${delivery.endpoint_id} and status = 'pending'
    `);
    await writeAlertEvents(tx, [
      {
        ownerId: delivery.owner_id,
        type: "webhook.endpoint_disabled",
        atMs: at.getTime(),
        data: { endpoint_id: delivery.endpoint_id, url: delivery.url, reason },
      },
    ]);
    options.log.info({ endpoint: delivery.endpoint_id, reason }, "webhook endpoint disabled");
  }

  /** One round: claims what is due and delivers it. Resolves with how many were attempted. */
  async function runOnce(): Promise<number> {
    const claimed = await claim();
    await Promise.all(
      claimed.map((delivery) =>
        deliver(delivery).catch((error: unknown) => {
          options.log.warn({ error: safeError(error) }, "webhook delivery could not be recorded");
        }),
      ),
    );
    return claimed.length;
  }

  /** Runs rounds until nothing is due (coalescing wake-ups that arrive meanwhile). */
  function drain(): Promise<number> {
    if (running) {
      again = true;
      return running;
    }
    running = (async () => {
      let total = 0;
      do {
        again = false;
        try {
          let n: number;
          do {
            n = await runOnce();
            total += n;
          } while (n > 0 && !stopped);
        } catch (error) {
          options.log.warn({ error: safeError(error) }, "webhook outbox round failed");
        }
      } while (again && !stopped);
      return total;
    })().finally(() => (running = null));
    return running;
  }

  async function sweep() {
    try {
      await sweepKeyExpiry(db, options.now());
    } catch (error) {
      options.log.warn({ error: safeError(error) }, "key expiry sweep failed");
    }
  }

  return {
    runOnce,
    drain,
    sweep,
    /** Starts polling, listening for wake-ups and sweeping for expiring keys. */
    async start() {
      const subscription = await database.listen(WEBHOOK_OUTBOX_CHANNEL, () => void drain());
      unlisten = () => subscription.unlisten();
      timer = setInterval(() => void drain(), options.pollIntervalMs ?? SECOND);
      timer.unref();
      sweepTimer = setInterval(() => void sweep(), options.sweepIntervalMs ?? 60 * SECOND);
      sweepTimer.unref();
      void drain();
      void sweep();
    },
    /**
     * Stops claiming. `abandon` aborts deliveries in flight without recording them (their
     * leases lapse and another worker retries them); otherwise they are let finish.
     */
    async stop({ abandon = false }: { abandon?: boolean } = {}) {
      stopped = true;
      clearInterval(timer);
      clearInterval(sweepTimer);
      await unlisten?.().catch(() => {});
      if (abandon) inflight.abort();
      await running?.catch(() => {});
    },
  };
}

export type DeliveryWorker = ReturnType<typeof createDeliveryWorker>;
