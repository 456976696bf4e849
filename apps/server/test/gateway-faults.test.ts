import postgres from "postgres";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { apiKeys, auditEvents, eq, users } from "@repo/db";
import { rest, signUp, startTestApp, type TestApp } from "./harness.js";
import { createKey, keyRow } from "./gateway-helpers.js";

/**
 * Catalogue J88/J89 at the HTTP level: the database refuses connections and every app
 * connection is cut, then it comes back; J91: a lock held elsewhere bounds requests by
 * lock_timeout. Needs PostgreSQL (an embedded database cannot go away or be locked from
 * another connection).
 */
const POSTGRES = process.env.TEST_DATABASE_URL;

describe.skipIf(!POSTGRES)("database outage (needs TEST_DATABASE_URL)", () => {
  let test: TestApp;
  let admin: postgres.Sql;
  let name: string;

  beforeAll(async () => {
    test = await startTestApp();
    name = new URL(test.database.url!).pathname.slice(1);
    admin = postgres(POSTGRES!, { max: 1, onnotice: () => {} });
  });
  afterAll(async () => {
    await admin.unsafe(`alter database ${name} allow_connections true`);
    await admin.end();
    await test.close();
  });

  async function outage() {
    await admin.unsafe(`alter database ${name} allow_connections false`);
    await admin`select pg_terminate_backend(pid) from pg_stat_activity where datname = ${name}`;
  }

  it("503 with Retry-After for keys not in memory, never a 200 without verification; recovers alone", async () => {
    const cached = await createKey(test.db);
    const uncached = await createKey(test.db, { tier: "pro" });
    const call = (key: string) =>
      test.app.inject({ url: "/api/v1/iocs", headers: { authorization: `Bearer ${key}` } });
    expect((await call(cached.key)).statusCode).toBe(200);
    let cachedAnswered = 1;

    await outage();
    const refused = await call(uncached.key);
    expect(refused.statusCode).toBe(503);
    expect(refused.json().error.code).toBe("service_unavailable");
    expect(Number(refused.headers["retry-after"])).toBeGreaterThanOrEqual(1);
    expect(refused.body).not.toMatch(/select|postgres|ECONN/i);
    expect((await test.app.inject({ url: "/readyz" })).statusCode).toBe(503);
    // A key verified before the outage keeps working from memory; its usage waits.
    for (let i = 0; i < 3; i++) {
      const response = await call(cached.key);
      expect([200, 503]).toContain(response.statusCode);
      if (response.statusCode === 200) cachedAnswered++;
    }
    expect(await test.app.gateway.usage.flush()).toBe(false);

    await admin.unsafe(`alter database ${name} allow_connections true`);
    let status = 0;
    for (let i = 0; i < 100 && status !== 200; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      status = (await call(uncached.key)).statusCode;
    }
    expect(status).toBe(200);
    let written = false;
    for (let i = 0; i < 50 && !written; i++) {
      written =
        (await test.app.gateway.usage.flush()) && test.app.gateway.usage.pendingRequests === 0;
      if (!written) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    // Nothing lost, nothing counted twice.
    expect((await keyRow(test.db, cached.id)).totalRequests).toBe(cachedAnswered);
    expect((await keyRow(test.db, uncached.id)).totalRequests).toBe(1);
    expect(test.logs.join("")).not.toMatch(/Failed query|insert into|update api_keys/i);
  });

  it("91: a lock held elsewhere: requests end at lock_timeout with 503, and nothing is half-written", async () => {
    const account = await signUp(test);
    const uncached = await createKey(test.db);
    const other = postgres(test.database.url!, { max: 1, onnotice: () => {} });
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let locked!: () => void;
    const lockTaken = new Promise<void>((resolve) => (locked = resolve));
    const holder = other.begin(async (tx) => {
      await tx`lock table api_keys in access exclusive mode`;
      locked();
      await held;
    });
    try {
      await lockTaken;
      const [created, verified] = await Promise.all([
        rest(test, "POST", "/api/v1/keys", {
          cookie: account.cookie,
          body: { name: "prod-lock-91" },
        }),
        test.app.inject({ url: "/api/v1/iocs", headers: { "x-api-key": uncached.key } }),
      ]);
      for (const response of [created, verified]) {
        expect(response.statusCode).toBe(503);
        expect(response.json().error.code).toBe("service_unavailable");
        expect(response.body).not.toMatch(/lock|api_keys|select|insert/i);
      }
      // Both ended because lock_timeout (3 s) cut the wait: a hung request would have run
      // into the test's timeout instead of answering.
    } finally {
      release();
      await holder;
      await other.end();
    }
    // The failed create left nothing behind: no key, no audit event.
    const [user] = await test.db.select().from(users).where(eq(users.email, account.email));
    expect(await test.db.select().from(apiKeys).where(eq(apiKeys.ownerId, user!.id))).toEqual([]);
    const events = await test.db.select().from(auditEvents).where(eq(auditEvents.userId, user!.id));
    expect(events.map((e) => e.action)).not.toContain("key.created");
    // And once the lock is gone, the same requests succeed.
    const retried = await rest(test, "POST", "/api/v1/keys", {
      cookie: account.cookie,
      body: { name: "prod-lock-91" },
    });
    expect(retried.statusCode).toBe(201);
    const again = await test.app.inject({
      url: "/api/v1/iocs",
      headers: { "x-api-key": uncached.key },
    });
    expect(again.statusCode).toBe(200);
  });
});
