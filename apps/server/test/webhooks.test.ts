import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createDeliveryWorker, destinationPolicy, retryDelayMs, totpCodeAt } from "@repo/api";
import { writeAlertEvents } from "@repo/core";
import {
  alertEvents,
  eq,
  openDatabase,
  sql,
  users,
  webhookDeliveries,
  webhookEndpoints,
  type Database,
  type DatabaseHandle,
} from "@repo/db";
import { createKey, fakeClock } from "./gateway-helpers.js";
import { mutate, query, signUp, startTestApp, type TestApp } from "./harness.js";
import { startReceiver } from "./webhook-receiver.js";

/**
 * Webhooks (issue 16, CONTRACT §6) against a real receiver that verifies every delivery with
 * the `standardwebhooks` package: each event fires when it should and only then (injected
 * clock), retries back off and end by disabling the endpoint, SSRF refusals, secret rotation,
 * a worker dying mid-delivery, and two workers sharing one outbox.
 */
const clock = fakeClock(new Date().toISOString());
const quiet = { warn: () => {}, info: () => {} };
const HALF = () => 0.5;
let test: TestApp;
let db: Database;
let receiver: Awaited<ReturnType<typeof startReceiver>>;
let account: Awaited<ReturnType<typeof signUp>>;
let ownerId: string;

beforeAll(async () => {
  test = await startTestApp({
    now: clock.now,
    gateway: { failedAuthPerMinute: 100_000 },
    webhooks: { allowedCidrs: ["127.0.0.1/32"], deliver: false, timeoutMs: 2_000, random: HALF },
  });
  db = test.db;
  receiver = await startReceiver();
  account = await signUp(test);
  const [user] = await db.select().from(users).where(eq(users.email, account.email));
  ownerId = user!.id;
});
afterAll(async () => {
  const logs = test.logs.join("");
  expect(logs).not.toMatch(/whsec_[A-Za-z0-9+/=]{20,}/);
  await receiver.close();
  await test.close();
});

type Created = { id: string; secret: string };
async function addEndpoint(
  events: string[],
  respond?: (n: number) => number | "hang",
  cookie = account.cookie,
) {
  const route = receiver.route([], respond);
  const response = await mutate(
    test,
    "webhooks.create",
    { url: route.url, events, description: "SOAR" },
    { cookie },
  );
  expect(response.statusCode, response.body).toBe(200);
  const created = response.json<{ result: { data: Created } }>().result.data;
  receiver.setSecrets(route.path, [created.secret]);
  return { ...created, path: route.path, url: route.url };
}

/** Writes buffered data-plane alerts and delivers everything due. */
async function deliverAll() {
  await test.app.gateway.usage.flush();
  await test.app.webhookWorker.drain();
}

const typesOn = (path: string) =>
  receiver.on(path).map((r) => (JSON.parse(r.body) as { type: string }).type);

function expectAllVerified(path: string) {
  for (const r of receiver.on(path)) {
    expect(r.verifiedWith.length, r.body).toBeGreaterThan(0);
    expect(r.headers["webhook-id"]).toMatch(/^msg_[0-9a-f]{32}$/);
    const body = JSON.parse(r.body) as Record<string, unknown>;
    expect(Object.keys(body).sort()).toEqual(["data", "timestamp", "type"]);
    expect(r.body).not.toMatch(/sk_live_[0-9A-Za-z]{30,}|whsec_/);
  }
}

describe("webhook endpoints", () => {
  it("registers an endpoint, shows its secret once, and delivers a signed test event", async () => {
    const endpoint = await addEndpoint(["key.created"]);
    expect(endpoint.secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    const list = await query(test, "webhooks.list", { cookie: account.cookie });
    expect(list.body).not.toContain(endpoint.secret);

    const sent = await mutate(
      test,
      "webhooks.sendTest",
      { id: endpoint.id },
      { cookie: account.cookie },
    );
    expect(sent.statusCode).toBe(200);
    await deliverAll();
    expect(typesOn(endpoint.path)).toEqual(["webhook.test"]);
    expectAllVerified(endpoint.path);

    const log = await query(test, "webhooks.deliveries", {
      cookie: account.cookie,
      input: { id: endpoint.id },
    });
    const [entry] = log.json<{ result: { data: Record<string, unknown>[] } }>().result.data;
    expect(entry).toMatchObject({
      event: "webhook.test",
      status: "delivered",
      attempts: 1,
      response_status: 200,
      next_retry_at: null,
    });
    expect(typeof entry!.duration_ms).toBe("number");

    // Manual redelivery: the same message id again.
    const again = await mutate(
      test,
      "webhooks.redeliver",
      { id: endpoint.id, delivery_id: entry!.id },
      { cookie: account.cookie },
    );
    expect(again.statusCode).toBe(200);
    await deliverAll();
    const [first, second] = receiver.on(endpoint.path);
    expect(second!.headers["webhook-id"]).toBe(first!.headers["webhook-id"]);
    await mutate(test, "webhooks.remove", { id: endpoint.id }, { cookie: account.cookie });
  });

  it("refuses bad and unsafe destinations at registration", async () => {
    for (const url of [
      "https://10.0.0.7/hook",
      "https://169.254.169.254/latest/meta-data",
      "https://[::1]:8443/",
      "https://[::ffff:10.1.2.3]/",
      "http://example.com/hook",
      "https://user:pass@example.com/hook",
      "ftp://example.com/",
      "javascript:alert(1)",
    ]) {
      const response = await mutate(
        test,
        "webhooks.create",
        { url, events: ["key.created"] },
        { cookie: account.cookie },
      );
      expect(response.statusCode, url).toBe(400);
    }
    const unknownEvent = await mutate(
      test,
      "webhooks.create",
      { url: "https://example.com/", events: ["key.deleted"] },
      { cookie: account.cookie },
    );
    expect(unknownEvent.statusCode).toBe(400);
    const other = await signUp(test);
    const mine = await addEndpoint(["key.created"]);
    for (const path of ["webhooks.remove", "webhooks.rotateSecret", "webhooks.sendTest"]) {
      const response = await mutate(test, path, { id: mine.id }, { cookie: other.cookie });
      expect(response.json<{ error: { data: { appCode: string } } }>().error.data.appCode).toBe(
        "webhook_not_found",
      );
    }
    await mutate(test, "webhooks.remove", { id: mine.id }, { cookie: account.cookie });
  });
});

describe("events fire when they should, and only then", () => {
  it("key.created, key.revoked, quota warnings, revoked keys used, canaries, expiry", async () => {
    const all = await addEndpoint([
      "key.created",
      "key.revoked",
      "key.expiring",
      "key.expired",
      "key.quota_warning",
      "key.revoked_key_used",
      "canary.triggered",
    ]);
    const onlyCanary = await addEndpoint(["canary.triggered"]);

    // key.created / key.revoked from the management plane.
    const created = await mutate(
      test,
      "keys.create",
      { name: "prod-splunk-2026q2" },
      { cookie: account.cookie },
    );
    const key = created.json<{ result: { data: { data: { id: string; key: string } } } }>().result
      .data.data;
    await mutate(
      test,
      "keys.revoke",
      { id: key.id, reason: "rotated out" },
      { cookie: account.cookie },
    );

    // key.revoked_key_used: at most once per key per hour.
    for (let i = 0; i < 3; i++) {
      await test.app.inject({
        method: "GET",
        url: "/api/v1/iocs",
        headers: { authorization: `Bearer ${key.key}` },
      });
    }
    await deliverAll();
    clock.advance(3_600_000);
    await test.app.inject({
      method: "GET",
      url: "/api/v1/iocs",
      headers: { authorization: `Bearer ${key.key}` },
    });

    // key.quota_warning: 80% and 100% once per key per UTC day.
    const quota = await createKey(db, { ownerId, perDay: 10 });
    const use = () =>
      test.app.inject({ method: "GET", url: "/api/v1/iocs", headers: { "x-api-key": quota.key } });
    for (let i = 0; i < 7; i++) await use();
    await deliverAll();
    expect(typesOn(all.path).filter((t) => t === "key.quota_warning")).toHaveLength(0);
    for (let i = 0; i < 6; i++) await use(); // 8th: 80%, 10th: 100%, then 429s
    await deliverAll();

    // canary.triggered, to both endpoints.
    const canary = await test.app.inject({
      method: "POST",
      url: "/api/v1/canaries",
      headers: {
        origin: "http://localhost:3000",
        "sec-fetch-site": "same-origin",
        "content-type": "application/json",
        cookie: account.cookie,
      },
      payload: JSON.stringify({ name: "decoy-1", note: "jenkins env" }),
    });
    const decoy = canary.json<{ data: { key: string; id: string } }>().data;
    await test.app.inject({
      method: "GET",
      url: "/api/v1/articles",
      headers: { "x-api-key": decoy.key, "user-agent": "curl/8" },
    });

    // key.expiring (7 d, 1 d) and key.expired, by the sweep.
    const expiring = await createKey(db, {
      ownerId,
      expiresAt: new Date(clock.now().getTime() + 10 * 86_400_000),
    });
    await test.app.webhookWorker.sweep();
    clock.advance(3.5 * 86_400_000); // 6.5 days left
    await test.app.webhookWorker.sweep();
    await test.app.webhookWorker.sweep();
    clock.advance(6 * 86_400_000); // 0.5 days left
    await test.app.webhookWorker.sweep();
    clock.advance(86_400_000); // expired
    await test.app.webhookWorker.sweep();
    await test.app.webhookWorker.sweep();
    await deliverAll();

    expect(typesOn(all.path).sort()).toEqual(
      [
        "canary.triggered",
        "key.created",
        "key.expired",
        "key.expiring",
        "key.expiring",
        "key.quota_warning",
        "key.quota_warning",
        "key.revoked",
        "key.revoked_key_used",
        "key.revoked_key_used",
      ].sort(),
    );
    expect(typesOn(onlyCanary.path)).toEqual(["canary.triggered"]);
    expectAllVerified(all.path);
    expectAllVerified(onlyCanary.path);

    const bodies = receiver
      .on(all.path)
      .map((r) => JSON.parse(r.body) as { type: string; data: Record<string, unknown> });
    const by = (type: string) => bodies.filter((b) => b.type === type).map((b) => b.data);
    // Deliveries within a round run in parallel: compare as sets.
    expect(
      by("key.quota_warning")
        .map((d) => d.threshold_percent)
        .sort(),
    ).toEqual([100, 80]);
    expect(by("key.quota_warning")[0]).toMatchObject({ key_id: quota.id, limit_per_day: 10 });
    expect(
      by("key.expiring")
        .map((d) => d.days_left)
        .sort(),
    ).toEqual([1, 7]);
    expect(by("key.expired")[0]).toMatchObject({ key_id: expiring.id });
    expect(by("key.revoked_key_used")[0]).toMatchObject({
      key_id: key.id,
      state: "revoked",
      address: "127.0.0.1",
    });
    expect(by("canary.triggered")[0]).toMatchObject({
      canary_id: decoy.id,
      name: "decoy-1",
      note: "jenkins env",
      address: "127.0.0.1",
      user_agent: "curl/8",
      method: "GET",
      path: "/api/v1/articles",
      credential: "x-api-key",
    });
    expect(JSON.stringify(bodies)).not.toContain(key.key);

    // The same events are in the bell.
    const bell = await query(test, "notifications.list", { cookie: account.cookie });
    const notifications = bell.json<{
      result: { data: { unread: number; items: { id: string; type: string }[] } };
    }>().result.data;
    expect(notifications.items.map((n) => n.type)).toContain("canary.triggered");
    expect(notifications.items.map((n) => n.type)).not.toContain("webhook.test");
    expect(notifications.unread).toBe(notifications.items.length);
    await mutate(
      test,
      "notifications.markRead",
      { ids: [notifications.items[0]!.id] },
      { cookie: account.cookie },
    );
    const after = await query(test, "notifications.list", { cookie: account.cookie });
    expect(after.json<{ result: { data: { unread: number } } }>().result.data.unread).toBe(
      notifications.unread - 1,
    );
    // An event type turned off stays out of the bell (webhooks still get it).
    await mutate(
      test,
      "notifications.setPreference",
      { type: "key.created", in_app: false },
      { cookie: account.cookie },
    );
    await mutate(test, "keys.create", { name: "prod-elastic-2026q2" }, { cookie: account.cookie });
    const bell2 = await query(test, "notifications.list", { cookie: account.cookie });
    const createdCount = (b: typeof bell) =>
      b
        .json<{ result: { data: { items: { type: string }[] } } }>()
        .result.data.items.filter((n) => n.type === "key.created").length;
    expect(createdCount(bell2)).toBe(createdCount(bell));

    for (const endpoint of [all, onlyCanary]) {
      await mutate(test, "webhooks.remove", { id: endpoint.id }, { cookie: account.cookie });
    }
  });
});

describe("rotations, new addresses and the account's security events", () => {
  it("key.rotated (with the successor's key.created), key.new_address after a key's first day, account.*", async () => {
    // A fresh account: its sessions are recent (sudo mode) and its addresses known.
    let me = await signUp(test);
    const [user] = await db.select().from(users).where(eq(users.email, me.email));
    const all = await addEndpoint(
      [
        "key.created",
        "key.rotated",
        "key.new_address",
        "account.second_factor_changed",
        "account.password_changed",
        "account.session_new_address",
      ],
      undefined,
      me.cookie,
    );
    const payload = (type: string) =>
      receiver
        .on(all.path)
        .map((r) => JSON.parse(r.body) as { type: string; data: Record<string, unknown> })
        .filter((b) => b.type === type)
        .map((b) => b.data);

    // key.rotated: the old key, its successor and when the old one stops working.
    const created = await mutate(test, "keys.create", { name: "rotating" }, { cookie: me.cookie });
    const original = created.json<{ result: { data: { data: { id: string } } } }>().result.data
      .data;
    const rotated = await mutate(
      test,
      "keys.rotate",
      { id: original.id, expire_current_in_minutes: 60 },
      { cookie: me.cookie },
    );
    expect(rotated.statusCode, rotated.body).toBe(200);
    const successor = rotated.json<{ result: { data: { data: { id: string } } } }>().result.data
      .data;
    await deliverAll();
    expect(payload("key.rotated")).toEqual([
      expect.objectContaining({
        key_id: original.id,
        rotated_to: successor.id,
        expires_at: new Date(clock.now().getTime() + 3_600_000)
          .toISOString()
          .replace(/\.\d{3}Z$/, "Z"),
      }),
    ]);
    expect(payload("key.created").map((d) => d.key_id)).toEqual([original.id, successor.id]);

    // account.second_factor_changed: an authenticator app added, then removed.
    const begun = await mutate(test, "account.totp.begin", undefined, { cookie: me.cookie });
    const secret = begun.json<{ result: { data: { secret: string } } }>().result.data.secret;
    const confirmed = await mutate(
      test,
      "account.totp.confirm",
      { code: totpCodeAt(secret, clock.now()) },
      { cookie: me.cookie },
    );
    expect(confirmed.statusCode, confirmed.body).toBe(200);
    clock.advance(30_000);
    const disabled = await mutate(
      test,
      "account.totp.disable",
      { password: me.password, code: totpCodeAt(secret, clock.now()) },
      { cookie: me.cookie },
    );
    expect(disabled.statusCode, disabled.body).toBe(200);

    // account.session_new_address: a sign-in from an address the account never used; a second
    // sign-in from it is not news.
    const signInFrom = (remoteAddress: string, password: string) =>
      test.app.inject({
        method: "POST",
        url: "/trpc/auth.signIn",
        remoteAddress,
        headers: {
          origin: "http://localhost:3000",
          "sec-fetch-site": "same-origin",
          "content-type": "application/json",
          "user-agent": "Firefox/140.0",
        },
        payload: JSON.stringify({ email: me.email, password }),
      });
    expect((await signInFrom("127.0.0.1", me.password)).statusCode).toBe(200);
    expect((await signInFrom("192.0.2.44", me.password)).statusCode).toBe(200);
    expect((await signInFrom("192.0.2.44", me.password)).statusCode).toBe(200);

    // me.password_changed.
    const changed = await mutate(
      test,
      "account.changePassword",
      { current_password: me.password, new_password: "a brand new passphrase" },
      { cookie: me.cookie },
    );
    expect(changed.statusCode, changed.body).toBe(200);
    me = { ...me, password: "a brand new passphrase" };
    await deliverAll();

    expect(payload("account.second_factor_changed")).toEqual([
      { method: "totp", change: "added" },
      { method: "totp", change: "removed" },
    ]);
    expect(payload("account.session_new_address")).toEqual([
      { address: "192.0.2.44", user_agent: "Firefox/140.0" },
    ]);
    expect(payload("account.password_changed")).toEqual([{ address: "127.0.0.1", by: "owner" }]);
    // key.new_address (last: it moves the clock on by days): none while the key is in its first day of use, one per new address
    // afterwards, and only once for an address already recorded.
    const key = await createKey(db, { ownerId: user!.id });
    const use = (remoteAddress: string) =>
      test.app.inject({
        method: "GET",
        url: "/api/v1/iocs",
        remoteAddress,
        headers: { "x-api-key": key.key },
      });
    await use("127.0.0.1");
    clock.advance(3_600_000);
    await use("198.51.100.7");
    await deliverAll();
    expect(payload("key.new_address")).toEqual([]);
    clock.advance(2 * 86_400_000);
    await use("203.0.113.9");
    await use("203.0.113.9");
    await use("198.51.100.7");
    await deliverAll();
    await use("203.0.113.9");
    await deliverAll();
    expect(payload("key.new_address")).toEqual([
      expect.objectContaining({ key_id: key.id, address: "203.0.113.9" }),
    ]);

    expectAllVerified(all.path);
    await mutate(test, "webhooks.remove", { id: all.id }, { cookie: me.cookie });
  });
});

describe("delivery", () => {
  it("retries a failing endpoint with exponential backoff for three days, then disables it", async () => {
    const endpoint = await addEndpoint(["key.created"], () => 503);
    await mutate(test, "webhooks.sendTest", { id: endpoint.id }, { cookie: account.cookie });
    const started = clock.now().getTime();
    let attempts = 0;
    for (;;) {
      expect(await test.app.webhookWorker.runOnce()).toBe(1);
      attempts++;
      const [row] = await db
        .select()
        .from(webhookDeliveries)
        .where(eq(webhookDeliveries.endpointId, endpoint.id));
      if (row!.status !== "pending") {
        expect(row!.status).toBe("failed");
        break;
      }
      const delay = row!.nextAttemptAt!.getTime() - clock.now().getTime();
      expect(delay).toBe(retryDelayMs(attempts, HALF));
      clock.set(row!.nextAttemptAt!.toISOString());
      expect(attempts).toBeLessThan(40);
    }
    expect(clock.now().getTime() - started).toBeGreaterThanOrEqual(3 * 86_400_000);
    expect(clock.now().getTime() - started).toBeLessThan(4 * 86_400_000);
    expect(receiver.on(endpoint.path)).toHaveLength(attempts);
    expectAllVerified(endpoint.path);
    const [disabled] = await db
      .select()
      .from(webhookEndpoints)
      .where(eq(webhookEndpoints.id, endpoint.id));
    expect(disabled!.disabledReason).toBe("failing for 3 days");
    const [notice] = await db
      .select()
      .from(alertEvents)
      .where(eq(alertEvents.type, "webhook.endpoint_disabled"));
    expect(notice!.data).toMatchObject({ endpoint_id: endpoint.id });
  });

  it("disables an endpoint that answers 410 Gone at once", async () => {
    const endpoint = await addEndpoint(["key.created"], () => 410);
    await mutate(test, "webhooks.sendTest", { id: endpoint.id }, { cookie: account.cookie });
    await test.app.webhookWorker.drain();
    const [row] = await db
      .select()
      .from(webhookEndpoints)
      .where(eq(webhookEndpoints.id, endpoint.id));
    expect(row!.disabledReason).toBe("answered 410 Gone");
    const refused = await mutate(
      test,
      "webhooks.sendTest",
      { id: endpoint.id },
      { cookie: account.cookie },
    );
    expect(refused.statusCode).toBe(400);
  });

  it("signs with both secrets for 24 hours after a rotation", async () => {
    const endpoint = await addEndpoint(["key.created"]);
    const rotated = await mutate(
      test,
      "webhooks.rotateSecret",
      { id: endpoint.id },
      { cookie: account.cookie },
    );
    const fresh = rotated.json<{ result: { data: { secret: string } } }>().result.data.secret;
    expect(fresh).not.toBe(endpoint.secret);
    receiver.setSecrets(endpoint.path, [endpoint.secret, fresh]);
    await mutate(test, "webhooks.sendTest", { id: endpoint.id }, { cookie: account.cookie });
    await test.app.webhookWorker.drain();
    const [during] = receiver.on(endpoint.path);
    expect(during!.verifiedWith.sort()).toEqual([endpoint.secret, fresh].sort());
    expect(String(during!.headers["webhook-signature"]).split(" ")).toHaveLength(2);

    clock.advance(24 * 3_600_000 + 1_000);
    await mutate(test, "webhooks.sendTest", { id: endpoint.id }, { cookie: account.cookie });
    await test.app.webhookWorker.drain();
    const [, later] = receiver.on(endpoint.path);
    expect(later!.verifiedWith).toEqual([fresh]);
    await mutate(test, "webhooks.remove", { id: endpoint.id }, { cookie: account.cookie });
  });

  it("refuses a name resolving to loopback, a private address, and does not follow a redirect", async () => {
    const strict = createDeliveryWorker({
      database: test.database,
      now: clock.now,
      log: quiet,
      policy: destinationPolicy([]),
      timeoutMs: 2_000,
    });
    const target = receiver.route([]);
    const endpoint = await addEndpoint(["key.created"]);
    // A name (checked on what it resolves to), then a private literal written behind the API's back.
    for (const [url, reason] of [
      [
        `https://localhost:${receiver.port}${target.path}`,
        /destination refused: resolves to a loopback address/,
      ],
      ["http://10.20.30.40/hook", /destination refused: a private address/],
    ] as const) {
      await db.update(webhookEndpoints).set({ url }).where(eq(webhookEndpoints.id, endpoint.id));
      await mutate(test, "webhooks.sendTest", { id: endpoint.id }, { cookie: account.cookie });
      expect(await strict.runOnce()).toBe(1);
      const [row] = await db
        .select()
        .from(webhookDeliveries)
        .where(eq(webhookDeliveries.endpointId, endpoint.id))
        .orderBy(sql`id desc`)
        .limit(1);
      expect(row!.lastError).toMatch(reason);
      expect(row!.lastStatus).toBeNull();
    }
    expect(receiver.on(target.path)).toHaveLength(0);

    // A redirect (to loopback) is a failed attempt, never followed.
    const redirecting = await addEndpoint(["key.created"], () => 302);
    const landing = receiver.route([]);
    receiver.redirectTo(`http://127.0.0.1:${receiver.port}${landing.path}`);
    await mutate(test, "webhooks.sendTest", { id: redirecting.id }, { cookie: account.cookie });
    await test.app.webhookWorker.drain();
    const [row] = await db
      .select()
      .from(webhookDeliveries)
      .where(eq(webhookDeliveries.endpointId, redirecting.id));
    expect(row).toMatchObject({ status: "pending", lastStatus: 302 });
    expect(receiver.on(landing.path)).toHaveLength(0);
    for (const id of [endpoint.id, redirecting.id]) {
      await mutate(test, "webhooks.remove", { id }, { cookie: account.cookie });
    }
  });

  it("a worker dying mid-delivery: delivered by another, once per webhook-id", async () => {
    const endpoint = await addEndpoint(["key.created"], (n) => (n === 1 ? "hang" : 200));
    await mutate(test, "webhooks.sendTest", { id: endpoint.id }, { cookie: account.cookie });
    const options = {
      database: test.database,
      now: clock.now,
      log: quiet,
      policy: destinationPolicy(["127.0.0.1/32"]),
      timeoutMs: 5_000,
      leaseMs: 30_000,
    };
    const dying = createDeliveryWorker(options);
    const round = dying.runOnce();
    while (receiver.on(endpoint.path).length === 0)
      await new Promise((resolve) => setTimeout(resolve, 10));
    await dying.stop({ abandon: true });
    await round;

    const next = createDeliveryWorker(options);
    expect(await next.runOnce()).toBe(0); // still leased by the dead worker
    clock.advance(30_000);
    expect(await next.runOnce()).toBe(1);
    const seen = receiver.on(endpoint.path);
    expect(seen).toHaveLength(2);
    expect(seen[1]!.headers["webhook-id"]).toBe(seen[0]!.headers["webhook-id"]);
    expect(seen.filter((r) => r.status === 200)).toHaveLength(1);
    expectAllVerified(endpoint.path);
    const [row] = await db
      .select()
      .from(webhookDeliveries)
      .where(eq(webhookDeliveries.endpointId, endpoint.id));
    expect(row).toMatchObject({ status: "delivered", attempts: 2 });
    await mutate(test, "webhooks.remove", { id: endpoint.id }, { cookie: account.cookie });
  });

  it("two workers on one outbox deliver each event exactly once", async () => {
    const endpoint = await addEndpoint(["key.created"]);
    const events = Array.from({ length: 40 }, (_, i) => ({
      ownerId,
      type: "key.created" as const,
      atMs: clock.now().getTime(),
      data: { key_id: `k${i}` },
    }));
    await writeAlertEvents(db, events);
    // On Postgres the second worker has its own connection pool, as another process would.
    let second: DatabaseHandle = test.database;
    if (test.database.url)
      second = await openDatabase({ kind: "postgres", url: test.database.url, poolSize: 4 });
    const policy = destinationPolicy(["127.0.0.1/32"]);
    const a = createDeliveryWorker({
      database: test.database,
      now: clock.now,
      log: quiet,
      policy,
      batchSize: 5,
    });
    const b = createDeliveryWorker({
      database: second,
      now: clock.now,
      log: quiet,
      policy,
      batchSize: 5,
    });
    const [na, nb] = await Promise.all([a.drain(), b.drain()]);
    expect(na + nb).toBe(40);
    const ids = receiver.on(endpoint.path).map((r) => r.headers["webhook-id"]);
    expect(ids).toHaveLength(40);
    expect(new Set(ids).size).toBe(40);
    expectAllVerified(endpoint.path);
    if (second !== test.database) await second.close();
  });
});
