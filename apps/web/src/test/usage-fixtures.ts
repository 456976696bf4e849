import type { KeyDetail, KeyUsage } from "../lib/trpc.js";

/** A week of usage: 12 requests today, 10 answered 200 and 2 refused with 429. */
export function usageFixture(overrides: Partial<KeyUsage> = {}): KeyUsage {
  return {
    key_id: "00000000-0000-4000-8000-000000000123",
    window_days: 7,
    total_requests: 12,
    successful: 10,
    client_errors: 2,
    server_errors: 0,
    success_rate: 0.8333,
    avg_response_time_ms: 2.46,
    latency_p50_ms: 1.9,
    latency_p95_ms: 6.2,
    latency_p99_ms: 14.8,
    rate_limit_peak_per_minute: 12,
    rate_limit_peak_per_day: 12,
    top_endpoints: [
      { path: "/api/v1/iocs", count: 8 },
      { path: "/api/v1/articles", count: 4 },
    ],
    by_status: { "200": 10, "429": 2 },
    daily: [
      { date: "2026-05-11", requests: 0, errors: 0, quota_used: 0 },
      { date: "2026-05-12", requests: 0, errors: 0, quota_used: 0 },
      { date: "2026-05-13", requests: 0, errors: 0, quota_used: 0 },
      { date: "2026-05-14", requests: 0, errors: 0, quota_used: 0 },
      { date: "2026-05-15", requests: 0, errors: 0, quota_used: 0 },
      { date: "2026-05-16", requests: 0, errors: 0, quota_used: 0 },
      { date: "2026-05-17", requests: 12, errors: 2, quota_used: 12 },
    ],
    rate_limit_hits_by_hour: [{ hour: "2026-05-17T09:00:00Z", count: 2 }],
    ...overrides,
  };
}

export function keyDetail(overrides: Partial<KeyDetail> = {}): KeyDetail {
  return {
    id: "00000000-0000-4000-8000-000000000123",
    key_prefix: "sk_live_zIc8",
    name: "Production SIEM",
    tier: "free",
    scopes: ["read:iocs", "read:articles"],
    total_requests: 12,
    last_used_at: "2026-05-17T09:30:00Z",
    created_at: "2026-01-15T10:00:00Z",
    expires_at: null,
    revoked_at: null,
    rate_limit_per_minute: 10,
    rate_limit_per_day: 1000,
    allowed_ips: null,
    revoked_reason: null,
    rotated_to: null,
    rotated_from: null,
    ...overrides,
  };
}
