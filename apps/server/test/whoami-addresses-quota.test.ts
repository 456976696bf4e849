import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hashKey } from "@repo/core";
import { apiKeyAddresses, apiKeys, eq } from "@repo/db";
import { createKey, fakeClock, type TestKey } from "./gateway-helpers.js";
import { rest, signUp, startTestApp, type TestApp } from "./harness.js";

/**
 * What a key can learn about itself (whoami), where a key is used from (addresses), and the
 * usage view's quota figures agreeing with X-RateLimit-Remaining (CONTRACT §5).
 */
const clock = fakeClock("2026-06-01T12:00:10.000Z");
let test: TestApp;
const issued: TestKey[] = [];

beforeAll(async () => {
  test = await startTestApp({ now: clock.now, gateway: { failedAuthPerMinute: 100_000 } });
});
afterAll(async () => {
  const logs = test.logs.join("");
  expect(logs).not.toMatch(/sk_live_[0-9A-Za-z]{30,}/);
  for (const k of issued) expect(logs).not.toContain(k.hash);
  await test.close();
});

async function newKey(options: Parameters<typeof createKey>[1] = {}) {
  const key = await createKey(test.db, options);
  issued.push(key);
  return key;
}

function get(url: string, headers: Record<string, string> = {}, remoteAddress?: string) {
  return test.app.inject({
    method: "GET",
    url,
    headers,
    ...(remoteAddress ? { remoteAddress } : {}),
  });
}
const bearer = (key: string) => ({ authorization: `Bearer ${key}` });

/** A new account that minted one key over REST (its secret is checked against the logs). */
async function signedUpWithKey(body: { name: string; scopes?: string[] }) {
  const { cookie } = await signUp(test);
  const minted = await rest(test, "POST", "/api/v1/keys", { cookie, body });
  const { id, key } = minted.json().data as { id: string; key: string };
  issued.push({ id, key, hash: hashKey(key), ownerId: "" });
  return { cookie, id, key };
}

describe("GET /api/v1/whoami", () => {
  it("answers for every credential form, costs no quota and needs no scope", async () => {
    const k = await newKey({ scopes: ["read:articles"], perMinute: 3, perDay: 50 });
    const forms: [string, Record<string, string>][] = [
      ["/api/v1/whoami", bearer(k.key)],
      ["/api/v1/whoami", { authorization: `bearer ${k.key}` }],
      ["/api/v1/whoami", { "x-api-key": k.key }],
      [`/api/v1/whoami?api_key=${k.key}`, {}],
    ];
    for (const [url, headers] of forms) {
      const response = await get(url, headers);
      expect(response.statusCode, url).toBe(200);
      expect(response.headers["cache-control"]).toBe("no-store");
      expect(response.json()).toEqual({
        data: {
          id: k.id,
          key_prefix: k.key.slice(0, 12),
          name: "gateway-test",
          tier: "free",
          scopes: ["read:articles"],
          expires_at: null,
          rate_limit_per_minute: 3,
          rate_limit_per_day: 50,
          remaining_minute: 3,
          remaining_day: 50,
          allowed_ips: null,
        },
      });
      expect(response.headers["x-ratelimit-remaining"]).toBe("3");
    }
    // Quota: a data request takes one; whoami reports it and still takes none.
    expect((await get("/api/v1/articles", bearer(k.key))).statusCode).toBe(200);
    const after = (await get("/api/v1/whoami", bearer(k.key))).json().data;
    expect(after).toMatchObject({ remaining_minute: 2, remaining_day: 49 });
    // Throttled on data routes, whoami still answers (it is where you look to see why).
    await get("/api/v1/articles", bearer(k.key));
    await get("/api/v1/articles", bearer(k.key));
    expect((await get("/api/v1/articles", bearer(k.key))).statusCode).toBe(429);
    const throttled = await get("/api/v1/whoami", bearer(k.key));
    expect(throttled.statusCode).toBe(200);
    expect(throttled.json().data.remaining_minute).toBe(0);
  });

  it("answers the usual data-plane errors, and only to GET", async () => {
    const fenced = await newKey({ allowedIps: ["10.1.2.3"] });
    const revoked = await newKey();
    const expiring = await newKey({ expiresAt: new Date(clock.now().getTime() + 1_000) });
    const other = await newKey();
    const { cookie } = await signUp(test);
    await test.db.update(apiKeys).set({ revokedAt: clock.now() }).where(eq(apiKeys.id, revoked.id));
    test.app.gateway.keysChanged([revoked.hash]);
    clock.advance(2_000);
    const cases: [Record<string, string>, number, string, string?][] = [
      [{}, 401, "missing_api_key"],
      [{ cookie }, 401, "missing_api_key"],
      [bearer("sk_live_nope"), 401, "invalid_api_key"],
      [bearer(revoked.key), 401, "invalid_api_key"],
      [bearer(expiring.key), 401, "expired_api_key"],
      [bearer(fenced.key), 403, "ip_not_allowed"],
      [{ ...bearer(fenced.key), "x-api-key": other.key }, 400, "ambiguous_credentials"],
    ];
    for (const [headers, status, code] of cases) {
      const response = await get("/api/v1/whoami", headers);
      expect([response.statusCode, response.json().error.code]).toEqual([status, code]);
    }
    expect((await get("/api/v1/whoami", bearer(fenced.key), "10.1.2.3")).statusCode).toBe(200);
    const post = await test.app.inject({
      method: "POST",
      url: "/api/v1/whoami",
      headers: bearer(other.key),
    });
    expect(post.statusCode).toBe(405);
    expect(post.headers.allow).toBe("GET, HEAD");
  });
});

describe("where a key is used from", () => {
  it("records exact counts per address after mixed traffic (IPv4 exact, IPv6 per /64)", async () => {
    const k = await newKey({ scopes: ["read:iocs"], perMinute: 4 });
    const start = clock.now().getTime();
    const plan: [string, string][] = [
      ["203.0.113.5", "/api/v1/iocs"], // 200
      ["203.0.113.5", "/api/v1/articles"], // 403 insufficient_scope
      ["::ffff:203.0.113.5", "/api/v1/iocs"], // the same IPv4 client, mapped
      ["2001:db8:1:2::10", "/api/v1/iocs"],
      ["2001:db8:1:2:aaaa:bbbb:cccc:dddd", "/api/v1/whoami"], // same /64, no quota
      ["2001:db8:1:3::1", "/api/v1/iocs"], // another /64
      ["198.51.100.7", "/api/v1/iocs"], // 429 by now (4 per minute)
      ["198.51.100.7", "/api/v1/iocs"],
    ];
    const statuses: number[] = [];
    for (const [address, url] of plan) {
      statuses.push((await get(url, bearer(k.key), address)).statusCode);
      clock.advance(1_000);
    }
    expect(statuses).toEqual([200, 403, 200, 200, 200, 200, 429, 429]);
    // Unknown keys record nothing anywhere.
    await get("/api/v1/iocs", bearer("sk_live_nope"), "192.0.2.99");
    expect(await test.app.gateway.usage.flush()).toBe(true);

    const rows = await test.db
      .select()
      .from(apiKeyAddresses)
      .where(eq(apiKeyAddresses.keyId, k.id));
    const byAddress = Object.fromEntries(rows.map((r) => [r.address, r.requests]));
    expect(byAddress).toEqual({
      "203.0.113.5": 3,
      "2001:db8:1:2::/64": 2,
      "2001:db8:1:3::/64": 1,
      "198.51.100.7": 2,
    });
    const first = rows.find((r) => r.address === "203.0.113.5")!;
    expect(first.firstSeenAt.getTime()).toBe(start);
    expect(first.lastSeenAt.getTime()).toBe(start + 2_000);
  });

  it("GET /api/v1/keys/{keyId}/addresses: newest first, new after the first day, owner only", async () => {
    const { cookie, id, key } = await signedUpWithKey({ name: "prod-elastic-2026q2" });
    const t0 = clock.now().getTime();
    await get("/api/v1/iocs", bearer(key), "192.0.2.10");
    await test.app.gateway.usage.flush();
    clock.advance(3 * 3_600_000); // same first day: not new
    await get("/api/v1/iocs", bearer(key), "192.0.2.11");
    await test.app.gateway.usage.flush();
    clock.advance(2 * 86_400_000); // two days later: new
    await get("/api/v1/iocs", bearer(key), "192.0.2.12");
    await get("/api/v1/iocs", bearer(key), "192.0.2.10");
    await test.app.gateway.usage.flush();

    const response = await rest(test, "GET", `/api/v1/keys/${id}/addresses`, { cookie });
    expect(response.statusCode).toBe(200);
    expect(response.headers["cache-control"]).toBe("no-store");
    const body = response.json();
    expect(body.meta.total).toBe(3);
    expect(body.data.map((a: { address: string }) => a.address)).toEqual([
      "192.0.2.10",
      "192.0.2.12",
      "192.0.2.11",
    ]);
    expect(body.data.map((a: { new: boolean }) => a.new)).toEqual([false, true, false]);
    expect(body.data[0]).toMatchObject({
      requests: 2,
      first_seen_at: new Date(t0).toISOString().replace(/\.\d{3}Z$/, "Z"),
    });

    const other = await signUp(test);
    const foreign = await rest(test, "GET", `/api/v1/keys/${id}/addresses`, {
      cookie: other.cookie,
    });
    expect([foreign.statusCode, foreign.json().error.code]).toEqual([404, "key_not_found"]);
    const withKey = await rest(test, "GET", `/api/v1/keys/${id}/addresses`, {
      cookie,
      headers: bearer(key),
    });
    expect(withKey.json().error.code).toBe("api_key_not_allowed");
    // "New" means first seen within the last 7 days.
    clock.advance(8 * 86_400_000);
    const later = (await rest(test, "GET", `/api/v1/keys/${id}/addresses`, { cookie })).json();
    expect(later.data.some((a: { new: boolean }) => a.new)).toBe(false);
  });

  it("keeps at most 100 addresses per key, the most recently seen", async () => {
    const k = await newKey({ perMinute: 1_000 });
    for (let i = 0; i < 105; i++) {
      await get("/api/v1/iocs", bearer(k.key), `10.9.${Math.floor(i / 200)}.${i % 200}`);
      clock.advance(10);
    }
    await test.app.gateway.usage.flush();
    const rows = await test.db
      .select()
      .from(apiKeyAddresses)
      .where(eq(apiKeyAddresses.keyId, k.id));
    expect(rows).toHaveLength(100);
    expect(rows.some((r) => r.address === "10.9.0.0")).toBe(false);
    expect(rows.some((r) => r.address === "10.9.0.104")).toBe(true);
  });

  it("lists at most 100 addresses even while a key briefly stores 101 (two writers at once)", async () => {
    // Two processes adding a key's 100th address together can leave 101 rows until its next
    // new address is written (see address-recorder.ts): the endpoint's own limit keeps the
    // contract's "at most 100 entries", the most recently seen.
    const { cookie, id } = await signedUpWithKey({ name: "prod-splunk-2026q2" });
    const base = clock.now().getTime();
    await test.db.insert(apiKeyAddresses).values(
      Array.from({ length: 101 }, (_, i) => ({
        keyId: id,
        address: `10.8.0.${i}`,
        firstSeenAt: new Date(base + i * 1_000),
        lastSeenAt: new Date(base + i * 1_000),
        requests: 1,
      })),
    );
    const body = (await rest(test, "GET", `/api/v1/keys/${id}/addresses`, { cookie })).json();
    expect(body.data).toHaveLength(100);
    expect(body.meta.total).toBe(100);
    expect(body.data[0].address).toBe("10.8.0.100");
    expect(body.data.some((a: { address: string }) => a.address === "10.8.0.0")).toBe(false);
  });
});

describe("usage: traffic vs quota", () => {
  it("after a burst with 429s and 403s the peaks count quota use and agree with Remaining", async () => {
    const { cookie, id, key } = await signedUpWithKey({
      name: "prod-burst-2026q2",
      scopes: ["read:iocs"],
    });
    clock.set("2026-06-03T09:00:05.000Z");
    const responses = await Promise.all(
      Array.from({ length: 25 }, (_, i) =>
        get(i % 5 === 4 ? "/api/v1/articles" : "/api/v1/iocs", bearer(key)),
      ),
    );
    const statuses = responses.map((r) => r.statusCode);
    expect(statuses.filter((s) => s === 200)).toHaveLength(10); // free: 10 per minute
    expect(statuses.filter((s) => s === 403)).toHaveLength(5);
    expect(statuses.filter((s) => s === 429)).toHaveLength(10);
    const whoami = (await get("/api/v1/whoami", bearer(key))).json().data;
    expect(whoami).toMatchObject({ remaining_minute: 0, remaining_day: 990 });
    await test.app.gateway.usage.flush();

    const usage = (await rest(test, "GET", `/api/v1/keys/${id}/usage?days=1`, { cookie })).json()
      .data;
    expect(usage.total_requests).toBe(26); // traffic: every request, whoami included
    expect(usage.by_status).toEqual({ "200": 11, "403": 5, "429": 10 });
    // Quota: exactly what the limiter took, so limit − peak = the Remaining it reported.
    expect(usage.rate_limit_peak_per_minute).toBe(10);
    expect(usage.rate_limit_peak_per_minute).toBeLessThanOrEqual(10);
    expect(1_000 - usage.rate_limit_peak_per_day).toBe(whoami.remaining_day);
    expect(usage.daily.at(-1)).toMatchObject({ requests: 26, quota_used: 10 });
  });
});
