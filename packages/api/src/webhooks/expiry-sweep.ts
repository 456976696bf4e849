import { queryRows, sql, type Executor } from "@repo/db";
import { writeAlertEvents, type AlertEventInput } from "@repo/core";

const DAY = 86_400_000;

interface Expiring {
  id: string;
  owner_id: string;
  key_prefix: string;
  name: string;
  created_at: string;
  expires_at: string;
}

/**
 * Raises `key.expiring` 7 days and 1 day before a key expires, and `key.expired` once it has,
 * each once per key (dedupe keys; any process may sweep). A notice is only sent for a mark the
 * key lived through: a key minted with 3 days to live gets the 1-day notice, not the 7-day one.
 * Keys that expired more than a day ago (e.g. before the first sweep) are left alone.
 */
export async function sweepKeyExpiry(db: Executor, now: Date): Promise<number> {
  const nowMs = now.getTime();
  const rows = await queryRows<Expiring>(
    db,
    sql`
      select id, owner_id, key_prefix, name, created_at, expires_at from api_keys
       where revoked_at is null and expires_at is not null
         and expires_at > ${new Date(nowMs - DAY).toISOString()}::timestamptz
         and expires_at <= ${new Date(nowMs + 7 * DAY).toISOString()}::timestamptz
       limit 5000
    `,
  );
  const events: AlertEventInput[] = [];
  for (const row of rows) {
    const expiresMs = new Date(row.expires_at).getTime();
    const createdMs = new Date(row.created_at).getTime();
    const data = {
      key_id: row.id,
      key_prefix: row.key_prefix,
      name: row.name,
      expires_at: new Date(expiresMs).toISOString(),
    };
    const base = { ownerId: row.owner_id, atMs: nowMs };
    if (expiresMs <= nowMs) {
      events.push({ ...base, type: "key.expired", data, dedupeKey: `key.expired:${row.id}` });
      continue;
    }
    const days = expiresMs - nowMs <= DAY ? 1 : 7;
    if (createdMs < expiresMs - days * DAY) {
      events.push({
        ...base,
        type: "key.expiring",
        data: { ...data, days_left: days },
        dedupeKey: `key.expiring:${row.id}:${days}d`,
      });
    }
  }
  return writeAlertEvents(db, events);
}
