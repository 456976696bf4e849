import postgres from "postgres";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestApp, type TestApp } from "./harness.js";
import { createKey, keyRow } from "./gateway-helpers.js";

/**
 * Catalogue J88/J89 at the HTTP level: the database refuses connections and every app
 * connection is cut, then it comes back. Needs PostgreSQL (an embedded database cannot go away).
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
});
