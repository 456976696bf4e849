import { z } from "zod";

/**
 * The `data` of every webhook event, as documented in the OpenAPI document's `webhooks`
 * section. Keys are named by id and prefix, never by secret.
 */
const keyRef = {
  key_id: z.uuid(),
  key_prefix: z.string().describe("First 12 characters, e.g. sk_live_zIc8"),
};
const at = z.iso.datetime();
const keyBasics = z.object({ ...keyRef, name: z.string() });
const requestContext = {
  address: z.string().describe("Client address"),
  user_agent: z.string().nullable(),
  method: z.string(),
  path: z.string().describe("Path without the query string"),
};

export const EVENT_PAYLOADS = {
  "key.created": keyBasics.extend({ scopes: z.array(z.string()), expires_at: at.nullable() }),
  "key.rotated": keyBasics.extend({
    rotated_to: z.uuid().describe("The successor key's id"),
    rotated_to_prefix: z.string(),
    expires_at: at.describe("When the rotated key stops working (the end of its grace period)"),
  }),
  "key.revoked": keyBasics.extend({ reason: z.string().nullable() }),
  "key.expiring": keyBasics.extend({
    expires_at: at,
    days_left: z.union([z.literal(7), z.literal(1)]),
  }),
  "key.expired": keyBasics.extend({ expires_at: at }),
  "key.quota_warning": z.object({
    ...keyRef,
    threshold_percent: z.union([z.literal(80), z.literal(100)]),
    limit_per_day: z.int().nonnegative(),
    remaining: z.int().nonnegative(),
    day: z.iso.date().describe("The UTC day"),
  }),
  "key.revoked_key_used": z.object({
    ...keyRef,
    state: z.enum(["revoked", "expired"]),
    used_at: at,
    ...requestContext,
  }),
  "key.new_address": z.object({ ...keyRef, address: z.string(), first_seen_at: at }),
  "canary.triggered": z.object({
    canary_id: z.uuid(),
    name: z.string(),
    note: z.string().describe("Where the canary was planted"),
    key_prefix: z.string(),
    triggered_at: at,
    ...requestContext,
    credential: z.string().describe("bearer, x-api-key, query or basic"),
  }),
  "account.second_factor_changed": z.object({
    method: z.enum(["totp", "passkey", "recovery_codes", "all"]),
    change: z.enum(["added", "removed", "regenerated", "reset_by_operator"]),
  }),
  "account.password_changed": z.object({
    address: z.string().nullable().describe("Where the change was made"),
    by: z.enum(["owner", "operator_reset"]),
  }),
  "account.session_new_address": z.object({
    address: z.string(),
    user_agent: z.string().nullable(),
  }),
  "webhook.test": z.object({ endpoint_id: z.uuid(), message: z.string() }),
} as const;
