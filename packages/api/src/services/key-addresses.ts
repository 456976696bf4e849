import { MAX_ADDRESSES_PER_KEY } from "@repo/core";
import { apiKeyAddresses, desc, eq, type Executor } from "@repo/db";
import type { KeyAddress } from "../keys/schemas.js";
import { isoSeconds } from "../keys/serialize.js";
import { findOwnedKey } from "./key-service.js";

const DAY_MS = 86_400_000;

/**
 * True when an address is worth a second look: first seen after the key's first day of use
 * (its integration settled on its addresses by then) and within the last 7 days.
 */
export function isNewAddress(firstSeenMs: number, keyFirstUseMs: number, nowMs: number) {
  return firstSeenMs > keyFirstUseMs + DAY_MS && firstSeenMs > nowMs - 7 * DAY_MS;
}

/**
 * Where one of the owner's keys is used from, most recently seen first. The key's first use is
 * the earliest first-seen of its addresses (the data plane keeps the 100 most recently seen).
 */
export async function getKeyAddresses(db: Executor, ownerId: string, keyId: string, now: Date) {
  const key = await findOwnedKey(db, ownerId, keyId);
  const rows = await db
    .select()
    .from(apiKeyAddresses)
    .where(eq(apiKeyAddresses.keyId, key.id))
    .orderBy(desc(apiKeyAddresses.lastSeenAt), apiKeyAddresses.address)
    .limit(MAX_ADDRESSES_PER_KEY);
  const firstUseMs = Math.min(now.getTime(), ...rows.map((row) => row.firstSeenAt.getTime()));
  const data: KeyAddress[] = rows.map((row) => ({
    address: row.address,
    first_seen_at: isoSeconds(row.firstSeenAt),
    last_seen_at: isoSeconds(row.lastSeenAt),
    requests: row.requests,
    new: isNewAddress(row.firstSeenAt.getTime(), firstUseMs, now.getTime()),
  }));
  return { data, meta: { total: data.length } };
}
