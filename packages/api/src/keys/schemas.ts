import ipaddr from "ipaddr.js";
import { z } from "zod";
import { ALL_SCOPES, TIERS, TIER_NAMES } from "@repo/core";

/**
 * The zod schemas of the key-management surface. tRPC procedures validate with them, the
 * REST adapter feeds them the same bodies, and the OpenAPI document is generated from them.
 */

// Control characters, and bidi overrides that make a name display differently from its bytes.
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const UNSAFE_CHARACTERS = /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/;

export const keyName = z
  .string()
  .trim()
  .min(1, "Give the key a name.")
  .max(100, "Use at most 100 characters.")
  .refine((name) => !UNSAFE_CHARACTERS.test(name), "Control characters are not allowed.")
  .describe(
    "Surrounding whitespace is trimmed; then 1–100 characters. Control characters (U+0000–U+001F, U+007F–U+009F) and bidirectional overrides (U+202A–U+202E, U+2066–U+2069) are refused.",
  )
  .meta({ examples: ["Production SIEM"] });

/** An IPv4/IPv6 address or CIDR range, normalized (`10.0.0.7/24` → `10.0.0.0/24`). */
export const allowedIp = z
  .string()
  .trim()
  .max(64)
  .transform((value, ctx) => {
    try {
      if (value.includes("/")) {
        const [address, bits] = ipaddr.parseCIDR(value);
        const network =
          address.kind() === "ipv4"
            ? ipaddr.IPv4.networkAddressFromCIDR(value)
            : ipaddr.IPv6.networkAddressFromCIDR(value);
        return `${network.toString()}/${bits}`;
      }
      return ipaddr.parse(value).toString();
    } catch {
      ctx.addIssue({ code: "custom", message: `"${value}" is not an IP address or CIDR range.` });
      return z.NEVER;
    }
  })
  .describe(
    "An IPv4 or IPv6 address, or a CIDR range (203.0.113.7, 10.0.0.0/24, 2001:db8::/48); surrounding whitespace is trimmed and a range is stored by its network address (10.0.0.7/24 becomes 10.0.0.0/24).",
  )
  .meta({ examples: ["203.0.113.0/24"] });

export const scope = z.enum(ALL_SCOPES);

const expiresInDays = z
  .number("Enter a whole number of days.")
  .int("Enter a whole number of days.")
  .min(1, "Expiry must be 1 to 365 days.")
  .max(365, "Expiry must be 1 to 365 days.");

const expiresInHours = z
  .number("Enter a whole number of hours.")
  .int("Enter a whole number of hours.")
  .min(1, "Expiry must be 1 to 8760 hours.")
  .max(8760, "Expiry must be 1 to 8760 hours.");

const keyScopes = z
  .array(scope)
  .min(1, "Choose at least one scope.")
  .refine((list) => new Set(list).size === list.length, "Scopes must not repeat.")
  .describe(
    `Distinct scopes, each allowed by the account's tier (${TIER_NAMES.map((tier) => `${tier}: ${TIERS[tier].scopes.join(", ")}`).join("; ")}); a scope outside the tier is refused with validation_error. Default: all of the tier's scopes.`,
  )
  .meta({ examples: [["read:iocs", "read:articles"]] });

const allowedIps = z.array(allowedIp).max(20, "At most 20 addresses or ranges.");

/** An expiry is given in days or in hours, never both. */
function oneExpiry(
  body: { expires_in_days?: number | null; expires_in_hours?: number | null },
  ctx: z.RefinementCtx,
) {
  if (body.expires_in_days != null && body.expires_in_hours != null) {
    ctx.addIssue({
      code: "custom",
      path: ["expires_in_hours"],
      message: "Give the expiry in days or in hours, not both.",
    });
  }
}

const createKeyBody = z.strictObject({
  name: keyName,
  expires_in_days: expiresInDays.nullish(),
  expires_in_hours: expiresInHours
    .nullish()
    .describe("Alternative to expires_in_days for short-lived keys (1–8760 hours)"),
  scopes: keyScopes.optional(),
  allowed_ips: allowedIps.nullish(),
});
export const createKeyInput = createKeyBody.superRefine(oneExpiry);
export type CreateKeyInput = z.infer<typeof createKeyInput>;

/**
 * Any string, of any length the transport admits: an id that is not a uuid is simply a key
 * that does not exist (404 key_not_found, the answer for every id that is not yours).
 */
const keyId = z.string();
export const keyIdInput = z.strictObject({ id: keyId });

export const revokeKeyInput = z.strictObject({
  id: keyId,
  reason: z
    .string()
    .trim()
    .max(500, "Use at most 500 characters.")
    .refine((reason) => !UNSAFE_CHARACTERS.test(reason.replace(/[\n\t]/g, " ")), {
      message: "Control characters are not allowed.",
    })
    .optional()
    .describe(
      "Kept for the audit log. Trimmed; at most 500 characters; newlines and tabs allowed, other control characters and bidirectional overrides refused.",
    ),
});

const rotateKeyBody = z.strictObject({
  expire_current_in_minutes: z
    .number("Enter a whole number of minutes.")
    .int("Enter a whole number of minutes.")
    .min(0, "The grace period is 0 to 10080 minutes (7 days).")
    .max(10_080, "The grace period is 0 to 10080 minutes (7 days).")
    .default(1_440)
    .describe("How long the current key keeps working (0 = it stops at once; default 24 h)"),
});
/** The REST body (the key id comes from the path). */
export const rotateKeyRequest = rotateKeyBody.partial();
export const rotateKeyInput = rotateKeyBody.extend({ id: keyId });
export type RotateKeyInput = z.infer<typeof rotateKeyInput>;

const updateKeyBody = z.strictObject({
  name: keyName.optional(),
  allowed_ips: allowedIps.nullable().optional().describe("null: any address"),
  scopes: keyScopes.optional().describe("A subset of the key's current scopes (narrowing only)"),
  expires_in_days: expiresInDays
    .optional()
    .describe("Only to shorten: a later expiry than the current one is refused"),
  expires_in_hours: expiresInHours.optional().describe("Only to shorten, like expires_in_days"),
});

/** At least one field, and one expiry at most. */
function updateChecks(body: z.infer<typeof updateKeyBody>, ctx: z.RefinementCtx) {
  oneExpiry(body, ctx);
  const fields = Object.keys(updateKeyBody.shape) as (keyof typeof body)[];
  if (!fields.some((field) => body[field] !== undefined)) {
    ctx.addIssue({ code: "custom", path: [], message: "Nothing to change." });
  }
}
export const updateKeyRequest = updateKeyBody.superRefine(updateChecks);
export const updateKeyInput = updateKeyBody.extend({ id: keyId }).superRefine(updateChecks);
export type UpdateKeyInput = z.infer<typeof updateKeyInput>;

const timestamp = z.iso.datetime().describe("ISO-8601, UTC");
/** Counts and limits: never negative (the document says so too). */
const count = z.int().nonnegative();

export const keyListItem = z.object({
  id: z.uuid(),
  key_prefix: z.string().describe("The first 12 characters of the key, e.g. sk_live_zIc8"),
  name: z.string(),
  tier: z.enum(["free", "pro"]),
  scopes: z.array(z.string()),
  total_requests: count,
  last_used_at: timestamp.nullable(),
  created_at: timestamp,
  expires_at: timestamp.nullable().describe("null: never expires"),
  revoked_at: timestamp.nullable().describe("null: active"),
});

export const keyDetail = keyListItem.extend({
  rate_limit_per_minute: count,
  rate_limit_per_day: count,
  allowed_ips: z.array(z.string()).nullable().describe("null: any address"),
  revoked_reason: z.string().nullable(),
  rotated_to: z.uuid().nullable().describe("The successor, once the key was rotated"),
  rotated_from: z.uuid().nullable().describe("The key this one replaced by rotation"),
});

export const createdKey = keyListItem.extend({
  key_preview: z.string().describe("key_prefix followed by ••••••••"),
  rate_limit_per_minute: count,
  rate_limit_per_day: count,
  allowed_ips: z.array(z.string()).nullable(),
  key: z.string().describe("The full secret. Shown in this response only."),
  full_key: z
    .string()
    .describe("The same secret as `key` (the documentation's code sample reads it)."),
});

export const keyListOutput = z.object({
  data: z.array(keyListItem),
  meta: z.object({ total: count }),
});
export const keyDetailOutput = z.object({ data: keyDetail });
export const createKeyOutput = z.object({
  data: createdKey,
  meta: z.object({
    warning: z.string(),
    name_hint: z.string().optional().describe("Present when the name is not descriptive"),
  }),
});
export const rotateKeyOutput = z.object({
  data: createdKey.extend({ rotated_from: z.uuid().describe("The key that was rotated") }),
  meta: z.object({
    warning: z.string(),
    previous_key: z.object({
      id: z.uuid(),
      expires_at: timestamp.describe("When the rotated key stops working"),
    }),
  }),
});

export const keyAddress = z.object({
  address: z.string().describe("An IPv4 address, or an IPv6 /64 (2001:db8:1:2::/64)"),
  first_seen_at: timestamp,
  last_seen_at: timestamp,
  requests: count,
  new: z.boolean().describe("First seen after the key's first day of use, within the last 7 days"),
});
export const keyAddressesOutput = z.object({
  data: z.array(keyAddress),
  meta: z.object({ total: count }),
});
export type KeyAddress = z.infer<typeof keyAddress>;

export const revokeKeyOutput = z.object({ success: z.literal(true), message: z.string() });

export const allowanceOutput = z.object({
  tier: z.enum(["free", "pro"]),
  active_keys: count,
  max_active_keys: count,
  scopes: z.array(z.string()).describe("The tier's full set"),
  rate_limit_per_minute: count,
  rate_limit_per_day: count,
});

export type KeyListItem = z.infer<typeof keyListItem>;
export type KeyDetail = z.infer<typeof keyDetail>;
export type CreatedKey = z.infer<typeof createdKey>;

export const keyUsageInput = z.strictObject({
  id: keyId,
  days: z.coerce
    .number("days must be a whole number from 1 to 90.")
    .int("days must be a whole number from 1 to 90.")
    .min(1, "days must be a whole number from 1 to 90.")
    .max(90, "days must be a whole number from 1 to 90.")
    .default(30),
});

const nullableMs = z.number().nullable().describe("milliseconds; null without traffic");

export const keyUsage = z.object({
  key_id: z.uuid(),
  window_days: count,
  total_requests: count.describe("Requests in the window (the key's lifetime count is on the key)"),
  successful: count.describe("2xx and 3xx"),
  client_errors: count.describe("4xx"),
  server_errors: count.describe("5xx"),
  success_rate: z.number().min(0).max(1).nullable().describe("0–1; null without traffic"),
  avg_response_time_ms: nullableMs,
  latency_p50_ms: nullableMs,
  latency_p95_ms: nullableMs,
  latency_p99_ms: nullableMs,
  rate_limit_peak_per_minute: count.describe(
    "Most quota used in one UTC minute: accepted requests only, as X-RateLimit-Remaining counts them",
  ),
  rate_limit_peak_per_day: count.describe(
    "Most quota used in one UTC day (accepted requests only)",
  ),
  top_endpoints: z.array(z.object({ path: z.string(), count: count })),
  by_status: z.record(z.string(), count),
  daily: z.array(
    z.object({
      date: z.iso.date(),
      requests: count.describe("Every request, any status (traffic)"),
      errors: count,
      quota_used: count.describe("What counted against the daily limit (accepted requests)"),
    }),
  ),
  rate_limit_hits_by_hour: z.array(z.object({ hour: z.iso.datetime(), count: count })),
});
export const keyUsageOutput = z.object({ data: keyUsage });
export type KeyUsage = z.infer<typeof keyUsage>;

/** `GET /api/v1/whoami` (data plane): what a key can learn about itself, built by the gateway. */
export const whoamiOutput = z.object({
  data: z.object({
    id: z.uuid(),
    key_prefix: z.string(),
    name: z.string(),
    tier: z.enum(["free", "pro"]),
    scopes: z.array(z.string()),
    expires_at: timestamp.nullable().describe("null: never expires"),
    rate_limit_per_minute: count,
    rate_limit_per_day: count,
    remaining_minute: count.describe("Requests left in the current UTC minute"),
    remaining_day: count.describe("Requests left in the current UTC day"),
    allowed_ips: z.array(z.string()).nullable().describe("null: any address"),
  }),
});
