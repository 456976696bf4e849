import {
  alertEvents,
  and,
  count,
  desc,
  eq,
  inArray,
  isNull,
  notificationPreferences,
  sql,
  type Executor,
} from "@repo/db";
import { isoSeconds } from "../keys/serialize.js";

const LISTED = 50;

/** The bell: the account's latest in-app events and how many are unread. */
export async function listNotifications(db: Executor, ownerId: string) {
  const mine = and(eq(alertEvents.ownerId, ownerId), eq(alertEvents.inApp, true));
  const rows = await db
    .select()
    .from(alertEvents)
    .where(mine)
    .orderBy(desc(alertEvents.createdAt), desc(alertEvents.id))
    .limit(LISTED);
  const [unread] = await db
    .select({ n: count() })
    .from(alertEvents)
    .where(and(mine, isNull(alertEvents.readAt)));
  return {
    unread: unread?.n ?? 0,
    items: rows.map((row) => ({
      id: row.id,
      type: row.type,
      data: row.data,
      created_at: isoSeconds(row.createdAt),
      read: row.readAt !== null,
    })),
  };
}

export async function markNotificationsRead(
  db: Executor,
  ownerId: string,
  input: { ids: string[] } | { all: true },
  now: Date,
) {
  const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
  const ids = "ids" in input ? input.ids.filter((id) => UUID.test(id)) : null;
  if (ids && ids.length === 0) return { updated: 0 };
  const updated = await db
    .update(alertEvents)
    .set({ readAt: now })
    .where(
      and(
        eq(alertEvents.ownerId, ownerId),
        isNull(alertEvents.readAt),
        ...(ids ? [inArray(alertEvents.id, ids)] : []),
      ),
    )
    .returning({ id: alertEvents.id });
  return { updated: updated.length };
}

/** Event types the account turned off in the bell (everything else notifies). */
export async function notificationPreferencesOf(db: Executor, ownerId: string) {
  const rows = await db
    .select()
    .from(notificationPreferences)
    .where(eq(notificationPreferences.ownerId, ownerId));
  return Object.fromEntries(rows.map((row) => [row.type, row.inApp]));
}

export async function setNotificationPreference(
  db: Executor,
  ownerId: string,
  input: { type: string; in_app: boolean },
) {
  await db
    .insert(notificationPreferences)
    .values({ ownerId, type: input.type, inApp: input.in_app })
    .onConflictDoUpdate({
      target: [notificationPreferences.ownerId, notificationPreferences.type],
      set: { inApp: sql`excluded.in_app` },
    });
  return notificationPreferencesOf(db, ownerId);
}
