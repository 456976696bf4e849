/**
 * Examples for the OpenAPI document: the published documentation's own examples where it
 * has them (list, get, usage, revoke, the error envelope), values of the same shape for the
 * routes it does not describe. Each is validated against its schema by the linters
 * (Spectral's oas3-valid-media-example) and the contract test.
 */
const KEY_ID = "00000000-0000-4000-8000-000000000123";
const SUCCESSOR_ID = "00000000-0000-4000-8000-000000000789";
const CANARY_ID = "00000000-0000-4000-8000-000000000abc";

export const PARAMETER_EXAMPLES: Record<string, unknown> = {
  keyId: KEY_ID,
  id: CANARY_ID,
  days: 30,
  articleId: "a1b2c3d4",
  collectionId: "91a7b528-80eb-42ed-a74d-c6fbd5a26116",
};

const listItem = {
  id: KEY_ID,
  key_prefix: "sk_live_zIc8",
  name: "Production SIEM",
  tier: "pro",
  scopes: ["read:iocs", "read:articles", "read:articles:export", "read:stix"],
  total_requests: 142587,
  last_used_at: "2026-05-17T09:42:11Z",
  created_at: "2026-01-15T10:00:00Z",
  expires_at: null,
  revoked_at: null,
};

const detail = {
  ...listItem,
  rate_limit_per_minute: 1000,
  rate_limit_per_day: 1000000,
  allowed_ips: null,
  revoked_reason: null,
  rotated_to: null,
  rotated_from: null,
};

const created = {
  id: KEY_ID,
  key_prefix: "sk_live_zIc8",
  key_preview: "sk_live_zIc8••••••••",
  name: "Production SIEM",
  tier: "pro",
  scopes: ["read:iocs", "read:articles"],
  rate_limit_per_minute: 1000,
  rate_limit_per_day: 1000000,
  total_requests: 0,
  last_used_at: null,
  created_at: "2026-05-17T09:42:11Z",
  expires_at: "2026-08-15T09:42:11Z",
  revoked_at: null,
  allowed_ips: ["203.0.113.0/24"],
  key: "sk_live_zIc8Qm3vT9xK2pL7wR4yN6bH1cF5dJ8sA0eG",
  full_key: "sk_live_zIc8Qm3vT9xK2pL7wR4yN6bH1cF5dJ8sA0eG",
};

const canary = {
  id: CANARY_ID,
  name: "Decoy in the build server's .env",
  note: "Planted 2026-05 in ci-runner-3",
  key_prefix: "sk_live_Wq7e",
  created_at: "2026-05-10T08:00:00Z",
  retired_at: null,
  last_triggered_at: "2026-05-16T18:30:00Z",
  trigger_count: 1,
};

/** Examples of the component schemas, by schema name. */
export const SCHEMA_EXAMPLES: Record<string, unknown> = {
  KeyList: { data: [listItem], meta: { total: 1 } },
  CreateKeyRequest: {
    name: "Production SIEM",
    expires_in_days: 90,
    scopes: ["read:iocs", "read:articles"],
    allowed_ips: ["203.0.113.0/24"],
  },
  CreatedKeyResponse: {
    data: created,
    meta: { warning: "Store this API key securely. It will not be shown again." },
  },
  KeyDetailResponse: { data: detail },
  RevokeKeyRequest: { reason: "Rotated after an employee left" },
  RevokeKeyResponse: { success: true, message: "API key revoked successfully" },
  KeyUsageResponse: {
    data: {
      key_id: KEY_ID,
      window_days: 30,
      total_requests: 142587,
      successful: 139214,
      client_errors: 3128,
      server_errors: 245,
      success_rate: 0.9763,
      avg_response_time_ms: 287,
      latency_p50_ms: 195,
      latency_p95_ms: 612,
      latency_p99_ms: 1240,
      rate_limit_peak_per_minute: 87,
      rate_limit_peak_per_day: 8430,
      top_endpoints: [
        { path: "/api/v1/articles", count: 89234 },
        { path: "/api/v1/iocs", count: 38765 },
      ],
      by_status: { "200": 139214, "401": 12, "429": 206 },
      daily: [{ date: "2026-05-16", requests: 4823, errors: 67, quota_used: 4790 }],
      rate_limit_hits_by_hour: [{ hour: "2026-05-16T14:00:00Z", count: 12 }],
    },
  },
  UpdateKeyRequest: { name: "Production SIEM (EU)", allowed_ips: ["198.51.100.7"] },
  RotateKeyRequest: { expire_current_in_minutes: 1440 },
  RotatedKeyResponse: {
    data: { ...created, id: SUCCESSOR_ID, rotated_from: KEY_ID },
    meta: {
      warning: "Store this API key securely. It will not be shown again.",
      previous_key: { id: KEY_ID, expires_at: "2026-05-18T09:42:11Z" },
    },
  },
  KeyAddressesResponse: {
    data: [
      {
        address: "203.0.113.7",
        first_seen_at: "2026-05-01T08:00:00Z",
        last_seen_at: "2026-05-17T09:42:11Z",
        requests: 5120,
        new: false,
      },
    ],
    meta: { total: 1 },
  },
  WhoamiResponse: {
    data: {
      id: KEY_ID,
      key_prefix: "sk_live_zIc8",
      name: "Production SIEM",
      tier: "pro",
      scopes: ["read:iocs", "read:articles"],
      expires_at: null,
      rate_limit_per_minute: 1000,
      rate_limit_per_day: 1000000,
      remaining_minute: 998,
      remaining_day: 981230,
      allowed_ips: null,
    },
  },
  CanaryList: { data: [canary], meta: { total: 1 } },
  CreateCanaryRequest: {
    name: "Decoy in the build server's .env",
    note: "Planted 2026-05 in ci-runner-3",
  },
  CreatedCanaryResponse: {
    data: {
      id: CANARY_ID,
      name: "Decoy in the build server's .env",
      note: "Planted 2026-05 in ci-runner-3",
      key_prefix: "sk_live_Wq7e",
      created_at: "2026-05-10T08:00:00Z",
      key: "sk_live_Wq7eR2tY8uI4oP6aS1dF3gH5jK7lZ9xC0vB",
      full_key: "sk_live_Wq7eR2tY8uI4oP6aS1dF3gH5jK7lZ9xC0vB",
    },
    meta: { warning: "Store this decoy where an intruder would find it. It is not shown again." },
  },
  RetireCanaryResponse: { success: true, message: "Canary key retired" },
  CanaryTriggers: {
    data: [
      {
        at: "2026-05-16T18:30:00Z",
        address: "198.51.100.23",
        user_agent: "curl/8.5.0",
        method: "GET",
        path: "/api/v1/iocs",
        credential: "bearer",
      },
    ],
    meta: { total: 1, canary },
  },
  EchoResponse: {
    data: {
      authenticated: true,
      mode: "echo",
      message: "Your API key works. No upstream data API is configured on this server …",
      key: {
        id: KEY_ID,
        key_prefix: "sk_live_zIc8",
        tier: "pro",
        scopes: ["read:iocs", "read:articles"],
      },
      request: { method: "GET", path: "/api/v1/iocs", required_scope: "read:iocs", cost: 1 },
      rate_limit: {
        minute: { limit: 1000, remaining: 999, reset: 1779011000 },
        day: { limit: 1000000, remaining: 981230, reset: 1779062400 },
      },
    },
  },
  Health: { status: "ok" },
  Readiness: { status: "ready", database: "postgres", checks: { database: "ok" } },
};

/** An error body for a code (the published example's shape: code, message, request_id). */
export function errorExample(code: string, message: string) {
  return { error: { code, message, request_id: "req_8f14e45fceea167a5a36dedd4bea2543" } };
}
