import { apiKeys, eq, type Database } from "@repo/db";
import { createTestDatabase, type TestDatabase } from "@repo/db/testing";
import { generateKey, hashKey } from "@repo/core";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { createKeyCache } from "../src/key-cache.js";
import { createGateway, verifyApiKey, type GatewayOptions } from "../src/verify.js";
import { asKey, insertKey, quietLog as log, waitForNewKeys } from "./helpers.js";

let database: TestDatabase;
let selects = 0;
/** The real database, with every select counted. */
let counted: Database;

beforeAll(async () => {
  database = await createTestDatabase(process.env.TEST_DATABASE_URL);
  counted = new Proxy(database.db, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver) as unknown;
      if (property === "select" && typeof value === "function") {
        return (...args: unknown[]) => {
          selects++;
          return (value as (...a: unknown[]) => unknown).apply(target, args);
        };
      }
      return value;
    },
  });
});
afterAll(async () => {
  await database.dispose();
});

describe("first lookups", () => {
  it("concurrent first lookups of many keys cost one query, each answered for its own key", async () => {
    const gateway = await createGateway({
      database: { ...database, db: counted, dataPlaneDb: counted },
      now: () => new Date(),
      log,
      failedAuthPerMinute: 1_000,
    });
    const stopWaiting = waitForNewKeys(database.db, gateway);
    try {
      const real = await Promise.all(Array.from({ length: 30 }, () => insertKey(database.db)));
      const revoked = real[7]!;
      await database.db
        .update(apiKeys)
        .set({ revokedAt: new Date() })
        .where(eq(apiKeys.id, revoked.id));
      const expired = await insertKey(database.db, { expiresAt: new Date(Date.now() - 1_000) });
      const unknown = Array.from({ length: 20 }, () => generateKey().key);
      // Every real key twice: the second request shares the first one's lookup.
      const presented = [...real.map((k) => k.key), expired.key, ...unknown, real[0]!.key];

      const before = selects;
      const results = await Promise.all(
        presented.map(async (key) =>
          verifyApiKey(gateway, {
            credential: asKey(key),
            clientIp: "192.0.2.7",
            scope: "read:iocs",
          }),
        ),
      );
      expect(selects - before).toBe(1);

      results.forEach((result, i) => {
        const key = presented[i]!;
        const known = real.find((k) => k.key === key);
        if (key === revoked.key) {
          expect(!result.ok && result.error.appCode).toBe("invalid_api_key");
          expect(!result.ok && result.key?.id).toBe(revoked.id);
        } else if (key === expired.key) {
          expect(!result.ok && result.error.appCode).toBe("expired_api_key");
        } else if (known) {
          expect(result.ok && result.key.id).toBe(known.id);
        } else {
          expect(!result.ok && result.error.appCode).toBe("invalid_api_key");
          expect(!result.ok && result.key).toBeUndefined();
        }
      });

      // All of them are cached now, the unknown ones as unknown: no query at all.
      const again = selects;
      for (const key of presented) {
        await verifyApiKey(gateway, {
          credential: asKey(key),
          clientIp: "192.0.2.7",
          scope: "read:iocs",
        });
      }
      expect(selects).toBe(again);
    } finally {
      stopWaiting();
      await gateway.close();
    }
  });

  it("more first lookups than one statement holds are split into bounded queries", async () => {
    const cache = createKeyCache({ db: counted, ttlMs: 60_000, now: Date.now });
    const real = await insertKey(database.db);
    const hashes = [...Array.from({ length: 2_499 }, () => hashKey(generateKey().key)), real.hash];
    const before = selects;
    const records = await Promise.all(hashes.map((hash) => cache.load(hash)));
    expect(selects - before).toBe(3); // 1,000 hashes per query
    expect(records.filter((r) => r !== null).map((r) => r.id)).toEqual([real.id]);
  });

  /** `counted`, with every select's result held back until `open` is called. */
  function gated() {
    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    const hold = <T extends object>(target: T, next: string[]): T =>
      new Proxy(target, {
        get(object, property, receiver) {
          const value = Reflect.get(object, property, receiver) as unknown;
          if (typeof value !== "function") return value;
          if (property === "then" && next.length === 0) {
            return (resolve: (v: unknown) => void, reject: (e: unknown) => void) =>
              gate.then(() =>
                (value as PromiseLike<unknown>["then"]).call(object, resolve, reject),
              );
          }
          if (property !== next[0]) return value;
          return (...args: unknown[]) =>
            hold((value as (...a: unknown[]) => object).apply(object, args), next.slice(1));
        },
      });
    return { db: hold(counted, ["select", "from", "where"]), open };
  }
  const turn = () => new Promise((resolve) => setImmediate(resolve));

  it("while two lookup queries are in flight, first lookups of later turns gather into one batch", async () => {
    const { db, open } = gated();
    const cache = createKeyCache({ db, ttlMs: 60_000, now: Date.now });
    const real = await insertKey(database.db);
    const before = selects;
    const first = [cache.load(hashKey(generateKey().key))];
    await turn();
    first.push(cache.load(hashKey(generateKey().key)));
    await turn();
    expect(selects - before).toBe(2);
    // Ten more turns of first lookups while both are held: none of them queries yet.
    const later: Promise<unknown>[] = [];
    for (let i = 0; i < 10; i++) {
      later.push(cache.load(i === 4 ? real.hash : hashKey(generateKey().key)));
      await turn();
    }
    expect(selects - before).toBe(2);
    open();
    const answers = await Promise.all([...first, ...later]);
    expect(selects - before).toBe(3);
    expect(answers.map((record) => (record as { id: string } | null)?.id ?? null)).toEqual([
      ...Array(6).fill(null),
      real.id,
      ...Array(5).fill(null),
    ]);
  });

  it("a lookup waits only a moment for a free slot, then queries anyway (the pool bounds the rest)", async () => {
    const { db, open } = gated();
    const cache = createKeyCache({ db, ttlMs: 60_000, now: Date.now });
    const before = selects;
    const loads = [cache.load(hashKey(generateKey().key))];
    await turn();
    loads.push(cache.load(hashKey(generateKey().key)));
    await turn();
    loads.push(cache.load(hashKey(generateKey().key)));
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(selects - before).toBe(3);
    open();
    expect(await Promise.all(loads)).toEqual([null, null, null]);
  });

  it("a lookup that was in flight when the key changed does not cache the old record", async () => {
    const cache = createKeyCache({ db: counted, ttlMs: 60_000, now: Date.now });
    const k = await insertKey(database.db);
    const pending = cache.load(k.hash);
    await new Promise((resolve) => setImmediate(resolve)); // the batch's query is on its way
    cache.invalidate([k.hash]);
    expect((await pending)?.id).toBe(k.id);
    expect(cache.peek(k.hash, Date.now())).toBeUndefined();
  });
});

describe("what keys share", () => {
  it("keys with the same tier, scopes and limits share one scope set and limits; any difference gets its own", async () => {
    const gateway = await createGateway({
      database: { ...database, db: counted, dataPlaneDb: counted },
      now: () => new Date(),
      log,
    });
    const stopWaiting = waitForNewKeys(database.db, gateway);
    try {
      const both = ["read:iocs", "read:articles"];
      const [a, b, narrow, reordered, custom, free] = await Promise.all([
        insertKey(database.db, { tier: "pro", scopes: both }),
        insertKey(database.db, { tier: "pro", scopes: both }),
        insertKey(database.db, { tier: "pro", scopes: ["read:iocs"] }),
        insertKey(database.db, { tier: "pro", scopes: ["read:articles", "read:iocs"] }),
        insertKey(database.db, { tier: "pro", scopes: both, perMinute: 7 }),
        insertKey(database.db, { tier: "free", scopes: both }),
      ]);
      const keys = [a, b, narrow, reordered, custom, free];
      const articles = async (key: string) =>
        verifyApiKey(gateway, {
          credential: asKey(key),
          clientIp: "192.0.2.7",
          scope: "read:articles",
        });
      // All first lookups of one turn: loaded by the same query, side by side.
      const before = selects;
      const results = await Promise.all(keys.map((k) => articles(k.key)));
      expect(selects - before).toBe(1);
      expect(results.map((r) => (r.ok ? "ok" : r.error.appCode))).toEqual([
        "ok",
        "ok",
        "insufficient_scope",
        "ok",
        "ok",
        "ok",
      ]);

      const now = Date.now();
      const [ra, rb, rNarrow, rReordered, rCustom, rFree] = keys.map((k) =>
        gateway.keys.peek(k.hash, now)!,
      );
      expect(rb!.scopes).toBe(ra!.scopes);
      expect(rb!.scopeList).toBe(ra!.scopeList);
      expect(rb!.limits).toBe(ra!.limits);
      expect([...rNarrow!.scopes]).toEqual(["read:iocs"]);
      // Headers and whoami list scopes as stored: another order is another grant.
      expect(rReordered!.scopeList).toEqual(["read:articles", "read:iocs"]);
      expect(ra!.scopeList).toEqual(both);
      expect(rCustom!.limits).toEqual({ perMinute: 7, perDay: ra!.limits.perDay });
      expect(ra!.limits.perMinute).not.toBe(7);
      expect([rFree!.tier, ra!.tier]).toEqual(["free", "pro"]);
      expect(rFree!.limits).not.toEqual(ra!.limits);
      // The 7-a-minute key is held to 7 (one taken above), the others are not.
      for (let i = 0; i < 6; i++) expect((await articles(custom.key)).ok).toBe(true);
      const eighth = await articles(custom.key);
      expect(!eighth.ok && eighth.error.appCode).toBe("rate_limit_exceeded");
      expect((await articles(a.key)).ok).toBe(true);
    } finally {
      stopWaiting();
      await gateway.close();
    }
  });
});

describe("eviction", () => {
  it("unknown keys never evict real ones, however many are presented", async () => {
    const cache = createKeyCache({
      db: counted,
      ttlMs: 60_000,
      maxEntries: 5,
      maxNegativeEntries: 50,
      now: Date.now,
    });
    const real = await Promise.all(Array.from({ length: 5 }, () => insertKey(database.db)));
    await Promise.all(real.map((k) => cache.load(k.hash)));
    await Promise.all(Array.from({ length: 500 }, () => cache.load(hashKey(generateKey().key))));
    const now = Date.now();
    for (const k of real) expect(cache.peek(k.hash, now)?.id).toBe(k.id);
    expect(cache.size).toBe(5);
    expect(cache.negativeSize).toBe(50);
  });

  it("evicts the least recently used key record, not the oldest one", async () => {
    const cache = createKeyCache({ db: counted, ttlMs: 60_000, maxEntries: 3, now: Date.now });
    const [a, b, c, d] = await Promise.all(Array.from({ length: 4 }, () => insertKey(database.db)));
    for (const k of [a!, b!, c!]) await cache.load(k.hash);
    // a was loaded first but is in use: b is the one nobody asked for since.
    expect(cache.peek(a!.hash, Date.now())?.id).toBe(a!.id);
    await cache.load(d!.hash);
    const now = Date.now();
    expect(cache.peek(a!.hash, now)?.id).toBe(a!.id);
    expect(cache.peek(b!.hash, now)).toBeUndefined();
    expect(cache.peek(c!.hash, now)?.id).toBe(c!.id);
    expect(cache.peek(d!.hash, now)?.id).toBe(d!.id);
  });

  it("expired entries are read again (the TTL is a safety net behind NOTIFY)", async () => {
    let now = Date.now();
    const cache = createKeyCache({ db: counted, ttlMs: 1_000, now: () => now });
    const k = await insertKey(database.db);
    const unknownHash = hashKey(generateKey().key);
    await cache.load(k.hash);
    await cache.load(unknownHash);
    expect(cache.peek(k.hash, now)?.id).toBe(k.id);
    expect(cache.peek(unknownHash, now)).toBeNull();
    now += 1_000;
    expect(cache.peek(k.hash, now)).toBeUndefined();
    expect(cache.peek(unknownHash, now)).toBeUndefined();
  });
});

describe("memory after a wave of keys", () => {
  it("the sweep drops what can no longer be served and keeps what stale-if-error may still need", async () => {
    let now = Date.now();
    const cache = createKeyCache({ db: counted, ttlMs: 1_000, maxStaleMs: 5_000, now: () => now });
    const [a, b, c] = await Promise.all(Array.from({ length: 3 }, () => insertKey(database.db)));
    const unknownHash = hashKey(generateKey().key);
    for (const hash of [a!.hash, b!.hash, c!.hash, unknownHash]) await cache.load(hash);
    expect(cache.sweep(now)).toBe(0);
    expect([cache.size, cache.negativeSize]).toEqual([3, 1]);

    // Past the TTL: the unknown hash is of no more use; the records are, during an outage.
    now += 1_000;
    expect(cache.sweep(now)).toBe(1);
    expect([cache.size, cache.negativeSize]).toEqual([3, 0]);
    expect(cache.stale(a!.hash, now)?.id).toBe(a!.id);

    // c is used again: read afresh. a and b then pass the stale window; c is still within it.
    expect(cache.peek(c!.hash, now)).toBeUndefined();
    await cache.load(c!.hash);
    now += 4_001;
    expect(cache.sweep(now)).toBe(2);
    expect(cache.size).toBe(1);
    expect(cache.stale(a!.hash, now)).toBeUndefined();
    expect(cache.stale(b!.hash, now)).toBeUndefined();
    expect(cache.stale(c!.hash, now)?.id).toBe(c!.id);
  });

  it("without a stale window a record goes once its TTL is over, and a used one stays", async () => {
    let now = Date.now();
    const cache = createKeyCache({ db: counted, ttlMs: 1_000, now: () => now });
    const [a, b] = await Promise.all(Array.from({ length: 2 }, () => insertKey(database.db)));
    await cache.load(a!.hash);
    now += 600;
    await cache.load(b!.hash);
    now += 400;
    expect(cache.sweep(now)).toBe(1);
    expect(cache.peek(b!.hash, now)?.id).toBe(b!.id);
    expect(cache.size).toBe(1);
  });

  it("a sweep takes at most its limit of records and of unknown hashes, the rest stay for the next", async () => {
    let now = Date.now();
    const cache = createKeyCache({ db: counted, ttlMs: 1_000, now: () => now });
    const keys = await Promise.all(Array.from({ length: 5 }, () => insertKey(database.db)));
    await Promise.all(keys.map((k) => cache.load(k.hash)));
    await Promise.all(Array.from({ length: 4 }, () => cache.load(hashKey(generateKey().key))));
    now += 1_000;
    expect(cache.sweep(now, 2)).toBe(4);
    expect([cache.size, cache.negativeSize]).toEqual([3, 2]);
    expect(cache.sweep(now, 2)).toBe(4);
    expect(cache.sweep(now, 2)).toBe(1);
    expect([cache.size, cache.negativeSize]).toEqual([0, 0]);
  });

  it("a record left behind by a sweep is still never served past its time", async () => {
    let now = Date.now();
    const cache = createKeyCache({ db: counted, ttlMs: 1_000, now: () => now });
    const [a, b] = await Promise.all(Array.from({ length: 2 }, () => insertKey(database.db)));
    await cache.load(a!.hash);
    now += 500;
    await cache.load(b!.hash);
    // a is used after b was read: it is the most recently used, b the least, and b is live,
    // so the walk from the least recently used end stops before reaching a.
    expect(cache.peek(a!.hash, now)?.id).toBe(a!.id);
    now += 500;
    expect(cache.sweep(now)).toBe(0);
    expect(cache.peek(a!.hash, now)).toBeUndefined();
    expect(cache.stale(a!.hash, now)).toBeUndefined();
    now += 500;
    expect(cache.sweep(now)).toBe(2);
    expect(cache.size).toBe(0);
  });

  it("the gateway's sweep gives the event loop back after every 1,000 entries", async () => {
    // A removal costs 3–6.5 µs with 100,000 records cached: a slice of 5,000 held requests
    // back 15–33 ms in the scale bench. Between slices other callbacks (requests) run.
    const { gateway, clock } = await gatewayOnFakeClock();
    const nextTurn = () => new Promise((resolve) => setImmediate(resolve));
    try {
      for (let i = 0; i < 2_500; i++) gateway.keys.rememberUnknown(`unknown-${i}`);
      expect(gateway.keys.negativeSize).toBe(2_500);
      clock.now += 1_001;
      vi.advanceTimersByTime(60_000);
      expect(gateway.keys.negativeSize).toBe(1_500);
      await nextTurn();
      expect(gateway.keys.negativeSize).toBe(500);
      await nextTurn();
      expect(gateway.keys.negativeSize).toBe(0);
    } finally {
      await gateway.close();
      vi.useRealTimers();
    }
  });

  it("the gateway sweeps its key cache once a minute and stops when closed", async () => {
    const { gateway, clock } = await gatewayOnFakeClock({ keyCacheMaxStaleMs: 2_000 });
    const stopWaiting = waitForNewKeys(database.db, gateway);
    try {
      const keys = await Promise.all(Array.from({ length: 3 }, () => insertKey(database.db)));
      for (const k of keys) {
        const result = await verifyApiKey(gateway, {
          credential: asKey(k.key),
          clientIp: "192.0.2.7",
          scope: "read:iocs",
        });
        expect(result.ok).toBe(true);
      }
      expect(gateway.keys.size).toBe(3);
      clock.now += 3_001;
      vi.advanceTimersByTime(59_000);
      expect(gateway.keys.size).toBe(3);
      vi.advanceTimersByTime(1_000);
      expect(gateway.keys.size).toBe(0);
    } finally {
      stopWaiting();
      await gateway.close();
      expect(vi.getTimerCount()).toBe(0);
      vi.useRealTimers();
    }
  });
});

/** A gateway whose clock the test moves, with its once-a-minute timers faked. */
async function gatewayOnFakeClock(options: Partial<GatewayOptions> = {}) {
  vi.useFakeTimers({ toFake: ["setInterval", "clearInterval"] });
  const clock = { now: Date.now() };
  const gateway = await createGateway({
    database,
    now: () => new Date(clock.now),
    log,
    keyCacheTtlMs: 1_000,
    ...options,
  });
  return { gateway, clock };
}
