import { randomBytes } from "node:crypto";
import { openDatabase, apiKeys, eq, sql, type DatabaseHandle } from "@repo/db";
import { createTestDatabase, type TestDatabase } from "@repo/db/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Redis } from "ioredis";
import { createRedisRateLimiter } from "../src/rate-limit.js";
import { deleteRedisKeys } from "../src/testing.js";
import { createGateway, verifyApiKey, type Gateway } from "../src/verify.js";
import { generateKey } from "@repo/core";
import { asKey, insertKey, waitForNewKeys, quietLog as log, startTcpRelay } from "./helpers.js";

let database: TestDatabase;
let queries = 0;
/** Round trips the key filter's notify barrier sent (see notify-barrier.ts). */
let barriers = 0;
/** The real database, with every query the gateway starts counted. */
let counted: DatabaseHandle;
let gateway: Gateway;

beforeAll(async () => {
  database = await createTestDatabase(process.env.TEST_DATABASE_URL);
  const db = new Proxy(database.db, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver) as unknown;
      if (
        typeof value === "function" &&
        ["select", "execute", "update", "insert"].includes(String(property))
      ) {
        return (...args: unknown[]) => {
          queries++;
          return (value as (...a: unknown[]) => unknown).apply(target, args);
        };
      }
      return value;
    },
  });
  counted = {
    ...database,
    db,
    dataPlaneDb: db,
    notify: (channel, payload) => {
      barriers++;
      return database.notify(channel, payload);
    },
  };
  gateway = await createGateway({
    database: counted,
    now: () => new Date(),
    log,
    usageFlushIntervalMs: 1_000,
  });
  waitForNewKeys(database.db, gateway);
});
afterAll(async () => {
  await gateway.close();
  await database.dispose();
});

describe("verifyApiKey", () => {
  it("64: malformed keys are refused with no database query at all", async () => {
    const good = generateKey().key;
    const before = queries;
    for (const bad of [
      good.replace("sk_live_", "sk_test_"),
      good.slice(0, -1),
      good.slice(0, -1) + (good.endsWith("A") ? "B" : "A"),
      `${good.slice(0, 10)}ü${good.slice(11)}`,
      "y".repeat(8192),
    ]) {
      const result = await verifyApiKey(gateway, {
        credential: asKey(bad),
        clientIp: "192.0.2.1",
        scope: "read:iocs",
      });
      expect(result.ok).toBe(false);
      expect(!result.ok && result.error.appCode).toBe("invalid_api_key");
    }
    expect(queries).toBe(before);
  });

  /** One request for `key` from `clientIp`, needing read:iocs. */
  const verifyFrom = (key: string, clientIp = "192.0.2.1") =>
    verifyApiKey(gateway, { credential: asKey(key), clientIp, scope: "read:iocs" });

  it("a known key costs one query, then none while cached; unknown keys cost none", async () => {
    const k = await insertKey(database.db);
    const before = queries;
    for (let i = 0; i < 5; i++) expect((await verifyFrom(k.key)).ok).toBe(true);
    expect(queries - before).toBe(1);
    const unknown = generateKey().key;
    await Promise.all(Array.from({ length: 5 }, async () => verifyFrom(unknown)));
    // A well-formed key no one was issued is not in the key filter: no query at all.
    expect(queries - before).toBe(1);
  });

  it("a forged-key flood from rotating addresses causes no query; a real key still verifies", async () => {
    const k = await insertKey(database.db);
    const before = queries;
    const barriersBefore = barriers;
    const results = await Promise.all(
      Array.from({ length: 1_000 }, async (_, i) =>
        verifyFrom(generateKey().key, `198.18.${i >> 8}.${i & 255}`),
      ),
    );
    expect(results.every((r) => !r.ok && r.error.appCode === "invalid_api_key")).toBe(true);
    expect(queries - before).toBe(0);
    // The thousand refusals shared one or two "heard everything?" notifications, not one each.
    expect(barriers - barriersBefore).toBeGreaterThanOrEqual(1);
    expect(barriers - barriersBefore).toBeLessThanOrEqual(2);
    expect((await verifyFrom(k.key, "198.18.0.1")).ok).toBe(true);
    expect(queries - before).toBe(1);
  });

  it("a well-formed key no one has: one round trip, then refused from memory, still counted", async () => {
    const unknown = generateKey().key;
    const ip = "192.0.2.77";
    const barriersBefore = barriers;
    const first = verifyFrom(unknown, ip);
    expect(first).toBeInstanceOf(Promise);
    const firstResult = await first;
    expect(!firstResult.ok && firstResult.error.appCode).toBe("invalid_api_key");
    expect(barriers - barriersBefore).toBe(1);
    // Again (a client retrying a mistyped key): answered at once, no round trip, no query.
    const queriesBefore = queries;
    const codes: string[] = [];
    for (let i = 0; i < 70; i++) {
      const again = verifyFrom(unknown, ip);
      expect(again).not.toBeInstanceOf(Promise);
      if (!(again instanceof Promise) && !again.ok) codes.push(again.error.appCode);
    }
    expect(barriers - barriersBefore).toBe(1);
    expect(queries).toBe(queriesBefore);
    // Each is a failed attempt from that address: past 60 a minute, too_many_attempts.
    expect(codes.slice(0, 59)).toEqual(Array(59).fill("invalid_api_key"));
    expect(codes.at(-1)).toBe("too_many_attempts");
  });

  it("a key remembered as unknown works as soon as its insert is heard of", async () => {
    const planned = generateKey();
    const refused = await verifyFrom(planned.key, "192.0.2.78");
    expect(!refused.ok && refused.error.appCode).toBe("invalid_api_key");
    expect(gateway.keys.peek(planned.hash, Date.now())).toBeNull();
    // insertKey returns once this gateway has heard the insert's NOTIFY.
    const k = await insertKey(database.db, { generated: planned });
    const accepted = await verifyFrom(planned.key, "192.0.2.78");
    expect(accepted.ok && accepted.key.id).toBe(k.id);
  });

  it("answers a cached key synchronously; only a cache miss waits on the database", async () => {
    const k = await insertKey(database.db);
    const input = { credential: asKey(k.key), clientIp: "192.0.2.1", scope: "read:iocs" };
    const miss = verifyApiKey(gateway, input);
    expect(miss).toBeInstanceOf(Promise);
    expect((await miss).ok).toBe(true);
    const hit = verifyApiKey(gateway, input);
    expect(hit).not.toBeInstanceOf(Promise);
    expect(!(hit instanceof Promise) && hit.ok).toBe(true);
    // Refusals of a cached key (here: a scope the key lacks) are synchronous too.
    const refused = verifyApiKey(gateway, { ...input, scope: "read:nothing" });
    expect(!(refused instanceof Promise) && !refused.ok && refused.error.appCode).toBe(
      "insufficient_scope",
    );
  });

  it("invalidation drops a cached key so the change is read on the next request", async () => {
    const k = await insertKey(database.db);
    const verify = () =>
      verifyApiKey(gateway, {
        credential: asKey(k.key),
        clientIp: "192.0.2.1",
        scope: "read:iocs",
      });
    expect((await verify()).ok).toBe(true);
    await database.db.update(apiKeys).set({ revokedAt: new Date() }).where(eq(apiKeys.id, k.id));
    expect((await verify()).ok).toBe(true); // cached, nobody said anything yet
    gateway.keysChanged([k.hash]);
    const after = await verify();
    expect(!after.ok && after.error.appCode).toBe("invalid_api_key");
    expect(!after.ok && after.key?.id).toBe(k.id); // attributed: it counts as usage
  });
});

describe("a key minted through another process", () => {
  it("is accepted on its first request even while its insert notification is still on the way", async () => {
    // This gateway hears every notification 100 ms late (in order, as a slow link would),
    // its own barrier tokens included: well inside the barrier's 500 ms.
    const slowListener: DatabaseHandle = {
      ...database,
      listen: (channel, onNotify, onReconnect) =>
        database.listen(
          channel,
          (payload) => setTimeout(() => onNotify(payload), 100),
          onReconnect,
        ),
    };
    const slow = await createGateway({ database: slowListener, now: () => new Date(), log });
    try {
      const k = await insertKey(database.db);
      expect(slow.keyFilter.mightExist(k.hash)).toBe(false); // not heard of yet
      const first = await verifyApiKey(slow, {
        credential: asKey(k.key),
        clientIp: "192.0.2.1",
        scope: "read:iocs",
      });
      expect(first.ok).toBe(true);
      // Invented keys are still refused, after the same wait.
      const forged = await verifyApiKey(slow, {
        credential: asKey(generateKey().key),
        clientIp: "192.0.2.1",
        scope: "read:iocs",
      });
      expect(!forged.ok && forged.error.appCode).toBe("invalid_api_key");
    } finally {
      await slow.close();
    }
  });
});

describe("limits stored in an unreachable Redis", () => {
  it("fail closed: 503 with Retry-After, never an unlimited 200", async () => {
    const g = await createGateway({
      database: counted,
      now: () => new Date(),
      log,
      redisUrl: "redis://127.0.0.1:9", // nothing listens on the discard port
    });
    try {
      const k = await insertKey(database.db);
      const result = await verifyApiKey(g, {
        credential: asKey(k.key),
        clientIp: "192.0.2.1",
        scope: "read:iocs",
      });
      expect(result.ok).toBe(false);
      expect(!result.ok && result.error.appCode).toBe("service_unavailable");
      expect(!result.ok && result.error.headers?.["retry-after"]).toBeDefined();
    } finally {
      await g.close();
    }
  });
});

describe.skipIf(!process.env.REDIS_URL)("Redis limits (needs REDIS_URL)", () => {
  // This run's own namespace in the shared Redis, removed afterwards.
  const prefix = `keyservice:test:${randomBytes(6).toString("hex")}:`;
  afterAll(() => deleteRedisKeys(process.env.REDIS_URL!, prefix));

  it("weigh requests by cost as the in-process limiter does", async () => {
    const limiter = createRedisRateLimiter(new Redis(process.env.REDIS_URL!), `${prefix}cost:`);
    try {
      const ten = { perMinute: 10, perDay: 100 };
      const t = Date.parse("2026-06-01T10:00:30Z");
      const taxii = [];
      for (let i = 0; i < 4; i++) taxii.push(await limiter.take("k", ten, t, true, 2.5));
      expect(taxii.map((q) => [q.allowed, q.remaining])).toEqual([
        [true, 7],
        [true, 5],
        [true, 2],
        [true, 0],
      ]);
      expect((await limiter.take("k", ten, t, true, 2.5)).allowed).toBe(false);
      expect((await limiter.take("k", ten, t)).allowed).toBe(false);
      const dry = await limiter.take("k", ten, t, false, 2.5);
      expect(dry).toMatchObject({ allowed: false, dayRemaining: 90, minuteRemaining: 0 });
      const mixed = [await limiter.take("m", ten, t, true, 2.5)];
      for (let i = 0; i < 8; i++) mixed.push(await limiter.take("m", ten, t));
      expect(mixed.map((q) => q.remaining)).toEqual([7, 6, 5, 4, 3, 2, 1, 0, 0]);
      expect(mixed.map((q) => q.allowed)).toEqual([...Array<boolean>(8).fill(true), false]);
    } finally {
      await limiter.close();
    }
  });

  it("are exact under concurrency from two gateways sharing one Redis", async () => {
    // One stopped clock for both: the limits count per UTC minute, and a burst straddling a
    // minute boundary would be counted in two windows.
    const stopped = new Date();
    const other = await createGateway({
      database: counted,
      now: () => stopped,
      log,
      redisUrl: process.env.REDIS_URL,
      redisKeyPrefix: `${prefix}shared:`,
    });
    const one = await createGateway({
      database: counted,
      now: () => stopped,
      log,
      redisUrl: process.env.REDIS_URL,
      redisKeyPrefix: `${prefix}shared:`,
    });
    try {
      const k = await insertKey(database.db, { perMinute: 25, perDay: 40 });
      const run = async (g: Gateway) =>
        verifyApiKey(g, { credential: asKey(k.key), clientIp: "192.0.2.1", scope: "read:iocs" });
      const results = await Promise.all(
        Array.from({ length: 60 }, (_, i) => run(i % 2 ? one : other)),
      );
      const accepted = results.filter((r) => r.ok);
      expect(accepted).toHaveLength(25);
      expect(accepted.map((r) => r.quota.minuteRemaining).sort((a, b) => a - b)).toEqual(
        Array.from({ length: 25 }, (_, i) => i),
      );
      const refused = results.find((r) => !r.ok)!;
      expect(!refused.ok && refused.error.appCode).toBe("rate_limit_exceeded");
      // Refusals consumed nothing: the day has exactly 40 - 25 left.
      expect(refused.quota?.dayRemaining).toBe(15);
    } finally {
      await one.close();
      await other.close();
    }
  });
});

describe.skipIf(!process.env.TEST_DATABASE_URL)(
  "lost LISTEN connection (needs TEST_DATABASE_URL: Postgres)",
  () => {
    it("clears the key cache when the listener reconnects: missed revocations cannot linger", async () => {
      const k = await insertKey(database.db);
      // As whoami asks (no quota taken): a refusal can only mean the key is seen as revoked,
      // never that the polling used up its limit.
      const verify = () =>
        verifyApiKey(gateway, {
          credential: asKey(k.key),
          clientIp: "192.0.2.1",
          scope: null,
          cost: 0,
        });
      expect((await verify()).ok).toBe(true);
      // Revoked without a notification (as if it had been sent while the listener was down).
      await database.db.update(apiKeys).set({ revokedAt: new Date() }).where(eq(apiKeys.id, k.id));
      expect((await verify()).ok).toBe(true);
      // The listening connection's last statement is a LISTEN, or an UNLISTEN once another
      // gateway on this database has closed: match both, and make sure one was cut.
      const cut = await database.db.execute(
        sql`select pg_terminate_backend(pid) from pg_stat_activity
           where datname = current_database() and pid <> pg_backend_pid()
             and query ~* '^(un)?listen '`,
      );
      expect(cut).toHaveLength(1);
      let result = await verify();
      for (let i = 0; i < 100 && result.ok; i++) {
        await new Promise((resolve) => setTimeout(resolve, 50));
        result = await verify();
      }
      expect(!result.ok && result.error.appCode).toBe("invalid_api_key");
    });
  },
);

describe.skipIf(!process.env.TEST_DATABASE_URL)(
  "database outage through a TCP relay (needs TEST_DATABASE_URL: Postgres)",
  () => {
    it("uncached keys get 503, cached keys keep working, usage waits and is written once back", async () => {
      const url = new URL(database.url!);
      const relay = await startTcpRelay({ host: url.hostname, port: Number(url.port || 5432) });
      url.host = `127.0.0.1:${relay.port}`;
      const viaRelay = await openDatabase({
        kind: "postgres",
        url: url.toString(),
        poolSize: 2,
        connectTimeoutSeconds: 1,
      });
      const g = await createGateway({
        database: viaRelay,
        now: () => new Date(),
        log,
        usageFlushIntervalMs: 100,
      });
      // This gateway hears of new keys through its own listener (over the relay).
      const stopWaiting = waitForNewKeys(database.db, g);
      try {
        const cached = await insertKey(database.db);
        const uncached = await insertKey(database.db);
        const verify = (key: string) =>
          verifyApiKey(g, { credential: asKey(key), clientIp: "192.0.2.1", scope: "read:iocs" });
        expect((await verify(cached.key)).ok).toBe(true);

        await relay.down();
        const refused = await verify(uncached.key);
        expect(refused.ok).toBe(false);
        expect(!refused.ok && refused.error.appCode).toBe("service_unavailable");
        expect(!refused.ok && refused.error.headers?.["retry-after"]).toBeDefined();
        // A key minted elsewhere during the outage, which this gateway cannot have heard of:
        // it could not be checked, so 503 and not a 401 telling its owner it is invalid.
        stopWaiting();
        const mintedMeanwhile = await insertKey(database.db);
        const unheard = await verify(mintedMeanwhile.key);
        expect(!unheard.ok && unheard.error.appCode).toBe("service_unavailable");
        expect(!unheard.ok && unheard.error.headers?.["retry-after"]).toBe("5");
        for (let i = 0; i < 3; i++) {
          const result = await verify(cached.key);
          expect(result.ok).toBe(true);
          g.usage.record({
            keyId: cached.id,
            atMs: Date.now(),
            route: "/api/v1/iocs",
            status: 200,
            latencyMs: 1,
          });
        }
        expect(await g.usage.flush()).toBe(false);
        expect(g.usage.pendingRequests).toBe(3);

        await relay.up();
        let written = false;
        for (let i = 0; i < 50 && !written; i++) {
          written = (await g.usage.flush()) && g.usage.pendingRequests === 0;
          if (!written) await new Promise((resolve) => setTimeout(resolve, 200));
        }
        expect(written).toBe(true);
        const [row] = await database.db.select().from(apiKeys).where(eq(apiKeys.id, cached.id));
        expect(row!.totalRequests).toBe(3);
        expect((await verify(uncached.key)).ok).toBe(true);
        expect((await verify(mintedMeanwhile.key)).ok).toBe(true);
      } finally {
        stopWaiting();
        await g.close();
        await viaRelay.close();
        relay.close();
      }
    });
  },
);
