import { insertTestKey, type TestKey } from "@repo/api/testing";
import { apiKeys, eq, type Database } from "@repo/db";

/** Creates an account and a key straight in the database (the mint API is not under test). */
export const createKey = insertTestKey;
export type { TestKey };

export async function keyRow(db: Database, id: string) {
  const [row] = await db.select().from(apiKeys).where(eq(apiKeys.id, id));
  return row!;
}

/** A settable clock for the app's injectable `now`. */
export function fakeClock(start: string) {
  let current = new Date(start).getTime();
  return {
    now: () => new Date(current),
    set(iso: string) {
      current = new Date(iso).getTime();
    },
    advance(ms: number) {
      current += ms;
    },
  };
}

/**
 * The app's `now`, stopped at the current time. Failed-auth attempts and a key's requests are
 * counted per UTC minute, so a burst that straddled a minute boundary would start counting
 * afresh halfway through; a stopped clock keeps a burst in one minute.
 */
export function stoppedClock() {
  return fakeClock(new Date().toISOString()).now;
}
