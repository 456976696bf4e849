import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { apiKeys, auditEvents, eq, sql, users } from "@repo/db";
import { DEFAULT_THROTTLE_POLICY, setUserTier } from "@repo/api";
import { isWellFormedKey, TIERS } from "@repo/core";
import {
  EVIL,
  ORIGIN,
  mutate,
  parseSetCookies,
  query,
  rest,
  signUp,
  startTestApp,
  type TestApp,
} from "./harness.js";

let test: TestApp;
beforeAll(async () => {
  test = await startTestApp();
});
afterAll(async () => {
  await test.close();
});
afterEach(() => {
  vi.useRealTimers();
});

const LIST_FIELDS = [
  "created_at",
  "expires_at",
  "id",
  "key_prefix",
  "last_used_at",
  "name",
  "revoked_at",
  "scopes",
  "tier",
  "total_requests",
];
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

async function createKey(cookie: string, body: Record<string, unknown> = {}) {
  const response = await rest(test, "POST", "/api/v1/keys", {
    cookie,
    body: { name: "prod-splunk-2026q2", ...body },
  });
  expect(response.statusCode, response.body).toBe(201);
  return response.json().data as { id: string; key: string; key_prefix: string };
}

const keyRows = (ownerEmail: string, app: TestApp = test) =>
  app.db
    .select({ key: apiKeys })
    .from(apiKeys)
    .innerJoin(users, eq(users.id, apiKeys.ownerId))
    .where(eq(users.email, ownerEmail));

describe("GET /api/v1/keys (the documented list)", () => {
  it("returns exactly the documented fields, newest first, revoked keys included", async () => {
    const account = await signUp(test);
    const first = await createKey(account.cookie, { name: "staging-sentinel" });
    const second = await createKey(account.cookie, {
      name: "prod-splunk-2026q2",
      expires_in_days: 90,
    });
    await rest(test, "DELETE", `/api/v1/keys/${first.id}`, { cookie: account.cookie });

    const response = await rest(test, "GET", "/api/v1/keys", { cookie: account.cookie });
    expect(response.statusCode).toBe(200);
    expect(response.headers["cache-control"]).toBe("no-store");
    const body = response.json();
    expect(Object.keys(body).sort()).toEqual(["data", "meta"]);
    expect(body.meta).toEqual({ total: 2 });
    expect(body.data.map((k: { id: string }) => k.id)).toEqual([second.id, first.id]);
    for (const item of body.data) {
      expect(Object.keys(item).sort()).toEqual(LIST_FIELDS);
      expect(item.id).toMatch(UUID);
      expect(item.key_prefix).toMatch(/^sk_live_[0-9A-Za-z]{4}$/);
      expect(item.tier).toBe("free");
      expect(item.scopes).toEqual(["read:iocs", "read:articles"]);
      expect(item.total_requests).toBe(0);
      expect(item.last_used_at).toBeNull();
      expect(item.created_at).toMatch(ISO);
    }
    expect(body.data[0].expires_at).toMatch(ISO);
    expect(body.data[0].revoked_at).toBeNull();
    expect(body.data[1].expires_at).toBeNull();
    expect(body.data[1].revoked_at).toMatch(ISO);
  });

  it("lists only the caller's keys", async () => {
    const alice = await signUp(test);
    const bob = await signUp(test);
    await createKey(alice.cookie);
    const list = await rest(test, "GET", "/api/v1/keys", { cookie: bob.cookie });
    expect(list.json()).toEqual({ data: [], meta: { total: 0 } });
  });
});

describe("POST /api/v1/keys (mint)", () => {
  it("returns 201 with every documented field, the secret under key and full_key, once", async () => {
    const account = await signUp(test);
    const response = await rest(test, "POST", "/api/v1/keys", {
      cookie: account.cookie,
      body: { name: "  prod-splunk-2026q2  ", expires_in_days: 90 },
    });
    expect(response.statusCode).toBe(201);
    expect(response.headers["cache-control"]).toBe("no-store");
    const { data, meta } = response.json();
    expect(meta).toEqual({ warning: "Store this API key securely. It will not be shown again." });
    expect(data).toMatchObject({
      name: "prod-splunk-2026q2",
      tier: "free",
      scopes: ["read:iocs", "read:articles"],
      rate_limit_per_minute: TIERS.free.rateLimitPerMinute,
      rate_limit_per_day: TIERS.free.rateLimitPerDay,
      total_requests: 0,
      last_used_at: null,
      revoked_at: null,
      allowed_ips: null,
    });
    expect(data.key).toBe(data.full_key);
    expect(data.key).toMatch(/^sk_live_[0-9A-Za-z]{38}$/);
    expect(isWellFormedKey(data.key)).toBe(true);
    expect(data.key_prefix).toBe(data.key.slice(0, 12));
    expect(data.key_preview).toBe(`${data.key_prefix}••••••••`);
    const expires = Date.parse(data.expires_at) - Date.parse(data.created_at);
    expect(expires).toBe(90 * 86_400_000);

    // Only the SHA-256 is stored; no column holds the secret.
    const [row] = await test.db.select().from(apiKeys).where(eq(apiKeys.id, data.id));
    expect(row?.keyHash).toMatch(/^[0-9a-f]{64}$/);
    expect(JSON.stringify(row)).not.toContain(data.key);
  });

  it("never returns the secret again", async () => {
    const account = await signUp(test);
    const created = await createKey(account.cookie);
    const list = await rest(test, "GET", "/api/v1/keys", { cookie: account.cookie });
    const detail = await rest(test, "GET", `/api/v1/keys/${created.id}`, {
      cookie: account.cookie,
    });
    const trpcList = await query(test, "keys.list", { cookie: account.cookie });
    for (const response of [list, detail, trpcList]) {
      expect(response.body).not.toContain(created.key);
      expect(response.body).not.toContain(created.key.slice(12));
    }
  });

  it("explains the naming convention for weak names but still creates the key", async () => {
    const account = await signUp(test);
    for (const name of ["key1", "my key", "test", "abc"]) {
      const response = await rest(test, "POST", "/api/v1/keys", {
        cookie: account.cookie,
        body: { name },
      });
      if (response.statusCode === 403) break; // free allowance used up; 3 names checked
      expect(response.statusCode).toBe(201);
      expect(response.json().meta.name_hint).toContain("prod-splunk-2026q2");
    }
  });

  it("accepts a subset of the tier's scopes and normalized allowed_ips", async () => {
    const account = await signUp(test);
    const response = await rest(test, "POST", "/api/v1/keys", {
      cookie: account.cookie,
      body: {
        name: "elastic-poller-eu",
        scopes: ["read:iocs"],
        allowed_ips: ["203.0.113.7", "10.0.0.9/24", "2001:db8::1", "2001:db8:0:0::/32"],
      },
    });
    expect(response.statusCode).toBe(201);
    expect(response.json().data.scopes).toEqual(["read:iocs"]);
    expect(response.json().data.allowed_ips).toEqual([
      "203.0.113.7",
      "10.0.0.0/24",
      "2001:db8::1",
      "2001:db8::/32",
    ]);
  });

  it.each([
    ["empty name", { name: "   " }, "name"],
    ["name over 100 characters", { name: "x".repeat(101) }, "name"],
    ["control characters in the name", { name: "prod\u0000splunk" }, "name"],
    ["bidi override in the name", { name: "prod-\u202esplunk" }, "name"],
    ["missing name", {}, "name"],
    ["expiry of 0 days", { name: "ci-runner", expires_in_days: 0 }, "expires_in_days"],
    ["expiry of 366 days", { name: "ci-runner", expires_in_days: 366 }, "expires_in_days"],
    ["fractional expiry", { name: "ci-runner", expires_in_days: 1.5 }, "expires_in_days"],
    ["expiry as a string", { name: "ci-runner", expires_in_days: "90" }, "expires_in_days"],
    ["unknown scope", { name: "ci-runner", scopes: ["admin:all"] }, "scopes.0"],
    ["empty scopes", { name: "ci-runner", scopes: [] }, "scopes"],
    ["scope above the tier", { name: "ci-runner", scopes: ["read:stix"] }, "scopes"],
    ["bad address", { name: "ci-runner", allowed_ips: ["10.0.0.300"] }, "allowed_ips.0"],
    [
      "too many addresses",
      { name: "ci-runner", allowed_ips: Array.from({ length: 21 }, (_, i) => `10.0.0.${i}`) },
      "allowed_ips",
    ],
    ["owner id", { name: "ci-runner", user_id: "someone-else" }, "user_id"],
    ["key hash", { name: "ci-runner", key_hash: "00" }, "key_hash"],
    ["counters", { name: "ci-runner", total_requests: 999 }, "total_requests"],
    ["revocation", { name: "ci-runner", revoked_at: null }, "revoked_at"],
    ["tier", { name: "ci-runner", tier: "pro" }, "tier"],
  ])(
    "refuses %s with 400 validation_error naming the field, creating nothing",
    async (_n, body, field) => {
      const account = await signUp(test);
      const response = await rest(test, "POST", "/api/v1/keys", { cookie: account.cookie, body });
      expect(response.statusCode).toBe(400);
      const error = response.json().error;
      expect(error.code).toBe("validation_error");
      expect(error.request_id).toBe(response.headers["x-request-id"]);
      expect(error.details.field).toBe(field);
      expect(await keyRows(account.email)).toEqual([]);
    },
  );

  it("refuses a body that is not a JSON object", async () => {
    const account = await signUp(test);
    const response = await rest(test, "POST", "/api/v1/keys", {
      cookie: account.cookie,
      body: ["x"],
    });
    expect(response.statusCode).toBe(400);
    expect(response.json().error.code).toBe("validation_error");
  });

  it("holds the free allowance of 3 active keys; revoked and expired keys do not count", async () => {
    const account = await signUp(test);
    const keys = [];
    for (let i = 0; i < 3; i++)
      keys.push(await createKey(account.cookie, { name: `ci-runner-${i}` }));
    const fourth = await rest(test, "POST", "/api/v1/keys", {
      cookie: account.cookie,
      body: { name: "ci-runner-3" },
    });
    expect(fourth.statusCode).toBe(403);
    expect(fourth.json().error).toMatchObject({
      code: "key_limit_reached",
      details: { tier: "free", limit: 3, active: 3 },
    });

    await rest(test, "DELETE", `/api/v1/keys/${keys[0]!.id}`, { cookie: account.cookie });
    const short = await createKey(account.cookie, {
      name: "partner-acme-trial",
      expires_in_days: 1,
    });
    expect(short.id).toBeDefined();
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(Date.now() + 86_400_000 + 1_000);
    await createKey(account.cookie, { name: "after-expiry" });
    expect(await keyRows(account.email)).toHaveLength(5);
  });

  it("holds the allowance under 20 concurrent creates", async () => {
    // Every one of them in flight at once (the per-account bound on changes would otherwise
    // answer most with 503 before they reach the allowance check).
    const burst = await startTestApp({ changesInFlightPerAccount: 20 });
    const account = await signUp(burst);
    const responses = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        rest(burst, "POST", "/api/v1/keys", {
          cookie: account.cookie,
          body: { name: `burst-${i}` },
        }),
      ),
    );
    const statuses = responses.map((r) => r.statusCode);
    expect(statuses.filter((s) => s === 201)).toHaveLength(3);
    expect(statuses.filter((s) => s === 403)).toHaveLength(17);
    expect(await keyRows(account.email, burst)).toHaveLength(3);
    await burst.close();
  });

  it("mints pro keys with the pro scopes and limits", async () => {
    const account = await signUp(test);
    await setUserTier(test.db, account.email, "pro");
    const created = await createKey(account.cookie);
    const detail = await rest(test, "GET", `/api/v1/keys/${created.id}`, {
      cookie: account.cookie,
    });
    expect(detail.json().data).toMatchObject({
      tier: "pro",
      scopes: [...TIERS.pro.scopes],
      rate_limit_per_minute: 1000,
      rate_limit_per_day: 1_000_000,
    });
  });
});

describe("GET /api/v1/keys/{keyId}", () => {
  it("returns the list fields plus limits, allowed_ips and the revocation reason", async () => {
    const account = await signUp(test);
    const created = await createKey(account.cookie, { allowed_ips: ["198.51.100.0/24"] });
    const response = await rest(test, "GET", `/api/v1/keys/${created.id}`, {
      cookie: account.cookie,
    });
    expect(response.statusCode).toBe(200);
    const { data } = response.json();
    expect(Object.keys(data).sort()).toEqual(
      [
        ...LIST_FIELDS,
        "allowed_ips",
        "rate_limit_per_day",
        "rate_limit_per_minute",
        "revoked_reason",
        "rotated_from",
        "rotated_to",
      ].sort(),
    );
    expect(data.allowed_ips).toEqual(["198.51.100.0/24"]);
  });

  it("answers another account's key, a missing key and a non-uuid id identically (404)", async () => {
    const alice = await signUp(test);
    const bob = await signUp(test);
    const aliceKey = await createKey(alice.cookie);
    const bodies = [];
    for (const id of [
      aliceKey.id,
      "00000000-0000-4000-8000-000000000123",
      "not-a-uuid",
      "1' or '1'='1",
    ]) {
      const response = await rest(test, "GET", `/api/v1/keys/${encodeURIComponent(id)}`, {
        cookie: bob.cookie,
      });
      expect(response.statusCode).toBe(404);
      const { error } = response.json();
      bodies.push({ ...error, request_id: undefined });
    }
    expect(new Set(bodies.map((b) => JSON.stringify(b))).size).toBe(1);
    expect(bodies[0]).toMatchObject({ code: "key_not_found" });
  });
});

describe("DELETE /api/v1/keys/{keyId} (revoke)", () => {
  it("revokes with a reason, exactly as documented, and keeps the first reason", async () => {
    const account = await signUp(test);
    const created = await createKey(account.cookie);
    const response = await rest(test, "DELETE", `/api/v1/keys/${created.id}`, {
      cookie: account.cookie,
      body: { reason: "rotation: 2026-Q2 quarterly key refresh" },
    });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({ success: true, message: "API key revoked successfully" });

    const again = await rest(test, "DELETE", `/api/v1/keys/${created.id}`, {
      cookie: account.cookie,
      body: { reason: "second try" },
    });
    expect(again.statusCode).toBe(409);
    expect(again.json().error.code).toBe("key_already_revoked");

    const detail = await rest(test, "GET", `/api/v1/keys/${created.id}`, {
      cookie: account.cookie,
    });
    expect(detail.json().data.revoked_reason).toBe("rotation: 2026-Q2 quarterly key refresh");
    expect(detail.json().data.revoked_at).toMatch(ISO);
  });

  it("accepts no body at all, or a JSON content type with an empty body", async () => {
    const account = await signUp(test);
    const a = await createKey(account.cookie, { name: "a-key-one" });
    const b = await createKey(account.cookie, { name: "a-key-two" });
    expect(
      (await rest(test, "DELETE", `/api/v1/keys/${a.id}`, { cookie: account.cookie })).statusCode,
    ).toBe(200);
    const empty = await test.app.inject({
      method: "DELETE",
      url: `/api/v1/keys/${b.id}`,
      headers: {
        cookie: account.cookie,
        "sec-fetch-site": "same-origin",
        "content-type": "application/json",
      },
      payload: "",
    });
    expect(empty.statusCode).toBe(200);
  });

  it("refuses a reason over 500 characters and leaves the key active", async () => {
    const account = await signUp(test);
    const created = await createKey(account.cookie);
    const response = await rest(test, "DELETE", `/api/v1/keys/${created.id}`, {
      cookie: account.cookie,
      body: { reason: "x".repeat(501) },
    });
    expect(response.statusCode).toBe(400);
    expect(response.json().error.details.field).toBe("reason");
    const [row] = await test.db.select().from(apiKeys).where(eq(apiKeys.id, created.id));
    expect(row?.revokedAt).toBeNull();
  });

  it("answers another account's key with the same 404 and leaves it active", async () => {
    const alice = await signUp(test);
    const bob = await signUp(test);
    const aliceKey = await createKey(alice.cookie);
    const response = await rest(test, "DELETE", `/api/v1/keys/${aliceKey.id}`, {
      cookie: bob.cookie,
    });
    expect(response.statusCode).toBe(404);
    expect(response.json().error.code).toBe("key_not_found");
    const trpc = await mutate(test, "keys.revoke", { id: aliceKey.id }, { cookie: bob.cookie });
    expect(trpc.statusCode).toBe(404);
    const [row] = await test.db.select().from(apiKeys).where(eq(apiKeys.id, aliceKey.id));
    expect(row?.revokedAt).toBeNull();
  });

  it("writes create and revoke to the audit trail with address, agent and reason", async () => {
    const account = await signUp(test);
    const created = await createKey(account.cookie);
    await rest(test, "DELETE", `/api/v1/keys/${created.id}`, {
      cookie: account.cookie,
      body: { reason: "employee left" },
      headers: { "user-agent": "audit-test/1.0" },
    });
    const events = await test.db
      .select()
      .from(auditEvents)
      .where(eq(auditEvents.keyId, created.id))
      .orderBy(auditEvents.id);
    expect(events.map((e) => e.action)).toEqual(["key.created", "key.revoked"]);
    expect(events[1]).toMatchObject({
      keyPrefix: created.key_prefix,
      ip: "127.0.0.1",
      userAgent: "audit-test/1.0",
      details: { name: "prod-splunk-2026q2", reason: "employee left" },
    });
    const trail = await query(test, "audit.list", { cookie: account.cookie, input: { limit: 2 } });
    const page = trail.json().result.data;
    expect(page.events.map((e: { action: string }) => e.action)).toEqual([
      "key.revoked",
      "key.created",
    ]);
    expect(page.next_cursor).not.toBeNull();
    const next = await query(test, "audit.list", {
      cookie: account.cookie,
      input: { limit: 2, cursor: page.next_cursor },
    });
    expect(next.json().result.data.events.map((e: { action: string }) => e.action)).toEqual([
      "auth.sign_up",
    ]);
  });
});

describe("who may call /api/v1/keys", () => {
  it("refuses a request without a session: 401 not_authenticated in the envelope", async () => {
    const response = await rest(test, "GET", "/api/v1/keys");
    expect(response.statusCode).toBe(401);
    expect(response.json()).toEqual({
      error: {
        code: "not_authenticated",
        message: "Sign in to continue.",
        request_id: response.headers["x-request-id"],
      },
    });
    expect(parseSetCookies(response)).toEqual([]);
  });

  it("refuses a never-issued session and clears the cookie", async () => {
    const response = await rest(test, "GET", "/api/v1/keys", {
      cookie: `sb-access-token=${"B".repeat(43)}`,
    });
    expect(response.statusCode).toBe(401);
    expect(parseSetCookies(response)[0]).toMatchObject({ name: "sb-access-token", value: "" });
  });

  it.each([
    [
      "a Bearer API key",
      { authorization: "Bearer sk_live_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" },
      "",
    ],
    ["an X-API-Key", { "x-api-key": "sk_live_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" }, ""],
    ["an api_key query parameter", {}, "?api_key=sk_live_x"],
    ["the session token as a Bearer", { authorization: "Bearer SESSION" }, ""],
  ])(
    "refuses %s with 403 api_key_not_allowed even beside a valid cookie",
    async (_n, headers, search) => {
      const account = await signUp(test);
      const realHeaders = Object.fromEntries(
        Object.entries(headers).map(([k, v]) => [k, v.replace("SESSION", account.token)]),
      );
      for (const method of ["GET", "POST"] as const) {
        const response = await rest(test, method, `/api/v1/keys${search}`, {
          cookie: account.cookie,
          headers: realHeaders,
          ...(method === "POST" ? { body: { name: "should-not-exist" } } : {}),
        });
        expect(response.statusCode).toBe(403);
        expect(response.json().error.code).toBe("api_key_not_allowed");
      }
      expect(await keyRows(account.email)).toEqual([]);
    },
  );

  it.each([
    ["cross-site", { "sec-fetch-site": "cross-site", origin: EVIL }],
    ["foreign Origin, no Sec-Fetch-Site", { "sec-fetch-site": "", origin: EVIL }],
    ["no Origin, no Sec-Fetch-Site", { "sec-fetch-site": "", origin: "" }],
  ])(
    "refuses a %s create or revoke with 403 invalid_origin and changes nothing",
    async (_n, headers) => {
      const account = await signUp(test);
      const existing = await createKey(account.cookie);
      const clean = Object.fromEntries(Object.entries(headers).filter(([, v]) => v !== ""));
      const send = (method: "POST" | "DELETE", url: string, body?: unknown) =>
        test.app.inject({
          method,
          url,
          headers: { cookie: account.cookie, "content-type": "application/json", ...clean },
          payload: JSON.stringify(body ?? {}),
        });
      const create = await send("POST", "/api/v1/keys", { name: "csrf-attempt" });
      const revoke = await send("DELETE", `/api/v1/keys/${existing.id}`);
      for (const response of [create, revoke]) {
        expect(response.statusCode).toBe(403);
        expect(response.json().error.code).toBe("invalid_origin");
        expect(response.headers["access-control-allow-origin"]).toBeUndefined();
      }
      const rows = await keyRows(account.email);
      expect(rows).toHaveLength(1);
      expect(rows[0]?.key.revokedAt).toBeNull();
    },
  );

  it.each([
    ["text/plain", '{"name":"csrf-text"}'],
    ["application/x-www-form-urlencoded", "name=csrf-form"],
    [
      "multipart/form-data; boundary=z",
      '--z\r\nContent-Disposition: form-data; name="name"\r\n\r\nx\r\n--z--',
    ],
  ])("refuses a %s body with 415 and creates nothing", async (type, payload) => {
    const account = await signUp(test);
    const response = await test.app.inject({
      method: "POST",
      url: "/api/v1/keys",
      headers: { cookie: account.cookie, "sec-fetch-site": "same-origin", "content-type": type },
      payload,
    });
    expect(response.statusCode).toBe(415);
    expect(response.json().error.code).toBe("unsupported_media_type");
    expect(await keyRows(account.email)).toEqual([]);
  });

  it("refuses bodies over 16 KiB (413) and malformed JSON (400 invalid_json)", async () => {
    const account = await signUp(test);
    const big = await rest(test, "POST", "/api/v1/keys", {
      cookie: account.cookie,
      body: { name: "big", padding: "x".repeat(17 * 1024) },
    });
    expect(big.statusCode).toBe(413);
    expect(big.json().error.code).toBe("payload_too_large");
    const broken = await test.app.inject({
      method: "POST",
      url: "/api/v1/keys",
      headers: {
        cookie: account.cookie,
        "sec-fetch-site": "same-origin",
        "content-type": "application/json",
      },
      payload: '{"name": "unterminated',
    });
    expect(broken.statusCode).toBe(400);
    expect(broken.json().error.code).toBe("invalid_json");
    expect(await keyRows(account.email)).toEqual([]);
  });

  it.each(["PUT", "PATCH", "TRACE"] as const)(
    "answers %s with 405 and an Allow header",
    async (method) => {
      const account = await signUp(test);
      const response = await rest(test, method, "/api/v1/keys", { cookie: account.cookie });
      expect(response.statusCode).toBe(405);
      expect(response.headers.allow).toBe("GET, HEAD, POST");
      expect(response.json().error.code).toBe("method_not_allowed");
    },
  );

  it("sends no CORS headers to a cross-origin preflight", async () => {
    const response = await test.app.inject({
      method: "OPTIONS",
      url: "/api/v1/keys",
      headers: { origin: EVIL, "access-control-request-method": "POST" },
    });
    expect(response.headers["access-control-allow-origin"]).toBeUndefined();
    expect(response.headers["access-control-allow-credentials"]).toBeUndefined();
  });

  it("refuses a tRPC create sent as GET", async () => {
    const account = await signUp(test);
    const input = encodeURIComponent(JSON.stringify({ name: "via-get" }));
    const response = await test.app.inject({
      method: "GET",
      url: `/trpc/keys.create?input=${input}`,
      headers: { cookie: account.cookie },
    });
    expect(response.statusCode).toBe(405);
    expect(await keyRows(account.email)).toEqual([]);
  });
});

describe("downgrades", () => {
  it("cut active pro keys to the free scopes and limits, with audit events", async () => {
    const account = await signUp(test);
    await setUserTier(test.db, account.email, "pro");
    const active = await createKey(account.cookie, { name: "prod-stix-feed" });
    const revoked = await createKey(account.cookie, { name: "old-feed" });
    await rest(test, "DELETE", `/api/v1/keys/${revoked.id}`, { cookie: account.cookie });
    const result = await setUserTier(test.db, account.email, "free");
    expect(result).toMatchObject({ previousTier: "pro", tier: "free", keysDowngraded: 1 });

    const detail = (
      await rest(test, "GET", `/api/v1/keys/${active.id}`, { cookie: account.cookie })
    ).json().data;
    expect(detail).toMatchObject({
      tier: "free",
      scopes: ["read:iocs", "read:articles"],
      rate_limit_per_minute: 10,
      rate_limit_per_day: 1000,
    });
    const untouched = (
      await rest(test, "GET", `/api/v1/keys/${revoked.id}`, { cookie: account.cookie })
    ).json().data;
    expect(untouched.tier).toBe("pro");
    const [event] = await test.db
      .select()
      .from(auditEvents)
      .where(sql`${auditEvents.keyId} = ${active.id} and ${auditEvents.action} = 'key.downgraded'`);
    expect(event?.details).toMatchObject({ from: "pro", to: "free" });
  });
});

describe("leak check", () => {
  it("shows the secret in the one create response only: never in other responses, logs or the database", async () => {
    const account = await signUp(test);
    const bodies: string[] = [];
    const created = await rest(test, "POST", "/api/v1/keys", {
      cookie: account.cookie,
      body: { name: "leak-check-key" },
    });
    const key: string = created.json().data.key;
    const { id } = created.json().data;
    for (const response of [
      await rest(test, "GET", "/api/v1/keys", { cookie: account.cookie }),
      await rest(test, "GET", `/api/v1/keys/${id}`, { cookie: account.cookie }),
      await query(test, "keys.list", { cookie: account.cookie }),
      await query(test, "keys.byId", { cookie: account.cookie, input: { id } }),
      await query(test, "audit.list", { cookie: account.cookie, input: {} }),
      await rest(test, "DELETE", `/api/v1/keys/${id}`, {
        cookie: account.cookie,
        body: { reason: "done" },
      }),
    ]) {
      bodies.push(response.body, JSON.stringify(response.headers));
    }
    expect(created.body.split(key)).toHaveLength(3); // `key` and `full_key`
    for (const text of bodies) expect(text).not.toContain(key.slice(8));
    expect(test.logs.join("")).not.toContain(key.slice(8));

    const dump = await test.db.execute(
      sql`select (select json_agg(k) from api_keys k)::text as keys, (select json_agg(a) from audit_events a)::text as audit, (select json_agg(s) from sessions s)::text as sessions`,
    );
    const text = JSON.stringify(dump);
    expect(text).not.toContain(key.slice(8));
    expect(text).not.toContain(account.token);
  });
});

describe("origin configuration", () => {
  it("accepts an exact allowed Origin from a browser without Sec-Fetch-Site", async () => {
    const account = await signUp(test);
    const response = await test.app.inject({
      method: "POST",
      url: "/api/v1/keys",
      headers: { cookie: account.cookie, origin: ORIGIN, "content-type": "application/json" },
      payload: JSON.stringify({ name: "origin-only-client" }),
    });
    expect(response.statusCode).toBe(201);
  });
});

describe("failures inside a create", () => {
  it("answer 500 with a generic body, leave no partial row, and log no SQL or secrets", async () => {
    await test.db.execute(
      sql.raw(`
      create or replace function explode_on_name() returns trigger as $$
      begin
        if new.name = 'explode' then raise exception 'boom %', new.key_hash; end if;
        return new;
      end $$ language plpgsql`),
    );
    await test.db.execute(
      sql.raw(
        `create trigger explode before insert on api_keys for each row execute function explode_on_name()`,
      ),
    );
    const account = await signUp(test);
    const logStart = test.logs.length;
    const response = await rest(test, "POST", "/api/v1/keys", {
      cookie: account.cookie,
      body: { name: "explode" },
    });
    expect(response.statusCode).toBe(500);
    expect(response.json()).toEqual({
      error: {
        code: "internal_error",
        message: "Something went wrong on our side.",
        request_id: response.headers["x-request-id"],
      },
    });
    expect(await keyRows(account.email)).toEqual([]);
    const [user] = await test.db.select().from(users).where(eq(users.email, account.email));
    const events = await test.db.select().from(auditEvents).where(eq(auditEvents.userId, user!.id));
    expect(events.map((e) => e.action)).toEqual(["auth.sign_up"]);
    const logs = test.logs.slice(logStart).join("");
    expect(logs).toContain("request failed");
    expect(logs).not.toMatch(/insert into|boom|api_keys/i);
    expect(logs).not.toMatch(/\n\s+at /);
  });
});

describe("abuse limits", () => {
  it("throttle key creation per account", async () => {
    const limited = await startTestApp({
      throttlePolicy: {
        ...DEFAULT_THROTTLE_POLICY,
        signUpsPerAddress: 100,
        keyCreatesPerMinute: 2,
      },
    });
    try {
      const account = await signUp(limited);
      const statuses = [];
      for (let i = 0; i < 3; i++) {
        const response = await rest(limited, "POST", "/api/v1/keys", {
          cookie: account.cookie,
          body: { name: `throttled-${i}` },
        });
        statuses.push(response.statusCode);
      }
      expect(statuses).toEqual([201, 201, 429]);
    } finally {
      await limited.close();
    }
  });

  it("throttle sign-ups per address", async () => {
    const limited = await startTestApp({
      throttlePolicy: { ...DEFAULT_THROTTLE_POLICY, signUpsPerAddress: 2 },
    });
    try {
      await signUp(limited);
      await signUp(limited);
      const third = await mutate(limited, "auth.signUp", {
        email: "third@example.com",
        password: "long enough pw",
      });
      expect(third.statusCode).toBe(429);
      expect(third.headers["retry-after"]).toBeDefined();
    } finally {
      await limited.close();
    }
  });
});
