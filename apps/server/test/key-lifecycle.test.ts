import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hashKey } from "@repo/core";
import { apiKeys, auditEvents, eq, openDatabase, type DatabaseHandle } from "@repo/db";
import { fakeClock } from "./gateway-helpers.js";
import { EVIL, mutate, query, rest, signUp, startTestApp, type TestApp } from "./harness.js";

/**
 * Key lifecycle (CONTRACT §5): rotation with a grace period, edits, short-lived keys, over REST
 * and tRPC on the real app and database, with the data plane checking the result.
 */
const clock = fakeClock("2026-06-01T12:00:10.000Z");
let test: TestApp;
const issued: string[] = [];

beforeAll(async () => {
  // A long cache lifetime: changes must arrive by invalidation, not by entries running out.
  test = await startTestApp({ now: clock.now, gateway: { keyCacheTtlSeconds: 3_600 } });
});
afterAll(async () => {
  const logs = test.logs.join("");
  expect(logs).not.toMatch(/sk_live_[0-9A-Za-z]{30,}/);
  for (const key of issued) expect(logs).not.toContain(hashKey(key));
  await test.close();
});

const bearer = (key: string) => ({ authorization: `Bearer ${key}` });
const call = (app: TestApp, key: string, url = "/api/v1/iocs") =>
  app.app.inject({ method: "GET", url, headers: bearer(key) });

interface Created {
  id: string;
  key: string;
  expires_at: string | null;
  key_prefix: string;
}

async function mint(cookie: string, body: Record<string, unknown> = {}, app = test) {
  const response = await rest(app, "POST", "/api/v1/keys", {
    cookie,
    body: { name: "prod-splunk-2026q2", ...body },
  });
  expect(response.statusCode, response.body).toBe(201);
  const data = response.json<{ data: Created }>().data;
  issued.push(data.key);
  return data;
}

function rotate(cookie: string, id: string, body?: unknown, app = test) {
  return rest(app, "POST", `/api/v1/keys/${id}/rotate`, { cookie, body });
}

type ErrorBody = { error: { code: string } };

const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");

describe("short-lived keys: expires_in_hours on create", () => {
  it("expires N hours from now; days and hours together → 400 on expires_in_hours", async () => {
    const { cookie } = await signUp(test);
    const created = await mint(cookie, { expires_in_hours: 8 });
    expect(created.expires_at).toBe(iso(clock.now().getTime() + 8 * 3_600_000));

    const both = await rest(test, "POST", "/api/v1/keys", {
      cookie,
      body: { name: "ci-runner-2026", expires_in_days: 1, expires_in_hours: 1 },
    });
    expect(both.statusCode).toBe(400);
    expect(both.json().error).toMatchObject({
      code: "validation_error",
      details: { field: "expires_in_hours" },
    });
    for (const hours of [0, 8761, 1.5, "8"]) {
      const bad = await rest(test, "POST", "/api/v1/keys", {
        cookie,
        body: { name: "ci-runner-2026", expires_in_hours: hours },
      });
      expect(bad.statusCode).toBe(400);
      expect(bad.json().error.details.field).toBe("expires_in_hours");
    }
  });
});

describe("POST /api/v1/keys/{keyId}/rotate", () => {
  it("mints the successor (secret once, no-store), links both, and both work in the grace period", async () => {
    const { cookie } = await signUp(test);
    const old = await mint(cookie, {
      expires_in_days: 30,
      scopes: ["read:iocs"],
      allowed_ips: ["127.0.0.0/8"],
    });
    expect((await call(test, old.key)).statusCode).toBe(200); // cached before the rotation

    clock.advance(3_600_000); // an hour later
    const response = await rotate(cookie, old.id, { expire_current_in_minutes: 60 });
    expect(response.statusCode, response.body).toBe(201);
    expect(response.headers["cache-control"]).toBe("no-store");
    const body = response.json();
    const successor = body.data;
    issued.push(successor.key);
    expect(successor.key).toMatch(/^sk_live_[0-9A-Za-z]{38}$/);
    expect(successor.full_key).toBe(successor.key);
    expect(successor).toMatchObject({
      name: "prod-splunk-2026q2",
      scopes: ["read:iocs"],
      allowed_ips: ["127.0.0.0/8"],
      rotated_from: old.id,
      revoked_at: null,
      // the lifetime the old key was minted with (30 days), from now
      expires_at: iso(clock.now().getTime() + 30 * 86_400_000),
    });
    expect(body.meta.warning).toMatch(/will not be shown again/);
    const deadline = clock.now().getTime() + 3_600_000;
    expect(body.meta.previous_key).toEqual({ id: old.id, expires_at: iso(deadline) });

    const oldDetail = (await rest(test, "GET", `/api/v1/keys/${old.id}`, { cookie })).json().data;
    expect(oldDetail).toMatchObject({ rotated_to: successor.id, expires_at: iso(deadline) });
    const newDetail = (await rest(test, "GET", `/api/v1/keys/${successor.id}`, { cookie })).json()
      .data;
    expect(newDetail).toMatchObject({ rotated_from: old.id, rotated_to: null });
    expect(JSON.stringify(newDetail)).not.toContain(successor.key);

    // Both work during the grace period; at the deadline the old one is refused.
    expect((await call(test, old.key)).statusCode).toBe(200);
    expect((await call(test, successor.key)).statusCode).toBe(200);
    clock.advance(3_600_000);
    const refused = await call(test, old.key);
    expect(refused.statusCode).toBe(401);
    expect(refused.json().error.code).toBe("expired_api_key");
    expect((await call(test, successor.key)).statusCode).toBe(200);

    // Audited: the rotation on the old key, the successor's creation linked back.
    const events = await test.db.select().from(auditEvents).where(eq(auditEvents.keyId, old.id));
    expect(events.map((e) => e.action)).toContain("key.rotated");
    expect(events.find((e) => e.action === "key.rotated")!.details).toMatchObject({
      rotated_to: successor.id,
      grace_minutes: 60,
    });
    const [created] = await test.db
      .select()
      .from(auditEvents)
      .where(eq(auditEvents.keyId, successor.id));
    expect(created).toMatchObject({ action: "key.created" });
    expect(created!.details).toMatchObject({ rotated_from: old.id });
  });

  it("never extends the old key: its expiry is min(own expiry, now + grace); never-expiring stays so", async () => {
    const { cookie } = await signUp(test);
    const shortLived = await mint(cookie, { expires_in_hours: 1 });
    const rotated = await rotate(cookie, shortLived.id, { expire_current_in_minutes: 10_080 });
    expect(rotated.statusCode).toBe(201);
    issued.push(rotated.json().data.key);
    expect(rotated.json().meta.previous_key.expires_at).toBe(shortLived.expires_at);
    // The successor lives for the old key's minted lifetime: 1 hour.
    expect(rotated.json().data.expires_at).toBe(iso(clock.now().getTime() + 3_600_000));

    const forever = await mint(cookie);
    const next = await rotate(cookie, forever.id); // default grace: 24 h
    expect(next.statusCode).toBe(201);
    issued.push(next.json().data.key);
    expect(next.json().data.expires_at).toBeNull();
    expect(next.json().meta.previous_key.expires_at).toBe(iso(clock.now().getTime() + 86_400_000));
  });

  it("0 minutes: the old key stops at once", async () => {
    const { cookie } = await signUp(test);
    const old = await mint(cookie);
    expect((await call(test, old.key)).statusCode).toBe(200);
    const rotated = await rotate(cookie, old.id, { expire_current_in_minutes: 0 });
    expect(rotated.statusCode).toBe(201);
    issued.push(rotated.json().data.key);
    expect((await call(test, old.key)).json().error.code).toBe("expired_api_key");
    expect((await call(test, rotated.json().data.key)).statusCode).toBe(200);
  });

  it("409 for a key already rotated, revoked or expired; nothing minted", async () => {
    const { cookie } = await signUp(test);
    const key = await mint(cookie, { expires_in_hours: 1 });
    const first = await rotate(cookie, key.id);
    issued.push(first.json().data.key);
    const again = await rotate(cookie, key.id);
    expect(again.statusCode).toBe(409);
    expect(again.json().error.code).toBe("key_already_rotated");

    const revoked = await mint(cookie);
    await rest(test, "DELETE", `/api/v1/keys/${revoked.id}`, { cookie });
    const onRevoked = await rotate(cookie, revoked.id);
    expect(onRevoked.statusCode).toBe(409);
    expect(onRevoked.json().error.code).toBe("key_not_active");

    const expiring = await mint(cookie, { expires_in_hours: 1 });
    clock.advance(3_600_000);
    const onExpired = await rotate(cookie, expiring.id);
    expect(onExpired.json().error.code).toBe("key_not_active");
    const list = (await rest(test, "GET", "/api/v1/keys", { cookie })).json();
    expect(list.meta.total).toBe(4); // key, its successor, revoked, expiring
  });

  it("at the allowance a rotation still works: the old key in its grace period does not count", async () => {
    const { cookie } = await signUp(test);
    const keys = [await mint(cookie), await mint(cookie), await mint(cookie)];
    const rotated = await rotate(cookie, keys[0]!.id);
    expect(rotated.statusCode).toBe(201);
    issued.push(rotated.json().data.key);
    const allowance = (await query(test, "keys.allowance", { cookie })).json().result.data;
    expect(allowance).toMatchObject({ active_keys: 3, max_active_keys: 3 });
    const fourth = await rest(test, "POST", "/api/v1/keys", {
      cookie,
      body: { name: "one-too-many" },
    });
    expect(fourth.json().error.code).toBe("key_limit_reached");
    // The old key still works during its grace period.
    expect((await call(test, keys[0]!.key)).statusCode).toBe(200);
  });

  it("two concurrent rotations of one key: exactly one succeeds", async () => {
    const { cookie } = await signUp(test);
    const key = await mint(cookie);
    const responses = await Promise.all(
      Array.from({ length: 4 }, () => rotate(cookie, key.id, { expire_current_in_minutes: 5 })),
    );
    const statuses = responses.map((r) => r.statusCode).sort();
    expect(statuses).toEqual([201, 409, 409, 409]);
    for (const r of responses) if (r.statusCode === 201) issued.push(r.json().data.key);
    expect(
      responses.filter((r) => r.statusCode === 409).map((r) => r.json<ErrorBody>().error.code),
    ).toEqual(["key_already_rotated", "key_already_rotated", "key_already_rotated"]);
    const rows = await test.db.select().from(apiKeys).where(eq(apiKeys.rotatedFromId, key.id));
    expect(rows).toHaveLength(1);
  });

  it("follows the management rules: cookie only, origin, JSON, strict body, foreign ids → 404", async () => {
    const owner = await signUp(test);
    const other = await signUp(test);
    const key = await mint(owner.cookie);
    const url = `/api/v1/keys/${key.id}/rotate`;
    const tries = [
      rest(test, "POST", url, { body: {} }),
      rest(test, "POST", url, { cookie: owner.cookie, headers: bearer(key.key), body: {} }),
      rest(test, "POST", url, {
        cookie: owner.cookie,
        headers: { origin: EVIL, "sec-fetch-site": "cross-site" },
        body: {},
      }),
      test.app.inject({
        method: "POST",
        url,
        headers: {
          cookie: owner.cookie,
          origin: "http://localhost:3000",
          "content-type": "application/x-www-form-urlencoded",
        },
        payload: "expire_current_in_minutes=0",
      }),
      rest(test, "POST", url, {
        cookie: owner.cookie,
        body: { expire_current_in_minutes: 10_081 },
      }),
      rest(test, "POST", url, { cookie: owner.cookie, body: { grace: 5 } }),
      rest(test, "POST", url, { cookie: owner.cookie, body: [] }),
      rest(test, "POST", url, { cookie: other.cookie, body: {} }),
      rest(test, "POST", `/api/v1/keys/not-a-uuid/rotate`, { cookie: owner.cookie, body: {} }),
      rest(test, "POST", `/api/v1/keys/${"a".repeat(5_000)}/rotate`, {
        cookie: owner.cookie,
        body: {},
      }),
      rest(test, "GET", url, { cookie: owner.cookie }),
    ];
    const answers = (await Promise.all(tries)).map((r) => [
      r.statusCode,
      r.json<Partial<ErrorBody>>().error?.code,
    ]);
    expect(answers).toEqual([
      [401, "not_authenticated"],
      [403, "api_key_not_allowed"],
      [403, "invalid_origin"],
      [415, "unsupported_media_type"],
      [400, "validation_error"],
      [400, "validation_error"],
      [400, "validation_error"],
      [404, "key_not_found"],
      [404, "key_not_found"],
      [404, "key_not_found"],
      [405, "method_not_allowed"],
    ]);
    // Nothing changed: the key still has no successor.
    const detail = (
      await rest(test, "GET", `/api/v1/keys/${key.id}`, { cookie: owner.cookie })
    ).json().data;
    expect(detail.rotated_to).toBeNull();
  });

  it("is the same operation over tRPC (keys.rotate)", async () => {
    const { cookie } = await signUp(test);
    const key = await mint(cookie);
    const response = await mutate(
      test,
      "keys.rotate",
      { id: key.id, expire_current_in_minutes: 15 },
      { cookie },
    );
    expect(response.statusCode).toBe(200);
    expect(response.headers["cache-control"]).toBe("no-store");
    const result = response.json().result.data;
    issued.push(result.data.key);
    expect(result.data.rotated_from).toBe(key.id);
  });
});

describe("PATCH /api/v1/keys/{keyId}", () => {
  it("renames, narrows scopes, sets addresses and shortens expiry; the next request sees it", async () => {
    const { cookie } = await signUp(test);
    const key = await mint(cookie, { expires_in_days: 30 });
    expect((await call(test, key.key, "/api/v1/articles")).statusCode).toBe(200);

    const patched = await rest(test, "PATCH", `/api/v1/keys/${key.id}`, {
      cookie,
      body: { name: "prod-sentinel-2026q3", scopes: ["read:iocs"], expires_in_hours: 2 },
    });
    expect(patched.statusCode, patched.body).toBe(200);
    expect(patched.json().data).toMatchObject({
      name: "prod-sentinel-2026q3",
      scopes: ["read:iocs"],
      expires_at: iso(clock.now().getTime() + 2 * 3_600_000),
    });
    const refused = await call(test, key.key, "/api/v1/articles");
    expect(refused.statusCode).toBe(403);
    expect(refused.json().error.code).toBe("insufficient_scope");

    const fenced = await rest(test, "PATCH", `/api/v1/keys/${key.id}`, {
      cookie,
      body: { allowed_ips: ["198.51.100.0/24"] },
    });
    expect(fenced.json().data.allowed_ips).toEqual(["198.51.100.0/24"]);
    expect((await call(test, key.key)).json().error.code).toBe("ip_not_allowed");
    await rest(test, "PATCH", `/api/v1/keys/${key.id}`, { cookie, body: { allowed_ips: null } });
    expect((await call(test, key.key)).statusCode).toBe(200);

    const events = await test.db.select().from(auditEvents).where(eq(auditEvents.keyId, key.id));
    expect(events.filter((e) => e.action === "key.updated")).toHaveLength(3);
  });

  it("never widens: more scopes or a later expiry → 400; revoked → 409; empty → 400", async () => {
    const { cookie } = await signUp(test);
    const key = await mint(cookie, { expires_in_days: 1, scopes: ["read:iocs"] });
    const cases: [unknown, number, string, string | undefined][] = [
      [{ scopes: ["read:iocs", "read:articles"] }, 400, "validation_error", "scopes"],
      [{ scopes: [] }, 400, "validation_error", "scopes"],
      [{ expires_in_days: 2 }, 400, "validation_error", "expires_in_days"],
      [{ expires_in_hours: 25 }, 400, "validation_error", "expires_in_hours"],
      [{ expires_in_days: 1, expires_in_hours: 1 }, 400, "validation_error", "expires_in_hours"],
      [{}, 400, "validation_error", ""],
      [{ name: "" }, 400, "validation_error", "name"],
      [{ tier: "pro" }, 400, "validation_error", "tier"],
      [{ revoked_at: null }, 400, "validation_error", "revoked_at"],
    ];
    for (const [body, status, code, field] of cases) {
      const response = await rest(test, "PATCH", `/api/v1/keys/${key.id}`, { cookie, body });
      expect([response.statusCode, response.json().error.code], JSON.stringify(body)).toEqual([
        status,
        code,
      ]);
      if (field !== undefined) expect(response.json().error.details.field).toBe(field);
    }
    await rest(test, "DELETE", `/api/v1/keys/${key.id}`, { cookie });
    const onRevoked = await rest(test, "PATCH", `/api/v1/keys/${key.id}`, {
      cookie,
      body: { name: "renamed-after-revoke" },
    });
    expect(onRevoked.statusCode).toBe(409);
    expect(onRevoked.json().error.code).toBe("key_not_active");
    const other = await signUp(test);
    const foreign = await rest(test, "PATCH", `/api/v1/keys/${key.id}`, {
      cookie: other.cookie,
      body: { name: "hijack" },
    });
    expect(foreign.statusCode).toBe(404);
    expect(foreign.json().error.code).toBe("key_not_found");
  });
});

/**
 * Two server instances on one PostgreSQL database, each with its own key cache and NOTIFY
 * listener, sharing one injectable clock (PGlite is single-process: Postgres only).
 */
describe.skipIf(!process.env.TEST_DATABASE_URL)("across two processes on one database", () => {
  let handle: DatabaseHandle;
  let other: TestApp;
  beforeAll(async () => {
    handle = await openDatabase({ kind: "postgres", url: test.database.url! });
    other = await startTestApp({
      database: handle,
      now: clock.now,
      gateway: { keyCacheTtlSeconds: 3_600 },
    });
  });
  afterAll(async () => {
    await other?.close();
  });

  /**
   * Polls `app` until the key gets `status`, for up to 5 s of real time: a notification takes
   * milliseconds, and the slack is for a starved CI machine (it returns on the first match).
   */
  async function eventually(app: TestApp, key: string, status: number, url?: string) {
    const started = performance.now();
    let last = 0;
    while (performance.now() - started < 5_000) {
      last = (await call(app, key, url)).statusCode;
      if (last === status) return last;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    return last;
  }

  it("grace period: both keys work in both; after the deadline the old one is refused in both", async () => {
    const { cookie } = await signUp(test);
    const old = await mint(cookie);
    // Both processes hold the old key (never expiring) in their caches. The other process
    // learns that a key minted here exists through NOTIFY (its key filter): milliseconds.
    expect((await call(test, old.key)).statusCode).toBe(200);
    expect(await eventually(other, old.key, 200)).toBe(200);

    const rotated = await rotate(cookie, old.id, { expire_current_in_minutes: 15 });
    expect(rotated.statusCode).toBe(201);
    const successor = rotated.json().data.key as string;
    issued.push(successor);
    for (const app of [test, other]) {
      expect((await call(app, old.key)).statusCode).toBe(200);
      expect(await eventually(app, successor, 200)).toBe(200);
    }
    clock.advance(15 * 60_000 - 1_000);
    expect((await call(other, old.key)).statusCode).toBe(200);
    clock.advance(1_000); // the deadline
    expect((await call(test, old.key)).statusCode).toBe(401);
    expect(await eventually(other, old.key, 401)).toBe(401);
    expect((await call(other, old.key)).json().error.code).toBe("expired_api_key");
    for (const app of [test, other]) expect((await call(app, successor)).statusCode).toBe(200);
  });

  it("a PATCH in one process applies to the next request in the other", async () => {
    const { cookie } = await signUp(test);
    const key = await mint(cookie);
    expect(await eventually(other, key.key, 200, "/api/v1/articles")).toBe(200);
    const patched = await rest(test, "PATCH", `/api/v1/keys/${key.id}`, {
      cookie,
      body: { scopes: ["read:iocs"] },
    });
    expect(patched.statusCode).toBe(200);
    expect(await eventually(other, key.key, 403, "/api/v1/articles")).toBe(403);
    // The next minute: each poll answered 200 took quota, and this free key has 10 a minute.
    clock.advance(60_000);
    expect((await call(other, key.key)).statusCode).toBe(200);
  });

  it("concurrent rotations through both processes: exactly one succeeds", async () => {
    const { cookie } = await signUp(test);
    const key = await mint(cookie);
    const responses = await Promise.all([
      rotate(cookie, key.id, {}, test),
      rotate(cookie, key.id, {}, other),
      rotate(cookie, key.id, {}, test),
      rotate(cookie, key.id, {}, other),
    ]);
    const statuses = responses.map((r) => r.statusCode).sort();
    expect(statuses).toEqual([201, 409, 409, 409]);
    for (const r of responses) if (r.statusCode === 201) issued.push(r.json().data.key);
  });
});
