import type { RouterInputs } from "@repo/api";
import { keyStatus } from "../../lib/key-status.js";

export type CreateKeyInput = RouterInputs["keys"]["create"];

export const EXPIRY_CHOICES = [
  { value: "never", label: "Never" },
  { value: "1h", label: "1 hour" },
  { value: "8h", label: "8 hours" },
  { value: "24h", label: "24 hours" },
  { value: "30", label: "30 days" },
  { value: "90", label: "90 days" },
  { value: "365", label: "365 days" },
  { value: "custom", label: "Custom" },
] as const;
export type ExpiryChoice = (typeof EXPIRY_CHOICES)[number]["value"];

export interface CreateKeyValues {
  name: string;
  expiry: ExpiryChoice;
  customDays: string;
  scopes: string[];
  allowedIps: string;
}

export type CreateKeyField = "name" | "expires_in_days" | "scopes" | "allowed_ips";
export type FieldErrors = Partial<Record<CreateKeyField, string>>;

export const NAME_MAX = 100;
export const MAX_ALLOWED_IPS = 20;

/** A new key starts with every scope of the tier and a 90-day expiry (rotation by default). */
export function initialValues(tierScopes: readonly string[]): CreateKeyValues {
  return { name: "", expiry: "90", customDays: "", scopes: [...tierScopes], allowedIps: "" };
}

/** One address or range per line; commas and spaces also separate. */
export function parseIpList(text: string): string[] {
  return text
    .split(/[\s,]+/)
    .map((entry) => entry.trim())
    .filter(Boolean);
}

/**
 * Checks what can be checked without the server and builds the request. The server validates
 * everything again (IP syntax included) and its messages land next to the same fields.
 */
export function toCreateInput(
  values: CreateKeyValues,
  tierScopes: readonly string[],
): { input: CreateKeyInput; errors?: undefined } | { input?: undefined; errors: FieldErrors } {
  const errors: FieldErrors = {};
  const name = values.name.trim();
  if (!name) errors.name = "Give the key a name.";
  else if (name.length > NAME_MAX) errors.name = `Use at most ${NAME_MAX} characters.`;

  let days: number | undefined;
  let hours: number | undefined;
  if (values.expiry.endsWith("h")) {
    hours = Number(values.expiry.slice(0, -1));
  } else if (values.expiry === "custom") {
    const raw = values.customDays.trim();
    days = Number(raw);
    if (!/^\d+$/.test(raw) || days < 1 || days > 365) {
      errors.expires_in_days = "Enter a whole number of days from 1 to 365.";
    }
  } else if (values.expiry !== "never") {
    days = Number(values.expiry);
  }

  const scopes = tierScopes.filter((scope) => values.scopes.includes(scope));
  if (scopes.length === 0) errors.scopes = "Choose at least one scope.";

  const ips = [...new Set(parseIpList(values.allowedIps))];
  if (ips.length > MAX_ALLOWED_IPS) {
    errors.allowed_ips = `At most ${MAX_ALLOWED_IPS} addresses or ranges.`;
  }

  if (Object.keys(errors).length > 0) return { errors };
  const input: CreateKeyInput = { name };
  if (days !== undefined) input.expires_in_days = days;
  if (hours !== undefined) input.expires_in_hours = hours;
  // All scopes selected: leave it to the server's default, which is the same set.
  if (scopes.length < tierScopes.length) input.scopes = scopes as CreateKeyInput["scopes"];
  if (ips.length > 0) input.allowed_ips = ips;
  return { input };
}

/** Server field paths (`allowed_ips.3`) onto the form's fields. */
export function serverFieldErrors(fields: Record<string, string>): FieldErrors {
  const errors: FieldErrors = {};
  for (const [path, message] of Object.entries(fields)) {
    const field = path.split(".")[0] as CreateKeyField;
    if (["name", "expires_in_days", "scopes", "allowed_ips"].includes(field) && !errors[field]) {
      errors[field] = message;
    }
  }
  return errors;
}

interface NamedKey {
  name: string;
  key_prefix: string;
  revoked_at: string | null;
  expires_at: string | null;
}

/**
 * The working keys already called `name` (compared trimmed, ignoring case): two keys with one
 * name cannot be told apart in the list or the activity log, so the form warns before create.
 */
export function keysNamedLike<K extends NamedKey>(
  keys: readonly K[],
  name: string,
  now: Date,
): K[] {
  const wanted = name.trim().toLowerCase();
  if (wanted === "") return [];
  return keys.filter(
    (key) => key.name.trim().toLowerCase() === wanted && keyStatus(key, now) === "active",
  );
}
