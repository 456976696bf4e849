import type { RouterInputs } from "@repo/api";
import { parseIpList } from "./create-key-form.js";

export type UpdateKeyInput = RouterInputs["keys"]["update"];

/** Sooner expiries the dashboard offers (PATCH only ever shortens a key's life). */
export const SOONER_CHOICES = [
  { hours: 1, label: "In 1 hour" },
  { hours: 8, label: "In 8 hours" },
  { hours: 24, label: "In 24 hours" },
  { hours: 7 * 24, label: "In 7 days" },
  { hours: 30 * 24, label: "In 30 days" },
] as const;

export interface AccessValues {
  scopes: string[];
  allowedIps: string;
  /** Hours from now, or null: keep the current expiry. */
  expiresInHours: number | null;
}

export interface EditableKey {
  id: string;
  scopes: string[];
  allowed_ips: string[] | null;
  expires_at: string | null;
}

export function accessValues(key: EditableKey): AccessValues {
  return {
    scopes: [...key.scopes],
    allowedIps: (key.allowed_ips ?? []).join("\n"),
    expiresInHours: null,
  };
}

/** The sooner expiries that really are sooner than the key's current one. */
export function soonerChoices(key: EditableKey, now: Date) {
  if (key.expires_at === null) return [...SOONER_CHOICES];
  const left = new Date(key.expires_at).getTime() - now.getTime();
  return SOONER_CHOICES.filter((choice) => choice.hours * 3_600_000 < left);
}

/**
 * The PATCH for what changed (nothing else is sent), or an error for the form. Scopes can
 * only be dropped; an empty address list means any address (`null`).
 */
export function toUpdateInput(
  key: EditableKey,
  values: AccessValues,
): { input: UpdateKeyInput | null; error?: undefined } | { input?: undefined; error: string } {
  if (values.scopes.length === 0) return { error: "Keep at least one scope." };
  const input: UpdateKeyInput = { id: key.id };
  if (values.scopes.length !== key.scopes.length) {
    // The server checks each against the key's own scopes (a subset only).
    input.scopes = key.scopes.filter((scope) => values.scopes.includes(scope)) as NonNullable<
      UpdateKeyInput["scopes"]
    >;
  }
  const ips = [...new Set(parseIpList(values.allowedIps))];
  const before = key.allowed_ips ?? [];
  if (ips.length !== before.length || ips.some((ip, i) => ip !== before[i])) {
    input.allowed_ips = ips.length > 0 ? ips : null;
  }
  if (values.expiresInHours !== null) input.expires_in_hours = values.expiresInHours;
  return { input: Object.keys(input).length > 1 ? input : null };
}
