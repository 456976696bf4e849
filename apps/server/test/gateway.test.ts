import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { setUserTier } from "@repo/api";
import { hashKey } from "@repo/core";
import { apiKeys, eq, sql, usageDays, users, type Database } from "@repo/db";
import { rest, signUp, startTestApp, type TestApp } from "./harness.js";
import { createKey, fakeClock, keyRow, stoppedClock, type TestKey } from "./gateway-helpers.js";

/**
 * The data plane over HTTP on the real app and database (catalogue sections G, H, I):
 * credentials, every error code, scopes, addresses, limits and usage counting.
 */
const clock = fakeClock("2026-06-01T12:00:10.000Z");
let test: TestApp;
let db: Database;

beforeAll(async () => {
  test = await startTestApp({ now: clock.now, gateway: { failedAuthPerMinute: 100_000 } });
  db = test.db;
});
afterAll(async () => {
  // LEAKCHECK: no key material or key hash in any log line written by any test here.
  const logs = test.logs.join("");
  expect(logs).not.toMatch(/sk_live_[0-9A-Za-z]{30,}/);
  for (const hash of issuedHashes) expect(logs).not.toContain(hash);
  await test.close();
});

const issuedHashes: string[] = [];
async function newKey(options: Parameters<typeof createKey>[1] = {}): Promise<TestKey> {
  const key = await createKey(db, options);
  issuedHashes.push(key.hash);
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
/** A 401 body without its request id: must be byte-identical across every invalid case. */
const bodyShape = (body: string) => body.replace(/req_[0-9a-f]+/, "req_X");

async function flushed(id: string) {
  expect(await test.app.gateway.usage.flush()).toBe(true);
  return keyRow(db, id);
}

function headerNumber(response: { headers: Record<string, unknown> }, name: string) {
  return Number(response.headers[name]);
}

describe("G. credentials and verification", () => {
  it("61: no credentials → 401 missing_api_key with WWW-Authenticate and no quota headers", async () => {
    const response = await get("/api/v1/iocs");
    expect(response.statusCode).toBe(401);
    expect(response.headers["www-authenticate"]).toBe("Bearer");
    expect(response.json().error.code).toBe("missing_api_key");
    expect(response.json().error.request_id).toMatch(/^req_/);
    expect(Object.keys(response.headers).filter((h) => h.startsWith("x-ratelimit"))).toEqual([]);
  });

  it("62: Bearer (any case), X-API-Key and ?api_key= each work, with quota headers", async () => {
    const k = await newKey();
    for (const headers of [
      { authorization: `Bearer ${k.key}` } as Record<string, string>,
      { authorization: `bearer ${k.key}` },
      { authorization: `BEARER  ${k.key}` },
      { "x-api-key": k.key },
    ]) {
      const response = await get("/api/v1/iocs", headers);
      expect(response.statusCode).toBe(200);
      expect(response.headers["x-ratelimit-limit"]).toBe("10");
      expect(response.json().data.key.id).toBe(k.id);
    }
    const query = await get(`/api/v1/articles?api_key=${k.key}&page=2`);
    expect(query.statusCode).toBe(200);
    expect(query.json().data.request.required_scope).toBe("read:articles");
    // The echo tells the truth about the quota it just used.
    expect(query.json().data.rate_limit.minute.remaining).toBe(5);
    expect(query.headers["x-ratelimit-remaining"]).toBe("5");
  });

  it("63: the same key twice is fine; two different keys → 400 and no usage for either", async () => {
    const a = await newKey();
    const b = await newKey();
    const same = await get("/api/v1/iocs", { ...bearer(a.key), "x-api-key": a.key });
    expect(same.statusCode).toBe(200);
    const cases = [
      { ...bearer(a.key), "x-api-key": b.key },
      { "x-api-key": a.key, url: `?api_key=${b.key}` },
      { url: `?api_key=${a.key}&api_key=${b.key}` },
    ];
    for (const { url = "", ...headers } of cases) {
      const response = await get(`/api/v1/iocs${url}`, headers as Record<string, string>);
      expect(response.statusCode).toBe(400);
      expect(response.json().error.code).toBe("ambiguous_credentials");
    }
    expect((await flushed(a.id)).totalRequests).toBe(1);
    expect((await flushed(b.id)).totalRequests).toBe(0);
  });

  it("64/65/66: malformed, unknown, revoked and deleted-owner keys get one identical 401", async () => {
    const good = await newKey();
    const revoked = await newKey();
    await db.update(apiKeys).set({ revokedAt: clock.now() }).where(eq(apiKeys.id, revoked.id));
    const orphan = await newKey();
    await db.execute(sql`delete from users where id = ${orphan.ownerId}`);
    const unknown = (await createKey(db)).key; // then removed: well-formed, valid checksum, unknown
    await db.delete(apiKeys).where(eq(apiKeys.keyHash, hashKey(unknown)));

    const last = good.key.at(-1) === "A" ? "B" : "A";
    const candidates = [
      good.key.replace("sk_live_", "sk_test_"), // wrong prefix
      good.key.slice(0, -1), // wrong length
      good.key.slice(0, -1) + last, // bad checksum
      good.key.slice(0, 20) + "é" + good.key.slice(21), // non-ASCII
      "x".repeat(8 * 1024), // huge
      unknown,
      revoked.key,
      orphan.key,
    ];
    const bodies = new Set<string>();
    for (const candidate of candidates) {
      const response = await get("/api/v1/iocs", { "x-api-key": candidate });
      expect(response.statusCode).toBe(401);
      expect(response.json().error.code).toBe("invalid_api_key");
      expect(response.headers["x-ratelimit-limit"]).toBeUndefined();
      expect(response.headers["www-authenticate"]).toBeUndefined();
      bodies.add(bodyShape(response.body));
    }
    expect(bodies.size).toBe(1);
    // The revoked key's attempt is attributed to it (CONTRACT §4: any status counts).
    expect((await flushed(revoked.id)).totalRequests).toBe(1);
    expect((await flushed(good.id)).totalRequests).toBe(0);
  });

  it("66: expiry follows the clock: before expires_at → 200, at it → 401 expired_api_key", async () => {
    const expiresAt = new Date(clock.now().getTime() + 5_000);
    const k = await newKey({ expiresAt });
    clock.set(new Date(expiresAt.getTime() - 1_000).toISOString());
    expect((await get("/api/v1/iocs", bearer(k.key))).statusCode).toBe(200);
    clock.set(expiresAt.toISOString());
    const expired = await get("/api/v1/iocs", bearer(k.key));
    expect(expired.statusCode).toBe(401);
    expect(expired.json().error.code).toBe("expired_api_key");
    clock.set("2026-06-01T12:00:10.000Z");
  });

  it("67: a key in the query string works and is never logged", async () => {
    const k = await newKey();
    const response = await get(`/api/v1/lookup?value=1.2.3.4&api_key=${k.key}`);
    expect(response.statusCode).toBe(200);
    const logs = test.logs.join("");
    expect(logs).not.toContain(k.key);
    expect(logs).toContain("api_key=[REDACTED]");
  });

  it("68: a missing scope → 403 naming it; quota untouched, the attempt still counted", async () => {
    const k = await newKey({ scopes: ["read:articles"] });
    const response = await get("/api/v1/iocs", bearer(k.key));
    expect(response.statusCode).toBe(403);
    expect(response.json().error).toMatchObject({
      code: "insufficient_scope",
      details: { required_scope: "read:iocs" },
    });
    expect(response.headers["x-ratelimit-remaining"]).toBe("10");
    const ok = await get("/api/v1/articles", bearer(k.key));
    expect(ok.headers["x-ratelimit-remaining"]).toBe("9");
    expect((await flushed(k.id)).totalRequests).toBe(2);
  });

  it("default scope map: formats, exports, TAXII, and path tricks cannot dodge it", async () => {
    const free = await newKey({ perMinute: 1_000 });
    const pro = await newKey({ tier: "pro" });
    const expect403 = async (url: string, required: string) => {
      const response = await get(url, bearer(free.key));
      expect(response.statusCode, url).toBe(403);
      expect(response.json().error.details.required_scope, url).toBe(required);
      expect((await get(url, bearer(pro.key))).statusCode, url).toBe(200);
    };
    await expect403("/api/v1/iocs/stix", "read:stix");
    await expect403("/api/v1/iocs/%73tix", "read:stix");
    await expect403("/api/v1/iocs/cef", "read:cef");
    await expect403("/api/v1/iocs/misp?since=1", "read:misp");
    await expect403("/api/v1/iocs/openioc", "read:openioc");
    await expect403("/api/v1/articles?format=csv", "read:articles:export");
    await expect403("/api/v1/articles?FORMAT=%20Csv%20", "read:articles:export");
    await expect403("/api/taxii2/api/collections/", "read:stix");
    // Two values for the parameter that chooses the scope: refused, never the lower reading.
    const repeated = await get("/api/v1/articles?format=json&format=NDJSON", bearer(pro.key));
    expect(repeated.statusCode).toBe(400);
    expect(repeated.json().error.code).toBe("validation_error");
    // Only the declared paths exist: variants of them are not data routes at all.
    for (const url of ["/api/v1/iocs/stix/", "/api/v1/iocs/STIX", "/api/v1/iocs/stix.json"]) {
      expect((await get(url, bearer(pro.key))).statusCode, url).toBe(404);
    }
    expect((await get("/api/v1/articles?format=json", bearer(free.key))).statusCode).toBe(200);
    expect((await get("/api/v1/iocs/search", bearer(free.key))).statusCode).toBe(200);
    // Dot segments never reach a data route as something else: refused, or (when the
    // router resolved them first) answered by the route they really name.
    for (const url of ["/api/v1/iocs/..%2Fstix", "/api/v1/iocs/%2e%2e/keys", "/api/v1/nothing"]) {
      const response = await get(url, bearer(pro.key));
      expect([403, 404], url).toContain(response.statusCode);
      expect(response.json().data, url).toBeUndefined();
    }
  });

  it("TAXII accepts the key as the Basic-auth password, only on TAXII paths", async () => {
    const pro = await newKey({ tier: "pro" });
    const basic = (user: string) => ({
      authorization: `Basic ${Buffer.from(`${user}:${pro.key}`).toString("base64")}`,
    });
    expect((await get("/api/taxii2/", basic(""))).statusCode).toBe(200);
    expect((await get("/api/taxii2/api/collections/x/objects/", basic("apikey"))).statusCode).toBe(
      200,
    );
    const elsewhere = await get("/api/v1/iocs", basic("apikey"));
    expect(elsewhere.statusCode).toBe(401);
    expect(elsewhere.json().error.code).toBe("missing_api_key");
  });

  it("69: a session cookie alone is not a data-plane credential", async () => {
    const account = await signUp(test);
    const response = await get("/api/v1/iocs", { cookie: account.cookie });
    expect(response.statusCode).toBe(401);
    expect(response.json().error.code).toBe("missing_api_key");
  });

  it("allowed_ips: addresses and CIDR ranges, IPv4-mapped IPv6 included; others → 403", async () => {
    const k = await newKey({ allowedIps: ["203.0.113.0/24", "2001:db8::/32", "198.51.100.7"] });
    for (const address of ["203.0.113.9", "::ffff:203.0.113.200", "2001:db8::1", "198.51.100.7"]) {
      expect((await get("/api/v1/iocs", bearer(k.key), address)).statusCode, address).toBe(200);
    }
    for (const address of ["203.0.114.1", "198.51.100.8", "2001:db9::1", "127.0.0.1"]) {
      const response = await get("/api/v1/iocs", bearer(k.key), address);
      expect(response.statusCode, address).toBe(403);
      expect(response.json().error.code).toBe("ip_not_allowed");
    }
  });

  it("the client address is the socket's; X-Forwarded-For only counts from a trusted proxy", async () => {
    const k = await newKey({ allowedIps: ["203.0.113.0/24"] });
    const spoofed = await get(
      "/api/v1/iocs",
      { ...bearer(k.key), "x-forwarded-for": "203.0.113.5" },
      "198.51.100.1",
    );
    expect(spoofed.statusCode).toBe(403);
    expect(spoofed.json().error.code).toBe("ip_not_allowed");

    const behindProxy = await startTestApp({ trustProxy: ["10.0.0.0/8"] });
    try {
      const key = await createKey(behindProxy.db, { allowedIps: ["203.0.113.0/24"] });
      const call = (remoteAddress: string, forwardedFor: string) =>
        behindProxy.app.inject({
          url: "/api/v1/iocs",
          headers: { ...bearer(key.key), "x-forwarded-for": forwardedFor },
          remoteAddress,
        });
      expect((await call("10.1.2.3", "203.0.113.5")).statusCode).toBe(200);
      expect((await call("10.1.2.3", "198.51.100.1")).statusCode).toBe(403);
      // From an untrusted peer the header is ignored.
      expect((await call("198.51.100.1", "203.0.113.5")).statusCode).toBe(403);
    } finally {
      await behindProxy.close();
    }
  });

  it("70: exact total_requests and last_used_at after N mixed requests", async () => {
    const k = await newKey({ scopes: ["read:iocs"], perMinute: 5 });
    const first = clock.now();
    const statuses: number[] = [];
    for (let i = 0; i < 12; i++) {
      const url = i % 3 === 0 ? "/api/v1/articles" : "/api/v1/iocs";
      statuses.push((await get(url, bearer(k.key))).statusCode);
      clock.advance(1_000);
    }
    const last = clock.now();
    expect(statuses.filter((s) => s === 200)).toHaveLength(5);
    expect(statuses.filter((s) => s === 403)).toHaveLength(4);
    expect(statuses.filter((s) => s === 429)).toHaveLength(3);
    const row = await flushed(k.id);
    expect(row.totalRequests).toBe(12);
    expect(row.lastUsedAt!.getTime()).toBeGreaterThanOrEqual(first.getTime());
    expect(row.lastUsedAt!.getTime()).toBeLessThanOrEqual(last.getTime());
    const [day] = await db.select().from(usageDays).where(eq(usageDays.keyId, k.id));
    expect(day!.byStatus).toEqual({ "200": 5, "403": 4, "429": 3 });
    expect(day!.routes).toEqual({ "/api/v1/iocs": 8, "/api/v1/articles": 4 });
    // The busiest minute is what the limiter counted: the 5 accepted requests.
    expect(day).toMatchObject({ requests: 12, quotaUsed: 5, peakMinuteQuota: 5 });
    expect(day!.rateLimitedByHour[12]).toBe(3);
    expect(day!.latencyBuckets.reduce((a, b) => a + b, 0)).toBe(12);
    clock.set("2026-06-01T12:00:10.000Z");
  });

  it("72: a revocation or downgrade in this process applies to the very next request", async () => {
    const k = await newKey({ tier: "pro" });
    expect((await get("/api/v1/iocs/stix", bearer(k.key))).statusCode).toBe(200);
    // What the key-management code does: change + NOTIFY in one transaction, then the hook.
    await db.transaction(async (tx) => {
      await tx
        .update(apiKeys)
        .set({ scopes: ["read:iocs"] })
        .where(eq(apiKeys.id, k.id));
      await tx.execute(sql`select pg_notify('api_key_changes', ${k.hash})`);
    });
    test.app.gateway.keysChanged([k.hash]);
    expect((await get("/api/v1/iocs/stix", bearer(k.key))).statusCode).toBe(403);
    await db.update(apiKeys).set({ revokedAt: clock.now() }).where(eq(apiKeys.id, k.id));
    test.app.gateway.keysChanged([k.hash]);
    const revoked = await get("/api/v1/iocs", bearer(k.key));
    expect(revoked.statusCode).toBe(401);
    expect(revoked.json().error.code).toBe("invalid_api_key");
  });

  it("a key minted and revoked through the REST API: usable at once, refused right after", async () => {
    const account = await signUp(test);
    const created = await rest(test, "POST", "/api/v1/keys", {
      cookie: account.cookie,
      body: { name: "prod-splunk-2026q2" },
    });
    expect(created.statusCode).toBe(201);
    const { key, id } = created.json().data;
    issuedHashes.push(hashKey(key));
    expect((await get("/api/v1/iocs", bearer(key))).statusCode).toBe(200);
    const revoked = await rest(test, "DELETE", `/api/v1/keys/${id}`, { cookie: account.cookie });
    expect(revoked.statusCode).toBe(200);
    const refused = await get("/api/v1/iocs", bearer(key));
    expect(refused.statusCode).toBe(401);
    expect(refused.json().error.code).toBe("invalid_api_key");
    await test.app.gateway.usage.flush();
    const listed = await rest(test, "GET", "/api/v1/keys", { cookie: account.cookie });
    expect(listed.json().data[0]).toMatchObject({ id, total_requests: 2 });
  });

  it("a revocation committed elsewhere arrives through LISTEN/NOTIFY alone", async () => {
    const k = await newKey();
    expect((await get("/api/v1/iocs", bearer(k.key))).statusCode).toBe(200);
    await db.transaction(async (tx) => {
      await tx.update(apiKeys).set({ revokedAt: clock.now() }).where(eq(apiKeys.id, k.id));
      await tx.execute(sql`select pg_notify('api_key_changes', ${k.hash})`);
    });
    // Polled on whoami, which takes no quota: a quota-taking route would reach the key's
    // 10-a-minute limit (429) if the notification took a while.
    let status = 200;
    for (let i = 0; i < 100 && status === 200; i++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      status = (await get("/api/v1/whoami", bearer(k.key))).statusCode;
    }
    expect(status).toBe(401);
  });
});

describe("H. rate limits", () => {
  it("73/74: 1..Lm → 200 with Remaining Lm-1…0; Lm+1 → 429 with consistent headers", async () => {
    const k = await newKey();
    for (let i = 1; i <= 10; i++) {
      const response = await get("/api/v1/iocs", bearer(k.key));
      expect(response.statusCode).toBe(200);
      expect(response.headers["x-ratelimit-limit"]).toBe("10");
      expect(headerNumber(response, "x-ratelimit-remaining")).toBe(10 - i);
      expect(response.headers["x-ratelimit-reset"]).toBe(
        String(Date.parse("2026-06-01T12:01:00Z") / 1000),
      );
    }
    const refused = await get("/api/v1/iocs", bearer(k.key));
    expect(refused.statusCode).toBe(429);
    expect(refused.json().error).toMatchObject({
      code: "rate_limit_exceeded",
      message:
        "You have exceeded your request limit. Check the X-RateLimit-Reset header for when your quota resets.",
      details: { policy: "minute", retry_after: 50 },
    });
    expect(refused.headers["x-ratelimit-remaining"]).toBe("0");
    const now = clock.now().getTime() / 1000;
    const retryAfter = headerNumber(refused, "retry-after");
    const reset = headerNumber(refused, "x-ratelimit-reset");
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeGreaterThanOrEqual(reset - now - 1);
    expect(reset).toBeLessThanOrEqual(Date.parse("2026-06-01T12:01:00Z") / 1000 + 1);
  });

  it("75: 3×Lm attempts in one minute → exactly Lm accepted; the day fell by exactly Lm", async () => {
    const k = await newKey();
    const responses = [];
    for (let i = 0; i < 30; i++) responses.push(await get("/api/v1/iocs", bearer(k.key)));
    expect(responses.filter((r) => r.statusCode === 200)).toHaveLength(10);
    expect(responses.filter((r) => r.statusCode === 429)).toHaveLength(20);
    clock.advance(60_000);
    const next = await get("/api/v1/iocs", bearer(k.key));
    expect(next.json().data.rate_limit.day.remaining).toBe(1_000 - 11);
    expect((await flushed(k.id)).totalRequests).toBe(31);
    clock.set("2026-06-01T12:00:10.000Z");
  });

  it("76/81: fixed UTC minute windows: the boundary itself opens the next window", async () => {
    const k = await newKey();
    clock.set("2026-06-01T12:05:59.900Z");
    for (let i = 0; i < 10; i++)
      expect((await get("/api/v1/iocs", bearer(k.key))).statusCode).toBe(200);
    const refused = await get("/api/v1/iocs", bearer(k.key));
    expect(refused.statusCode).toBe(429);
    expect(refused.headers["retry-after"]).toBe("1");
    clock.set("2026-06-01T12:06:00.000Z");
    // Fixed windows (documented): a full minute's quota again right at the boundary.
    for (let i = 0; i < 10; i++)
      expect((await get("/api/v1/iocs", bearer(k.key))).statusCode).toBe(200);
    expect((await get("/api/v1/iocs", bearer(k.key))).statusCode).toBe(429);
    clock.set("2026-06-01T12:00:10.000Z");
  });

  it("77: when the day binds, the headers switch to it and Reset is the next UTC midnight", async () => {
    const k = await newKey({ perMinute: 10, perDay: 14 });
    clock.set("2026-06-01T23:58:30.000Z");
    for (let i = 0; i < 10; i++) await get("/api/v1/iocs", bearer(k.key));
    clock.set("2026-06-01T23:59:05.000Z");
    const midnight = String(Date.parse("2026-06-02T00:00:00Z") / 1000);
    const statuses = [];
    for (let i = 0; i < 5; i++) {
      const response = await get("/api/v1/iocs", bearer(k.key));
      statuses.push(response.statusCode);
      expect(response.headers["x-ratelimit-limit"]).toBe("14");
      expect(response.headers["x-ratelimit-reset"]).toBe(midnight);
      if (response.statusCode === 429) {
        expect(response.json().error.details.policy).toBe("day");
        expect(response.headers["retry-after"]).toBe("55");
      }
    }
    expect(statuses).toEqual([200, 200, 200, 200, 429]);
    clock.set("2026-06-02T00:00:00.000Z");
    expect((await get("/api/v1/iocs", bearer(k.key))).statusCode).toBe(200);
    clock.set("2026-06-01T12:00:10.000Z");
  });

  it("a TAXII objects fetch costs 2.5 requests (the published multiplier); other TAXII calls 1", async () => {
    const k = await newKey({ tier: "pro", perMinute: 10, perDay: 1_000 });
    const objects = "/api/taxii2/api/collections/all-iocs/objects/?added_after=2026-01-01";
    const remaining = [];
    for (let i = 0; i < 4; i++) {
      const response = await get(objects, bearer(k.key));
      expect(response.statusCode).toBe(200);
      expect(response.json().data.request.cost).toBe(2.5);
      remaining.push(headerNumber(response, "x-ratelimit-remaining"));
    }
    expect(remaining).toEqual([7, 5, 2, 0]);
    const refused = await get("/api/taxii2/api/collections/", bearer(k.key));
    expect(refused.statusCode).toBe(429);
    expect(refused.json().error.details.policy).toBe("minute");

    const other = await newKey({ tier: "pro", perMinute: 10, perDay: 1_000 });
    const collections = await get("/api/taxii2/api/collections/", bearer(other.key));
    expect(collections.json().data.request.cost).toBe(1);
    expect(headerNumber(collections, "x-ratelimit-remaining")).toBe(9);
    // A path that only looks similar is no data route (it cannot cost 1 instead of 2.5).
    const nested = await get("/api/taxii2/api/collections/x/objects/y", bearer(other.key));
    expect(nested.statusCode).toBe(404);
    expect((await get("/api/taxii2/", bearer(other.key))).statusCode).toBe(200);
    // Remaining rounds down: with exactly 2 left a fetch of 2.5 is refused, requests of 1 are not.
    for (let i = 0; i < 2; i++) await get(objects, bearer(other.key));
    const left = await get("/api/taxii2/", bearer(other.key));
    expect(headerNumber(left, "x-ratelimit-remaining")).toBe(2);
    expect((await get(objects, bearer(other.key))).statusCode).toBe(429);
    expect((await get("/api/taxii2/", bearer(other.key))).statusCode).toBe(200);
    expect((await get("/api/taxii2/", bearer(other.key))).statusCode).toBe(200);
    expect((await get("/api/taxii2/", bearer(other.key))).statusCode).toBe(429);
    // With 2.5 left (shown as 2), one more fetch of 2.5 fits exactly.
    const third = await newKey({ tier: "pro", perMinute: 10, perDay: 1_000 });
    for (let i = 0; i < 3; i++) await get(objects, bearer(third.key));
    const exact = await get(objects, bearer(third.key));
    expect(exact.statusCode).toBe(200);
    expect(exact.headers["x-ratelimit-remaining"]).toBe("0");
    expect((await flushed(third.id)).totalRequests).toBe(4);
  });

  it("78: two keys of one account have independent counters", async () => {
    const a = await newKey();
    const b = await newKey({ ownerId: a.ownerId });
    for (let i = 0; i < 10; i++) await get("/api/v1/iocs", bearer(a.key));
    expect((await get("/api/v1/iocs", bearer(a.key))).statusCode).toBe(429);
    expect((await get("/api/v1/iocs", bearer(b.key))).headers["x-ratelimit-remaining"]).toBe("9");
  });

  it("79: a garbage-key flood from one address gets 429; real keys keep working", async () => {
    const flood = await startTestApp({ now: stoppedClock(), gateway: { failedAuthPerMinute: 20 } });
    try {
      const k = await createKey(flood.db);
      const attacker = "198.51.100.66";
      const victim = await flood.app.inject({
        url: "/api/v1/iocs",
        headers: bearer(k.key),
        remoteAddress: attacker,
      });
      expect(victim.statusCode).toBe(200);
      const statuses: number[] = [];
      for (let i = 0; i < 60; i++) {
        const garbage = (await createKeyString()).slice(0, -2) + "zz";
        const response = await flood.app.inject({
          url: "/api/v1/iocs",
          headers: { "x-api-key": i % 2 ? garbage : await createKeyString() },
          remoteAddress: attacker,
        });
        statuses.push(response.statusCode);
      }
      expect(statuses.slice(0, 20).every((s) => s === 401)).toBe(true);
      expect(statuses.slice(20).every((s) => s === 429)).toBe(true);
      const blocked = await flood.app.inject({
        url: "/api/v1/iocs",
        headers: { "x-api-key": "nope" },
        remoteAddress: attacker,
      });
      // Not the key's request limit: the address sent too many bad keys.
      expect(blocked.json().error.code).toBe("too_many_attempts");
      expect(Number(blocked.headers["retry-after"])).toBeGreaterThanOrEqual(1);
      // The real key (cached) from the same address, and other addresses, are unaffected.
      const again = await flood.app.inject({
        url: "/api/v1/iocs",
        headers: bearer(k.key),
        remoteAddress: attacker,
      });
      expect(again.statusCode).toBe(200);
      expect(again.headers["x-ratelimit-remaining"]).toBe("8");
      const other = await flood.app.inject({
        url: "/api/v1/iocs",
        headers: { "x-api-key": "nope" },
        remoteAddress: "198.51.100.67",
      });
      expect(other.statusCode).toBe(401);
      expect(await flood.app.gateway.usage.flush()).toBe(true);
      expect((await keyRow(flood.db, k.id)).totalRequests).toBe(2);
    } finally {
      await flood.close();
    }
  });
});

async function createKeyString() {
  const { generateKey } = await import("@repo/core");
  return generateKey().key;
}

describe("I. concurrency", () => {
  it("82: 100 parallel requests, Lm = 10 → exactly 10×200 and 90×429, Remaining 9…0", async () => {
    const k = await newKey();
    const responses = await Promise.all(
      Array.from({ length: 100 }, () => get("/api/v1/iocs", bearer(k.key))),
    );
    const ok = responses.filter((r) => r.statusCode === 200);
    expect(ok).toHaveLength(10);
    expect(responses.filter((r) => r.statusCode === 429)).toHaveLength(90);
    expect(ok.map((r) => headerNumber(r, "x-ratelimit-remaining")).sort((a, b) => a - b)).toEqual([
      0, 1, 2, 3, 4, 5, 6, 7, 8, 9,
    ]);
    const row = await flushed(k.id);
    expect(row.totalRequests).toBe(100);
    const [day] = await db.select().from(usageDays).where(eq(usageDays.keyId, k.id));
    expect(day!.byStatus).toEqual({ "200": 10, "429": 90 });
    expect(day!.peakMinuteQuota).toBe(10);
  });

  it("84: 1.5× and 2× Lm in each of 5 windows → exactly Lm accepted per window", async () => {
    const k = await newKey();
    let attempts = 0;
    for (let window = 0; window < 5; window++) {
      clock.set(
        new Date(Date.parse("2026-06-01T13:00:00Z") + window * 60_000 + 7_000).toISOString(),
      );
      const burst = window % 2 === 0 ? 15 : 20;
      attempts += burst;
      const responses = await Promise.all(
        Array.from({ length: burst }, () => get("/api/v1/iocs", bearer(k.key))),
      );
      expect(responses.filter((r) => r.statusCode === 200)).toHaveLength(10);
      expect(responses.filter((r) => r.statusCode === 429)).toHaveLength(burst - 10);
    }
    const next = await get("/api/v1/iocs", bearer(k.key));
    expect(next.statusCode).toBe(429);
    expect(next.json().error.details.policy).toBe("minute");
    clock.advance(60_000);
    const after = await get("/api/v1/iocs", bearer(k.key));
    expect(after.json().data.rate_limit.day.remaining).toBe(1_000 - 5 * 10 - 1);
    expect((await flushed(k.id)).totalRequests).toBe(attempts + 2);
    clock.set("2026-06-01T12:00:10.000Z");
  });

  it("85: a revoke racing a burst: nothing sent after the revoke answered is accepted", async () => {
    const account = await signUp(test);
    const created = await rest(test, "POST", "/api/v1/keys", {
      cookie: account.cookie,
      body: { name: "prod-race-85" },
    });
    const { key, id } = created.json().data;
    issuedHashes.push(hashKey(key));
    const before = Array.from({ length: 4 }, () => get("/api/v1/iocs", bearer(key)));
    const revoke = rest(test, "DELETE", `/api/v1/keys/${id}`, { cookie: account.cookie });
    const during = Array.from({ length: 4 }, () => get("/api/v1/iocs", bearer(key)));
    expect((await revoke).statusCode).toBe(200);
    const after = await Promise.all(
      Array.from({ length: 20 }, () => get("/api/v1/iocs", bearer(key))),
    );
    expect(after.map((r) => r.statusCode)).toEqual(Array.from({ length: 20 }, () => 401));
    for (const response of await Promise.all([...before, ...during]))
      expect([200, 401]).toContain(response.statusCode);
    const row = await flushed(id);
    expect(row.totalRequests).toBe(28);
  });

  it("85: a downgrade racing traffic: once it arrives, nothing is accepted over the new limit", async () => {
    const owner = await newKey({ tier: "pro" });
    const [user] = await db
      .select({ email: users.email })
      .from(users)
      .where(eq(users.id, owner.ownerId));
    for (let i = 0; i < 30; i++)
      expect((await get("/api/v1/iocs", bearer(owner.key))).statusCode).toBe(200);
    // An operator's downgrade, committed through another connection: it reaches this
    // process by NOTIFY alone.
    const traffic = Array.from({ length: 20 }, () => get("/api/v1/iocs", bearer(owner.key)));
    await setUserTier(db, user!.email, "free");
    let limit = "1000";
    for (let i = 0; i < 100 && limit !== "10"; i++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      limit = String((await get("/api/v1/iocs", bearer(owner.key))).headers["x-ratelimit-limit"]);
    }
    expect(limit).toBe("10");
    await Promise.all(traffic);
    const burst = await Promise.all(
      Array.from({ length: 50 }, () => get("/api/v1/iocs", bearer(owner.key))),
    );
    for (const response of burst) {
      expect(response.statusCode).toBe(429);
      expect(response.headers["x-ratelimit-limit"]).toBe("10");
    }
  });

  it("87: 50 different keys in parallel: no cross-talk", async () => {
    const keys = await Promise.all(Array.from({ length: 50 }, () => newKey()));
    const responses = await Promise.all(
      keys.flatMap((k, i) =>
        Array.from({ length: (i % 5) + 1 }, () => get("/api/v1/iocs", bearer(k.key))),
      ),
    );
    expect(responses.every((r) => r.statusCode === 200)).toBe(true);
    await test.app.gateway.usage.flush();
    const rows = await db
      .select({ id: apiKeys.id, total: apiKeys.totalRequests })
      .from(apiKeys)
      .where(sql`${apiKeys.id} in ${keys.map((k) => k.id)}`);
    const totals = new Map(rows.map((r) => [r.id, r.total]));
    keys.forEach((k, i) => expect(totals.get(k.id)).toBe((i % 5) + 1));
  });
});
