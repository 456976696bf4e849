import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateKey, isWellFormedKey } from "@repo/core";
import { alertEvents, apiKeys, canaryKeys, eq, type Database } from "@repo/db";
import { rest, signUp, startTestApp, type TestApp } from "./harness.js";

/**
 * Canary keys (issue 16, CONTRACT §6): minted and retired over REST, answered exactly like an
 * unknown key on every credential form and route, recorded with the request's context and
 * raised as `canary.triggered`, never counted as a key.
 */
let test: TestApp;
let db: Database;
let account: Awaited<ReturnType<typeof signUp>>;

beforeAll(async () => {
  test = await startTestApp({ gateway: { failedAuthPerMinute: 100_000 } });
  db = test.db;
  account = await signUp(test);
});
afterAll(async () => {
  // No decoy in any log line (the query-string form included).
  expect(test.logs.join("")).not.toMatch(/sk_live_[0-9A-Za-z]{30,}/);
  await test.close();
});

async function mintCanary(name = "prod-s3-backup-decoy", note = "~/.aws/credentials on build01") {
  const response = await rest(test, "POST", "/api/v1/canaries", {
    cookie: account.cookie,
    body: { name, note },
  });
  expect(response.statusCode).toBe(201);
  return response.json<{
    data: { id: string; key: string; full_key: string; key_prefix: string };
  }>().data;
}

/** Status, headers and body of a response, with what differs per request masked. */
function fingerprint(response: {
  statusCode: number;
  headers: Record<string, unknown>;
  body: string;
}) {
  const headers = { ...response.headers };
  delete headers["x-request-id"];
  delete headers.date;
  return {
    status: response.statusCode,
    headers,
    body: response.body.replace(/req_[0-9a-f]+/, "req_X"),
  };
}

type Form = {
  name: string;
  url: (path: string, key: string) => string;
  headers: (key: string) => Record<string, string>;
};
const FORMS: Form[] = [
  { name: "bearer", url: (p) => p, headers: (k) => ({ authorization: `Bearer ${k}` }) },
  { name: "x-api-key", url: (p) => p, headers: (k) => ({ "x-api-key": k }) },
  {
    name: "query",
    url: (p, k) => `${p}${p.includes("?") ? "&" : "?"}api_key=${k}`,
    headers: () => ({}),
  },
];
const ROUTES = [
  "/api/v1/iocs",
  "/api/v1/articles?format=csv",
  "/api/v1/lookup",
  "/api/v1/nothing-here",
];

describe("canary keys", () => {
  it("mints a decoy of the real key format, shown once, outside the key list and allowance", async () => {
    const canary = await mintCanary();
    expect(canary.key).toBe(canary.full_key);
    expect(isWellFormedKey(canary.key)).toBe(true);
    expect(canary.key.slice(0, 12)).toBe(canary.key_prefix);

    const list = await rest(test, "GET", "/api/v1/canaries", { cookie: account.cookie });
    expect(list.statusCode).toBe(200);
    expect(list.headers["cache-control"]).toBe("no-store");
    const item = list
      .json<{ data: Record<string, unknown>[] }>()
      .data.find((c) => c.id === canary.id);
    expect(item).toMatchObject({ trigger_count: 0, last_triggered_at: null, retired_at: null });
    expect(JSON.stringify(item)).not.toContain(canary.key);

    const keys = await rest(test, "GET", "/api/v1/keys", { cookie: account.cookie });
    expect(keys.json<{ meta: { total: number } }>().meta.total).toBe(0);
    // A free account still mints its three real keys with canaries armed.
    for (const name of ["prod-splunk-1", "prod-splunk-2", "prod-splunk-3"]) {
      const created = await rest(test, "POST", "/api/v1/keys", {
        cookie: account.cookie,
        body: { name },
      });
      expect(created.statusCode).toBe(201);
    }
  });

  it("answers byte-identically to an unknown key for every credential form and route, and alerts", async () => {
    const canary = await mintCanary("partner-feed-decoy", "wiki page 'SIEM setup'");
    // A flood is stored up to 20 uses per canary per minute: this test stays under it.
    for (const form of FORMS) {
      for (const route of ROUTES) {
        // A fresh unknown key each time, so both take the uncached path, then the cached one.
        const unknown = generateKey().key;
        for (let round = 0; round < 2; round++) {
          const a = await test.app.inject({
            method: "GET",
            url: form.url(route, unknown),
            headers: form.headers(unknown),
          });
          const b = await test.app.inject({
            method: "GET",
            url: form.url(route, canary.key),
            headers: form.headers(canary.key),
          });
          expect(fingerprint(b), `${form.name} ${route}`).toEqual(fingerprint(a));
        }
      }
    }
    // TAXII's HTTP Basic form.
    const basic = (key: string) => `Basic ${Buffer.from(`user:${key}`).toString("base64")}`;
    const unknown = generateKey().key;
    const taxii = "/api/taxii2/api/collections/";
    const a = await test.app.inject({
      method: "GET",
      url: taxii,
      headers: { authorization: basic(unknown) },
    });
    const b = await test.app.inject({
      method: "GET",
      url: taxii,
      headers: { authorization: basic(canary.key) },
    });
    expect(b.statusCode).toBe(401);
    expect(fingerprint(b)).toEqual(fingerprint(a));
    // The management plane refuses it exactly as it refuses any key.
    const m1 = await rest(test, "GET", "/api/v1/keys", {
      cookie: account.cookie,
      headers: { "x-api-key": unknown },
    });
    const m2 = await rest(test, "GET", "/api/v1/keys", {
      cookie: account.cookie,
      headers: { "x-api-key": canary.key },
    });
    expect(m2.statusCode).toBe(403);
    expect(fingerprint(m2)).toEqual(fingerprint(m1));

    await test.app.gateway.usage.flush();
    const triggers = await rest(test, "GET", `/api/v1/canaries/${canary.id}/triggers`, {
      cookie: account.cookie,
    });
    expect(triggers.statusCode).toBe(200);
    const body = triggers.json<{ data: Record<string, string>[]; meta: { total: number } }>();
    // 3 forms × 3 data routes × 2 rounds, plus Basic (an unknown path is 404 before any key).
    expect(body.meta.total).toBe(19);
    expect(body.data).toHaveLength(19);
    expect(new Set(body.data.map((t) => t.credential))).toEqual(
      new Set(["bearer", "x-api-key", "query", "basic"]),
    );
    for (const t of body.data) {
      expect(t).toMatchObject({ address: "127.0.0.1", method: "GET" });
      expect(t.path).not.toContain("api_key");
    }

    const events = await db
      .select()
      .from(alertEvents)
      .where(eq(alertEvents.type, "canary.triggered"));
    expect(events).toHaveLength(19);
    expect(events[0]!.data).toMatchObject({
      canary_id: canary.id,
      name: "partner-feed-decoy",
      note: "wiki page 'SIEM setup'",
      key_prefix: canary.key_prefix,
      address: "127.0.0.1",
      method: "GET",
    });
    expect(JSON.stringify(events)).not.toContain(canary.key);
    // Never counted as a real key's traffic.
    const counted = await db.select({ n: apiKeys.totalRequests }).from(apiKeys);
    expect(counted.every((row) => row.n === 0)).toBe(true);
  });

  it("records the user agent and the route, and is written at once (no timer wait)", async () => {
    const canary = await mintCanary("ci-deploy-decoy", "GitHub Actions secret CI_TOKEN");
    await test.app.inject({
      method: "POST",
      url: "/api/v1/iocs/stix",
      headers: { "x-api-key": canary.key, "user-agent": "python-requests/2.32" },
    });
    // No flush call: the gateway writes a canary use right away.
    const deadline = Date.now() + 2_000;
    while (Date.now() < deadline) {
      const [row] = await db.select().from(canaryKeys).where(eq(canaryKeys.id, canary.id));
      if (row?.triggerCount === 1) break;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const triggers = await rest(test, "GET", `/api/v1/canaries/${canary.id}/triggers`, {
      cookie: account.cookie,
    });
    expect(triggers.json<{ data: unknown[] }>().data).toEqual([
      expect.objectContaining({
        method: "POST",
        path: "/api/v1/iocs/stix",
        user_agent: "python-requests/2.32",
        credential: "x-api-key",
      }),
    ]);
  });

  it("is retired: then an unknown key like any other, with no more alerts", async () => {
    const canary = await mintCanary("retire-me");
    const retired = await rest(test, "DELETE", `/api/v1/canaries/${canary.id}`, {
      cookie: account.cookie,
    });
    expect(retired.statusCode).toBe(200);
    expect(retired.json()).toEqual({ success: true, message: "Canary key retired" });
    const again = await rest(test, "DELETE", `/api/v1/canaries/${canary.id}`, {
      cookie: account.cookie,
    });
    expect(again.statusCode).toBe(409);
    expect(again.json<{ error: { code: string } }>().error.code).toBe("canary_already_retired");

    const used = await test.app.inject({
      method: "GET",
      url: "/api/v1/iocs",
      headers: { "x-api-key": canary.key },
    });
    expect(used.statusCode).toBe(401);
    await test.app.gateway.usage.flush();
    const [row] = await db.select().from(canaryKeys).where(eq(canaryKeys.id, canary.id));
    expect(row!.triggerCount).toBe(0);
  });

  it("keeps other accounts out and validates strictly", async () => {
    const canary = await mintCanary("mine");
    const other = await signUp(test);
    for (const [method, url] of [
      ["DELETE", `/api/v1/canaries/${canary.id}`],
      ["GET", `/api/v1/canaries/${canary.id}/triggers`],
      ["GET", "/api/v1/canaries/not-a-uuid/triggers"],
    ] as const) {
      const response = await rest(test, method, url, { cookie: other.cookie });
      expect(response.statusCode).toBe(404);
      expect(response.json<{ error: { code: string } }>().error.code).toBe("canary_not_found");
    }
    const list = await rest(test, "GET", "/api/v1/canaries", { cookie: other.cookie });
    expect(list.json<{ data: unknown[] }>().data).toEqual([]);

    const bad = await rest(test, "POST", "/api/v1/canaries", {
      cookie: account.cookie,
      body: { name: "x", note: "n", owner_id: "someone" },
    });
    expect(bad.statusCode).toBe(400);
    expect(bad.json<{ error: { code: string } }>().error.code).toBe("validation_error");
    const noSession = await rest(test, "GET", "/api/v1/canaries");
    expect(noSession.statusCode).toBe(401);
    const crossSite = await rest(test, "POST", "/api/v1/canaries", {
      cookie: account.cookie,
      body: { name: "cross-site" },
      headers: { origin: "https://evil.test", "sec-fetch-site": "cross-site" },
    });
    expect(crossSite.statusCode).toBe(403);
    const wrongMethod = await rest(test, "PUT", "/api/v1/canaries", {
      cookie: account.cookie,
      body: {},
    });
    expect(wrongMethod.statusCode).toBe(405);
  });
});

describe("the OpenAPI document", () => {
  it("documents the canary routes and every webhook event's payload, nothing secret", async () => {
    const document = (await test.app.inject({ method: "GET", url: "/api/v1/openapi.json" })).json<{
      paths: Record<string, unknown>;
      webhooks: Record<
        string,
        {
          post: {
            requestBody: {
              content: Record<string, { schema: { properties: Record<string, unknown> } }>;
            };
          };
        }
      >;
    }>();
    expect(Object.keys(document.paths)).toEqual(
      expect.arrayContaining([
        "/api/v1/canaries",
        "/api/v1/canaries/{id}",
        "/api/v1/canaries/{id}/triggers",
      ]),
    );
    expect(Object.keys(document.webhooks).sort()).toEqual(
      [
        "account.password_changed",
        "account.second_factor_changed",
        "account.session_new_address",
        "canary.triggered",
        "key.created",
        "key.expired",
        "key.expiring",
        "key.new_address",
        "key.quota_warning",
        "key.revoked",
        "key.revoked_key_used",
        "key.rotated",
        "webhook.test",
      ].sort(),
    );
    const body =
      document.webhooks["canary.triggered"]!.post.requestBody.content["application/json"]!.schema;
    expect(Object.keys(body.properties).sort()).toEqual(["data", "timestamp", "type"]);
    expect(JSON.stringify(document.webhooks)).not.toMatch(/"(key|full_key|secret)"/);
  });
});
