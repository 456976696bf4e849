import { SECONDS_PER_DAY, secondsUntil } from "./time.js";

export type KeyStatus = "active" | "expired" | "revoked";

interface KeyDates {
  revoked_at: string | null;
  expires_at: string | null;
}

/** Keys expiring within this many days are highlighted so someone rotates them in time. */
export const EXPIRY_WARNING_DAYS = 7;

/** Revoked wins over expired: revocation is the deliberate, permanent state. */
export function keyStatus(key: KeyDates, now: Date): KeyStatus {
  if (key.revoked_at !== null) return "revoked";
  if (key.expires_at !== null && secondsUntil(key.expires_at, now) <= 0) return "expired";
  return "active";
}

/** An active key that stops working within {@link EXPIRY_WARNING_DAYS} days. */
export function expiresSoon(key: KeyDates, now: Date): boolean {
  if (keyStatus(key, now) !== "active" || key.expires_at === null) return false;
  return secondsUntil(key.expires_at, now) < EXPIRY_WARNING_DAYS * SECONDS_PER_DAY;
}

export const STATUS_LABEL: Record<KeyStatus, string> = {
  active: "Active",
  expired: "Expired",
  revoked: "Revoked",
};
