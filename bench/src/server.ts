/**
 * A benchmark server process: the real app (buildApp) on a fresh database (PostgreSQL when
 * TEST_DATABASE_URL is set, else in-memory PGlite), plus `/bench/bare`, a plain route on the
 * same Fastify instance returning the echo body, so a comparison isolates the data plane.
 * Prints one JSON line ({url, apiKey}) when ready; stops on SIGTERM.
 */
// First, as in the server's entry (see keep-tick-shape.ts).
import "../../apps/server/src/keep-tick-shape.js";
import { randomBytes } from "node:crypto";
import { rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { createUser, DEFAULT_THROTTLE_POLICY } from "@repo/api";
import { insertTestKey, onTestKeyInserted, waitUntilKnown } from "@repo/api/testing";
import { generateKey, WEBHOOK_EVENT_TYPES } from "@repo/core";
import {
  createPostgresUsageSink,
  createAddressRecorder,
  createUsageRecorder,
  KEY_SWEEP_SLICE,
  type UsageSink,
} from "@repo/gateway";
import { and, apiKeys, eq, isNull, usageDays, users } from "@repo/db";
import { createTestDatabase } from "@repo/db/testing";
import { logDestination, loggerOptions } from "../../apps/server/src/access-log.js";
import { buildApp } from "../../apps/server/src/app.js";

const database = await createTestDatabase(process.env.TEST_DATABASE_URL);
const appOptions = (usageAnalytics: boolean): Parameters<typeof buildApp>[0] => ({
  database,
  publicUrl: new URL("http://127.0.0.1"),
  allowedOrigins: [],
  sessionCookieName: "sb-access-token",
  secureCookies: false,
  sessionIdleSeconds: 86_400,
  sessionAbsoluteSeconds: 86_400,
  signUpEnabled: false,
  // BENCH_TRUST_PROXY: the forged-key flood sends from rotating addresses via X-Forwarded-For.
  trustProxy: process.env.BENCH_TRUST_PROXY ? process.env.BENCH_TRUST_PROXY.split(",") : false,
  webDistDir: undefined,
  // BENCH_LOG_FILE: the server's default logging (LOG_LEVEL=info, the access log) into that file.
  logger: process.env.BENCH_LOG_FILE
    ? { ...loggerOptions("info"), stream: logDestination(process.env.BENCH_LOG_FILE) }
    : false,
  // Key churn at benchmark rates is the point of one scenario: no per-account create throttle,
  // and all 50 connections' changes of that one account in flight at once.
  throttlePolicy: { ...DEFAULT_THROTTLE_POLICY, keyCreatesPerMinute: 1_000_000_000 },
  changesInFlightPerAccount: 1_000,
  gateway: {
    redisUrl: process.env.REDIS_URL,
    redisKeyPrefix: `keyservice:bench:${randomBytes(6).toString("hex")}:`,
    usageAnalytics,
    // The scale scenario measures keys that are all cached (its cold pass must not expire);
    // the fault scenario lets cached records expire during an outage (served stale).
    keyCacheTtlSeconds: Number(process.env.BENCH_KEY_CACHE_TTL_SECONDS ?? 60),
    // The 401 scenario measures the refusal itself, not the failed-auth limiter's 429.
    failedAuthPerMinute: Number(process.env.BENCH_FAILED_AUTH_PER_MINUTE ?? 60),
  },
  // The alerts scenario's endpoints are on this machine's loopback receiver.
  webhooks: { allowedCidrs: ["127.0.0.1/32"] },
});
const app = await buildApp(appOptions(true));
// Keys inserted below are usable once the gateway's key filter has them (on Postgres the
// insert trigger's NOTIFY arrives asynchronously).
onTestKeyInserted(waitUntilKnown(database.db, (hash) => app.gateway.keyFilter.mightExist(hash)));

// A Pro key whose limits a run can never reach, so every request is a 200.
const key = await insertTestKey(database.db, {
  tier: "pro",
  perMinute: 2_000_000_000,
  perDay: 2_000_000_000,
});

// Refused-path scenarios: a key driven past its limit (a runaway poller) and one without a scope.
const throttledKey = await insertTestKey(database.db, {
  tier: "pro",
  perMinute: 1,
  perDay: 2_000_000_000,
});
const freeKey = await insertTestKey(database.db, { tier: "free" });
// Key lookups sent to the database (the forged-key flood reports how many it caused).
app.get("/bench/lookups", () => ({ lookups: app.gateway.lookups }));

// Server CPU time, so runs can report CPU per request (steadier than req/s on a busy machine).
app.get("/bench/cpu", () => process.cpuUsage());
let indexedUserId = "";
// The key-management baseline: one indexed query through the same driver, no auth.
app.get("/bench/indexed-query", async () => {
  const [row] = await database.db
    .select({ id: users.id, tier: users.tier })
    .from(users)
    .where(eq(users.id, indexedUserId));
  return { data: row };
});

let body: unknown = null;
app.get("/bench/bare", (_request, reply) => {
  void reply.header("cache-control", "no-store");
  return body;
});

let churnUserId = "";
app.post("/bench/revoke-churn-keys", async () => {
  await database.db
    .update(apiKeys)
    .set({ revokedAt: new Date() })
    .where(and(eq(apiKeys.ownerId, churnUserId), isNull(apiKeys.revokedAt)));
  return { ok: true };
});

/** The scale scenario's key ids (see below). */
const scaleKeyIds: string[] = [];
const gc = (globalThis as { gc?: () => void }).gc;
/** Heap and RSS after a full collection (the server runs with --expose-gc for this). */
function memory() {
  gc?.();
  gc?.();
  const usage = process.memoryUsage();
  return {
    rss: usage.rss,
    heapUsed: usage.heapUsed,
    cachedKeys: app.gateway.keys.size,
    pendingUsageKeys: app.gateway.usage.pendingKeys,
  };
}
app.get("/bench/memory", () => memory());
app.post("/bench/clear-key-cache", () => {
  app.gateway.keys.clear();
  return memory();
});
// The key cache's sweep as it runs once every cached record's time is over (TTL and stale
// window: here a day on), in the gateway's slices, timed, then memory: what a process holds
// once a wave of keys is gone.
app.post("/bench/sweep-key-cache", () => {
  const at = Date.now() + 86_400_000;
  let dropped = 0;
  let slices = 0;
  let longestMs = 0;
  for (;;) {
    const started = performance.now();
    const removed = app.gateway.keys.sweep(at, KEY_SWEEP_SLICE);
    longestMs = Math.max(longestMs, performance.now() - started);
    dropped += removed;
    slices++;
    if (removed < KEY_SWEEP_SLICE) break;
  }
  return { dropped, slices, longestMs, ...memory() };
});
/** A usage recorder holding one request for each of the first `n` scale keys, unwritten. */
function recorderWithActiveKeys(n: number, sink: UsageSink) {
  const recorder = createUsageRecorder({
    sink,
    flushIntervalMs: 3_600_000,
    now: Date.now,
    log: app.log,
  });
  const at = Date.now();
  for (let i = 0; i < n; i++) {
    const keyId = scaleKeyIds[i]!;
    recorder.record({ keyId, atMs: at, route: "/api/v1/iocs", status: 200, latencyMs: 0.7 });
  }
  return recorder;
}
const nothingWritten: UsageSink = {
  write: () => Promise.resolve(),
  prune: () => Promise.resolve(),
};
const scaleKeysIn = (query: { n: string }) => Math.min(Number(query.n), scaleKeyIds.length);

// Bytes of usage state per active key (heap after a full collection, before and after).
app.get<{ Querystring: { n: string } }>("/bench/usage-bytes", async (request) => {
  const n = scaleKeysIn(request.query);
  const before = memory().heapUsed;
  const recorder = recorderWithActiveKeys(n, nothingWritten);
  const bytesPerKey = (memory().heapUsed - before) / n;
  await recorder.close();
  // Each key's client address as the address recorder holds it (a distinct address per key,
  // as from distinct SIEMs); never flushed, so nothing is written.
  const beforeAddresses = memory().heapUsed;
  const addresses = createAddressRecorder({ db: database.db, log: app.log });
  const at = Date.now();
  for (let i = 0; i < n; i++) {
    addresses.record(scaleKeyIds[i]!, `10.${i >> 16}.${(i >> 8) & 255}.${i & 255}`, at);
  }
  const addressBytesPerKey = (memory().heapUsed - beforeAddresses) / n;
  // (Read after the measurement: otherwise the recorder is garbage before it.)
  return { keys: n, bytesPerKey, addressBytesPerKey, addressKeys: addresses.tracked };
});
// Waits until the app's usage recorder has written everything recorded so far (the flush in
// flight, then the rest), timed: the scale scenario's "after the load" starts once the usage
// writes have caught up, and says how long that took.
app.post("/bench/usage-drain", async () => {
  const pendingKeys = app.gateway.usage.pendingKeys;
  const started = performance.now();
  await app.gateway.usage.flush();
  return { pendingKeys, ms: performance.now() - started };
});
// One flush of `n` active keys through the Postgres sink, timed.
app.post<{ Querystring: { n: string } }>("/bench/flush", async (request) => {
  const n = scaleKeysIn(request.query);
  const recorder = recorderWithActiveKeys(n, createPostgresUsageSink(database.db));
  const started = performance.now();
  const written = await recorder.flush();
  const ms = performance.now() - started;
  await recorder.close();
  return { keys: n, written, ms };
});

// The setup below goes through the listening server, as any client's requests do, and never
// through app.inject: light-my-request's stand-in request and response objects are shapes
// that production never sees, and once Fastify's and Node's shared code has met them its
// property lookups stay polymorphic for the life of the process. Measured: 60 routes warmed
// by inject slowed an unrelated route of bare Fastify by about 5 µs a request (0.83x), and
// not at all when warmed over HTTP.
const url = await app.listen({ host: "127.0.0.1", port: 0 });
function request(method: string, path: string, headers: Record<string, string>, body?: unknown) {
  return fetch(`${url}${path}`, {
    method,
    headers: {
      ...headers,
      ...(body === undefined ? {} : { "content-type": "application/json" }),
      "sec-fetch-site": "same-origin",
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

// Key management: a Pro account with 10 keys (one with 90 days of Pro-level usage rollups)
// and an empty Pro account for create + revoke, each with a real session.
async function signedInProAccount(name: string): Promise<{ id: string; cookie: string }> {
  const email = `${name}-${randomBytes(4).toString("hex")}@bench.test`;
  const password = "bench passphrase";
  const user = await createUser(database.db, { email, password, tier: "pro" });
  const response = await request("POST", "/trpc/auth.signIn", {}, { email, password });
  const cookie = response.headers.getSetCookie()[0]!.split(";")[0]!;
  return { id: user.id, cookie };
}
const listAccount = await signedInProAccount("list");
indexedUserId = listAccount.id;
const churnAccount = await signedInProAccount("churn");
churnUserId = churnAccount.id;
const listKeyIds: string[] = [];
for (let i = 0; i < 10; i++) {
  const created = await request(
    "POST",
    "/api/v1/keys",
    { cookie: listAccount.cookie },
    { name: `prod-siem-${i}`, expires_in_days: 90 },
  );
  listKeyIds.push(((await created.json()) as { data: { id: string } }).data.id);
}
const usageKeyId = listKeyIds[0]!;
await database.db.insert(usageDays).values(proLevelRollups(usageKeyId, 90));

/** 90 days of rollups as a busy Pro key would leave them (~800k requests a day). */
function proLevelRollups(keyId: string, days: number) {
  const today = Date.UTC(
    new Date().getUTCFullYear(),
    new Date().getUTCMonth(),
    new Date().getUTCDate(),
  );
  const routes = [
    "/api/v1/articles",
    "/api/v1/iocs",
    "/api/v1/lookup",
    "/api/v1/iocs/stix",
    "/api/v1/iocs/cef",
    "/api/v1/iocs/misp",
    "/api/v1/articles/:id",
    "/api/v1/iocs/search",
    "/api/taxii2/api/collections",
    "/api/v1/iocs/openioc",
    "/api/v1/iocs/stats",
    "/api/v1/iocs/sigma",
  ];
  return Array.from({ length: days }, (_, d) => {
    const requests = 700_000 + ((d * 7919) % 200_000);
    const buckets = Array.from({ length: 140 }, (_, i) =>
      Math.round((requests * Math.exp(-((i - 70) ** 2) / 300)) / 30),
    );
    return {
      keyId,
      day: new Date(today - d * 86_400_000).toISOString().slice(0, 10),
      requests,
      byStatus: {
        "200": requests - 9_000,
        "304": 2_000,
        "400": 1_500,
        "401": 100,
        "403": 400,
        "404": 3_000,
        "429": 1_800,
        "500": 200,
      },
      routes: Object.fromEntries(routes.map((route, i) => [route, Math.floor(requests / (i + 2))])),
      latencySumMs: requests * 180,
      latencyBuckets: buckets,
      peakMinuteQuota: 990,
      rateLimitedByHour: Array.from({ length: 24 }, (_, h) => (h % 5 === 0 ? 75 : 0)),
    };
  });
}

// The scale scenario: BENCH_SCALE_KEYS distinct Pro keys of one account, limits out of reach.
const scaleKeyCount = Number(process.env.BENCH_SCALE_KEYS ?? 0);
let scaleKeysFile: string | undefined;
if (scaleKeyCount > 0) {
  const keys: string[] = [];
  for (let from = 0; from < scaleKeyCount; from += 5_000) {
    const rows = Array.from({ length: Math.min(5_000, scaleKeyCount - from) }, () => {
      const generated = generateKey();
      keys.push(generated.key);
      return {
        ownerId: listAccount.id,
        name: "bench-scale",
        keyPrefix: generated.prefix,
        keyHash: generated.hash,
        tier: "pro" as const,
        scopes: ["read:iocs", "read:articles"],
        rateLimitPerMinute: 2_000_000_000,
        rateLimitPerDay: 2_000_000_000,
      };
    });
    const inserted = await database.db.insert(apiKeys).values(rows).returning({ id: apiKeys.id });
    scaleKeyIds.push(...inserted.map((row) => row.id));
    app.gateway.keysChanged(rows.map((row) => row.keyHash));
  }
  scaleKeysFile = path.join(os.tmpdir(), `keyservice-bench-keys-${process.pid}.json`);
  writeFileSync(scaleKeysFile, JSON.stringify(keys));
}

// Alerts: an account with three webhook endpoints subscribed to every event (delivered to a
// loopback receiver) and in-app notifications on, whose key is as unlimited as `key`.
const receiver = createServer((_request, response) => response.writeHead(204).end());
await new Promise<void>((resolve) => receiver.listen(0, "127.0.0.1", resolve));
const receiverPort = (receiver.address() as AddressInfo).port;
const alertsAccount = await signedInProAccount("alerts");
for (let i = 0; i < 3; i++) {
  const created = await request(
    "POST",
    "/trpc/webhooks.create",
    { cookie: alertsAccount.cookie },
    {
      url: `http://127.0.0.1:${receiverPort}/soar-${i}`,
      events: [...WEBHOOK_EVENT_TYPES],
      description: `SOAR ${i}`,
    },
  );
  if (created.status !== 200) throw new Error(`webhook endpoint: ${await created.text()}`);
}
const alertsKey = await insertTestKey(database.db, {
  ownerId: alertsAccount.id,
  tier: "pro",
  perMinute: 2_000_000_000,
  perDay: 2_000_000_000,
});

const sample = await request("GET", "/api/v1/iocs", { "x-api-key": key.key });
if (sample.status !== 200) throw new Error(`echo failed: ${sample.status}`);
body = await sample.json();

// A second app on the same database with usage analytics off, for the recording-cost scenario.
const analyticsOff = await buildApp(appOptions(false));
analyticsOff.get("/bench/cpu", () => process.cpuUsage());
const analyticsOffUrl = await analyticsOff.listen({ host: "127.0.0.1", port: 0 });

process.stdout.write(
  `${JSON.stringify({
    url,
    analyticsOffUrl,
    apiKey: key.key,
    alertsApiKey: alertsKey.key,
    throttledKey: throttledKey.key,
    freeKey: freeKey.key,
    listCookie: listAccount.cookie,
    churnCookie: churnAccount.cookie,
    usageKeyId,
    scaleKeysFile,
  })}\n`,
);

process.once("SIGTERM", () => {
  if (scaleKeysFile) rmSync(scaleKeysFile, { force: true });
  receiver.close();
  void Promise.all([app.close(), analyticsOff.close()])
    .then(() => database.dispose())
    .then(() => process.exit(0));
});
