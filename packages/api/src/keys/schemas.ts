import ipaddr from "ipaddr.js";
import { z } from "zod";
import { ALL_SCOPES } from "../config/tiers.js";

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
  .refine((name) => !UNSAFE_CHARACTERS.test(name), "Control characters are not allowed.");

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
  });

export const scope = z.enum(ALL_SCOPES);

export const createKeyInput = z.strictObject({
  name: keyName,
  expires_in_days: z
    .number("Enter a whole number of days.")
    .int("Enter a whole number of days.")
    .min(1, "Expiry must be 1 to 365 days.")
    .max(365, "Expiry must be 1 to 365 days.")
    .nullish(),
  scopes: z
    .array(scope)
    .min(1, "Choose at least one scope.")
    .refine((list) => new Set(list).size === list.length, "Scopes must not repeat.")
    .optional(),
  allowed_ips: z.array(allowedIp).max(20, "At most 20 addresses or ranges.").nullish(),
});
export type CreateKeyInput = z.infer<typeof createKeyInput>;

/** Any string: an id that is not a uuid is simply a key that does not exist (404). */
export const keyIdInput = z.strictObject({ id: z.string().max(100) });

export const revokeKeyInput = z.strictObject({
  id: z.string().max(100),
  reason: z
    .string()
    .trim()
    .max(500, "Use at most 500 characters.")
    .refine((reason) => !UNSAFE_CHARACTERS.test(reason.replace(/[\n\t]/g, " ")), {
      message: "Control characters are not allowed.",
    })
    .optional(),
});

const timestamp = z.iso.datetime().describe("ISO-8601, UTC");

export const keyListItem = z.object({
  id: z.uuid(),
  key_prefix: z.string().describe("The first 12 characters of the key, e.g. sk_live_zIc8"),
  name: z.string(),
  tier: z.enum(["free", "pro"]),
  scopes: z.array(z.string()),
  total_requests: z.int(),
  last_used_at: timestamp.nullable(),
  created_at: timestamp,
  expires_at: timestamp.nullable().describe("null: never expires"),
  revoked_at: timestamp.nullable().describe("null: active"),
});

export const keyDetail = keyListItem.extend({
  rate_limit_per_minute: z.int(),
  rate_limit_per_day: z.int(),
  allowed_ips: z.array(z.string()).nullable().describe("null: any address"),
  revoked_reason: z.string().nullable(),
});

export const createdKey = keyListItem.extend({
  key_preview: z.string().describe("key_prefix followed by ••••••••"),
  rate_limit_per_minute: z.int(),
  rate_limit_per_day: z.int(),
  allowed_ips: z.array(z.string()).nullable(),
  key: z.string().describe("The full secret. Shown in this response only."),
  full_key: z
    .string()
    .describe("The same secret as `key` (the documentation's code sample reads it)."),
});

export const keyListOutput = z.object({
  data: z.array(keyListItem),
  meta: z.object({ total: z.int() }),
});
export const keyDetailOutput = z.object({ data: keyDetail });
export const createKeyOutput = z.object({
  data: createdKey,
  meta: z.object({
    warning: z.string(),
    name_hint: z.string().optional().describe("Present when the name is not descriptive"),
  }),
});
export const revokeKeyOutput = z.object({ success: z.literal(true), message: z.string() });

export const allowanceOutput = z.object({
  tier: z.enum(["free", "pro"]),
  active_keys: z.int(),
  max_active_keys: z.int(),
  scopes: z.array(z.string()).describe("The tier's full set"),
  rate_limit_per_minute: z.int(),
  rate_limit_per_day: z.int(),
});

export type KeyListItem = z.infer<typeof keyListItem>;
export type KeyDetail = z.infer<typeof keyDetail>;
export type CreatedKey = z.infer<typeof createdKey>;

export const keyUsageInput = z.strictObject({
  id: z.string().max(100),
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
  window_days: z.int(),
  total_requests: z
    .int()
    .describe("Requests in the window (the key's lifetime count is on the key)"),
  successful: z.int().describe("2xx and 3xx"),
  client_errors: z.int().describe("4xx"),
  server_errors: z.int().describe("5xx"),
  success_rate: z.number().min(0).max(1).nullable().describe("0–1; null without traffic"),
  avg_response_time_ms: nullableMs,
  latency_p50_ms: nullableMs,
  latency_p95_ms: nullableMs,
  latency_p99_ms: nullableMs,
  rate_limit_peak_per_minute: z.int().describe("Most requests in one UTC minute"),
  rate_limit_peak_per_day: z.int().describe("Most requests in one UTC day"),
  top_endpoints: z.array(z.object({ path: z.string(), count: z.int() })),
  by_status: z.record(z.string(), z.int()),
  daily: z.array(z.object({ date: z.iso.date(), requests: z.int(), errors: z.int() })),
  rate_limit_hits_by_hour: z.array(z.object({ hour: z.iso.datetime(), count: z.int() })),
});
export const keyUsageOutput = z.object({ data: keyUsage });
export type KeyUsage = z.infer<typeof keyUsage>;
