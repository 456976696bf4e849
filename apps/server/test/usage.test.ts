import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { rest, signUp, startTestApp, type TestApp } from "./harness.js";

/** Injectable clock: the data plane and the analytics both read it. */
let clock = Date.UTC(2026, 4, 14, 10, 0, 0);
let test: TestApp;
beforeAll(async () => {
  test = await startTestApp({
    now: () => new Date(clock),
    gateway: { usageFlushIntervalMs: 60_000 },
  });
});
afterAll(async () => {
  await test.close();
});

async function mintKey(cookie: string, name: string) {
  const response = await rest(test, "POST", "/api/v1/keys", { cookie, body: { name } });
  expect(response.statusCode, response.body).toBe(201);
  return response.json().data as { id: string; key: string };
}

async function use(key: string, path: string, times = 1) {
  const statuses: number[] = [];
  for (let i = 0; i < times; i++) {
    const response = await test.app.inject({
      method: "GET",
      url: path,
      headers: { authorization: `Bearer ${key}` },
    });
    statuses.push(response.statusCode);
  }
  return statuses;
}

const usage = (cookie: string, id: string, search = "") =>
  rest(test, "GET", `/api/v1/keys/${id}/usage${search}`, { cookie });

describe("GET /api/v1/keys/{keyId}/usage", () => {
  let account: Awaited<ReturnType<typeof signUp>>;
  let traffic: { id: string; key: string };

  beforeAll(async () => {
    account = await signUp(test);
    traffic = await mintKey(account.cookie, "prod-splunk-2026q2");

    // Day 1, 10:00 UTC: one scope refusal, 10 allowed requests, then 2 over the minute limit.
    clock = Date.UTC(2026, 4, 14, 10, 0, 5);
    expect(await use(traffic.key, "/api/v1/iocs/stix")).toEqual([403]);
    expect(await use(traffic.key, "/api/v1/iocs?limit=5", 6)).toEqual(Array(6).fill(200));
    expect(await use(traffic.key, "/api/v1/articles", 4)).toEqual(Array(4).fill(200));
    expect(await use(traffic.key, "/api/v1/iocs", 2)).toEqual([429, 429]);
    // Day 2: nothing. Day 3, 14:30 UTC: three lookups.
    clock = Date.UTC(2026, 4, 16, 14, 30, 0);
    expect(await use(traffic.key, "/api/v1/lookup?value=8.8.8.8", 3)).toEqual([200, 200, 200]);
    await test.app.gateway.usage.flush();
  });

  it("reports every documented field exactly over the window", async () => {
    const response = await usage(account.cookie, traffic.id, "?days=3");
    expect(response.statusCode).toBe(200);
    expect(response.headers["cache-control"]).toBe("no-store");
    const { data } = response.json();
    expect(data).toMatchObject({
      key_id: traffic.id,
      window_days: 3,
      total_requests: 16,
      successful: 13,
      client_errors: 3,
      server_errors: 0,
      success_rate: 0.8125,
      // Quota use: the 10 accepted requests (the limit), not the 13 that arrived.
      rate_limit_peak_per_minute: 10,
      rate_limit_peak_per_day: 10,
      top_endpoints: [
        { path: "/api/v1/iocs", count: 8 },
        { path: "/api/v1/articles", count: 4 },
        { path: "/api/v1/lookup", count: 3 },
        { path: "/api/v1/iocs/stix", count: 1 },
      ],
      by_status: { "200": 13, "403": 1, "429": 2 },
      daily: [
        { date: "2026-05-14", requests: 13, errors: 3, quota_used: 10 },
        { date: "2026-05-15", requests: 0, errors: 0, quota_used: 0 },
        { date: "2026-05-16", requests: 3, errors: 0, quota_used: 3 },
      ],
      rate_limit_hits_by_hour: [{ hour: "2026-05-14T10:00:00Z", count: 2 }],
    });
    expect(data.avg_response_time_ms).toBeGreaterThan(0);
    expect(data.latency_p50_ms).toBeGreaterThan(0);
  });

  it("zero-fills the days of the window without traffic and narrows to today", async () => {
    const week = (await usage(account.cookie, traffic.id, "?days=7")).json().data;
    expect(week.daily).toHaveLength(7);
    expect(week.daily[0]).toEqual({ date: "2026-05-10", requests: 0, errors: 0, quota_used: 0 });
    expect(week.total_requests).toBe(16);
    const today = (await usage(account.cookie, traffic.id, "?days=1")).json().data;
    expect(today).toMatchObject({
      total_requests: 3,
      daily: [{ date: "2026-05-16", requests: 3, errors: 0, quota_used: 3 }],
      rate_limit_hits_by_hour: [],
      rate_limit_peak_per_day: 3,
    });
  });

  it("defaults to 30 days and keeps the key's lifetime count on the key object", async () => {
    const month = (await usage(account.cookie, traffic.id)).json().data;
    expect(month.window_days).toBe(30);
    expect(month.daily).toHaveLength(30);
    const key = (
      await rest(test, "GET", `/api/v1/keys/${traffic.id}`, { cookie: account.cookie })
    ).json().data;
    expect(key.total_requests).toBe(16);
    expect(key.last_used_at).toBe("2026-05-16T14:30:00Z");
  });

  it("answers an unused key with zeros and nulls, not errors", async () => {
    const idle = await mintKey(account.cookie, "idle-sentinel");
    const { data } = (await usage(account.cookie, idle.id, "?days=2")).json();
    expect(data).toMatchObject({
      total_requests: 0,
      success_rate: null,
      avg_response_time_ms: null,
      latency_p95_ms: null,
      top_endpoints: [],
      by_status: {},
      daily: [
        { date: "2026-05-15", requests: 0, errors: 0, quota_used: 0 },
        { date: "2026-05-16", requests: 0, errors: 0, quota_used: 0 },
      ],
    });
  });

  it("computes latency percentiles from the rollups within 5% of the exact values", async () => {
    const other = await signUp(test);
    const key = await mintKey(other.cookie, "latency-probe");
    // 1,000 simulated requests with known latencies, spread over two days.
    const latencies = Array.from({ length: 1000 }, (_, i) => 0.5 + ((i * 7919) % 1000) * 1.7);
    latencies.forEach((latencyMs, i) => {
      test.app.gateway.usage.record({
        keyId: key.id,
        atMs: Date.UTC(2026, 4, 15 + (i % 2), 9, i % 60, 0),
        route: "/api/v1/iocs",
        status: 200,
        latencyMs,
      });
    });
    await test.app.gateway.usage.flush();
    const sorted = [...latencies].sort((a, b) => a - b);
    const exact = (p: number) => sorted[Math.ceil(p * sorted.length) - 1]!;
    const { data } = (await usage(other.cookie, key.id, "?days=2")).json();
    expect(data.total_requests).toBe(1000);
    for (const [field, p] of [
      ["latency_p50_ms", 0.5],
      ["latency_p95_ms", 0.95],
      ["latency_p99_ms", 0.99],
    ] as const) {
      expect(Math.abs(data[field] - exact(p)) / exact(p), field).toBeLessThanOrEqual(0.05);
    }
    const mean = latencies.reduce((a, b) => a + b, 0) / latencies.length;
    expect(data.avg_response_time_ms).toBeCloseTo(mean, 1);
  });

  it("shows today's traffic at once and re-reads ended days after five minutes", async () => {
    const owner = await signUp(test);
    const key = await mintKey(owner.cookie, "cache-probe");
    const record = (atMs: number) =>
      test.app.gateway.usage.record({
        keyId: key.id,
        atMs,
        route: "/api/v1/iocs",
        status: 200,
        latencyMs: 5,
      });
    record(Date.UTC(2026, 4, 15, 8, 0, 0));
    await test.app.gateway.usage.flush();
    const total = async () =>
      (await usage(owner.cookie, key.id, "?days=3")).json<{ data: { total_requests: number } }>()
        .data.total_requests;
    expect(await total()).toBe(1);

    record(Date.UTC(2026, 4, 16, 8, 0, 0)); // today: read fresh every time
    record(Date.UTC(2026, 4, 15, 9, 0, 0)); // an ended day, written late (e.g. after an outage)
    await test.app.gateway.usage.flush();
    expect(await total()).toBe(2);
    clock += 5 * 60_000 + 1_000;
    expect(await total()).toBe(3);
  });

  describe("authorization and input", () => {
    it("answers another account's key like a missing one (404)", async () => {
      const stranger = await signUp(test);
      const response = await usage(stranger.cookie, traffic.id);
      expect(response.statusCode).toBe(404);
      expect(response.json().error.code).toBe("key_not_found");
    });

    it("refuses an API key with 403 api_key_not_allowed", async () => {
      const response = await test.app.inject({
        method: "GET",
        url: `/api/v1/keys/${traffic.id}/usage`,
        headers: { cookie: account.cookie, authorization: `Bearer ${traffic.key}` },
      });
      expect(response.statusCode).toBe(403);
      expect(response.json().error.code).toBe("api_key_not_allowed");
    });

    it.each(["0", "91", "1.5", "abc", ""])(
      "refuses days=%j with 400 validation_error",
      async (days) => {
        const response = await usage(account.cookie, traffic.id, `?days=${days}`);
        expect(response.statusCode).toBe(400);
        expect(response.json().error).toMatchObject({
          code: "validation_error",
          details: { field: "days" },
        });
      },
    );

    it("requires a session", async () => {
      expect((await usage("", traffic.id)).statusCode).toBe(401);
    });
  });
});
