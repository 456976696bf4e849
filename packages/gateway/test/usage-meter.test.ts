import { mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { createTestDatabase, type TestDatabase } from "@repo/db/testing";
import { apiKeys, eq, queryRows, sql, usageDays, type Transaction } from "@repo/db";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bucketIndex, percentileFromHistogram } from "@repo/core";
import {
  createPostgresUsageSink,
  createUsageRecorder,
  tallyObject,
  type UsageBatch,
} from "../src/usage-meter.js";
import { replaySpilledUsage } from "../src/usage-spill.js";
import { slotAfter } from "../src/write-slots.js";
import { insertKey, insertManyKeys } from "./helpers.js";

/** The batched usage recorder writing real rollups (PGlite, or Postgres with TEST_DATABASE_URL). */
let database: TestDatabase;
const logged: { level: string; msg: string; obj: object }[] = [];
const log = {
  warn: (obj: object, msg: string) => logged.push({ level: "warn", msg, obj }),
  error: (obj: object, msg: string) => logged.push({ level: "error", msg, obj }),
};

beforeAll(async () => {
  database = await createTestDatabase(process.env.TEST_DATABASE_URL);
});
afterAll(async () => {
  await database.dispose();
});

const at = (iso: string) => Date.parse(iso);

/** A route label with what JSON, Postgres array literals and line splitting must survive. */
const ODD_ROUTE = '/api/v1/q"uote\\back,{brace} \u00e9\nline';

/** The dense latency histogram (as stored) of these latencies. */
function histogramOf(latenciesMs: number[]): number[] {
  const buckets = latenciesMs.map(bucketIndex);
  const dense = new Array<number>(Math.max(...buckets) + 1).fill(0);
  for (const bucket of buckets) dense[bucket]!++;
  return dense;
}

function recorder(options: { maxBufferedCells?: number; analytics?: boolean } = {}) {
  return createUsageRecorder({
    sink: createPostgresUsageSink(database.db),
    flushIntervalMs: 60_000,
    now: () => at("2026-06-01T12:00:00Z"),
    log,
    ...options,
  });
}

describe("usage recorder", () => {
  it("merges flushes into day rows; the day keeps the limiter's busiest minute", async () => {
    const k = await insertKey(database.db);
    const usage = recorder();
    // `minuteQuota`: the key's minute as the limiter counts it after the request (with Redis,
    // other processes' requests too), so it can jump, and a 429 reports it as it stands.
    const event = (
      iso: string,
      status: number,
      latencyMs: number,
      route = "/api/v1/iocs",
      minuteQuota?: number,
    ) => usage.record({ keyId: k.id, atMs: at(iso), route, status, latencyMs, minuteQuota });
    for (let i = 0; i < 3; i++) event("2026-06-01T10:00:05Z", 200, 10, undefined, i + 1);
    event("2026-06-01T10:01:00Z", 429, 1, undefined, 4);
    expect(await usage.flush()).toBe(true);
    for (let i = 0; i < 2; i++)
      event("2026-06-01T10:00:40Z", 200, 100, "/api/v1/articles", 7.5 + i);
    event("2026-06-01T14:30:00Z", 429, 1, undefined, 2);
    event("2026-06-02T00:00:00Z", 500, 1000, undefined, 1);
    expect(await usage.flush()).toBe(true);
    // Flushes of a single minute: without 429s (the day's 429s per hour must stay as they
    // were), then with one; and a route that JSON and array literals must escape. Neither
    // may lower the day's peak.
    event("2026-06-01T10:00:50Z", 200, 10, ODD_ROUTE, 3);
    expect(await usage.flush()).toBe(true);
    event("2026-06-01T16:10:00Z", 429, 1);
    expect(await usage.flush()).toBe(true);

    const days = await database.db.select().from(usageDays).where(eq(usageDays.keyId, k.id));
    const first = days.find((d) => d.day === "2026-06-01")!;
    expect(first).toMatchObject({
      requests: 9,
      peakMinuteQuota: 8.5,
      byStatus: { "200": 6, "429": 3 },
      routes: { "/api/v1/iocs": 6, "/api/v1/articles": 2, [ODD_ROUTE]: 1 },
    });
    expect(first.rateLimitedByHour).toEqual(
      Array.from({ length: 24 }, (_, hour) => ([10, 14, 16].includes(hour) ? 1 : 0)),
    );
    expect(first.latencyBuckets).toEqual(histogramOf([10, 10, 10, 1, 100, 100, 1, 10, 1]));
    expect(percentileFromHistogram(first.latencyBuckets, 0.5)).toBeCloseTo(10, -0.5);
    expect(days.find((d) => d.day === "2026-06-02")).toMatchObject({
      requests: 1,
      byStatus: { "500": 1 },
      peakMinuteQuota: 1,
    });
    const [row] = await database.db.select().from(apiKeys).where(eq(apiKeys.id, k.id));
    expect(row!.totalRequests).toBe(10);
    expect(row!.lastUsedAt!.toISOString()).toBe("2026-06-02T00:00:00.000Z");
    await usage.close();
  });

  it("a flush of one request writes its one latency bucket, the first, a later or an earlier one", async () => {
    // One request per flush: the histogram goes as a literal of that bucket alone (the
    // common case when many keys are active), so it must land at the right index whether
    // the stored histogram is shorter or longer, and with its own millisecond.
    const k = await insertKey(database.db);
    const usage = recorder();
    const latencies = [0, 250, 0.5, 3];
    for (const [i, latencyMs] of latencies.entries()) {
      usage.record({
        keyId: k.id,
        atMs: at("2026-06-01T09:00:00.000Z") + i * 1_001,
        route: "/api/v1/iocs",
        status: 200,
        latencyMs,
      });
      expect(await usage.flush()).toBe(true);
    }
    const [day] = await database.db.select().from(usageDays).where(eq(usageDays.keyId, k.id));
    expect(bucketIndex(0)).toBe(0);
    expect(day!.latencyBuckets).toEqual(histogramOf(latencies));
    expect(day!.day).toBe("2026-06-01");
    const [row] = await database.db.select().from(apiKeys).where(eq(apiKeys.id, k.id));
    expect(row!.lastUsedAt!.toISOString()).toBe("2026-06-01T09:00:03.003Z");
    await usage.close();
  });

  it("keeps totals exact when the rollup buffer is full, and says so in the log", async () => {
    const k = await insertKey(database.db);
    const usage = recorder({ maxBufferedCells: 2 });
    for (let hour = 0; hour < 5; hour++) {
      usage.record({
        keyId: k.id,
        atMs: at("2026-06-01T10:00:00Z") + hour * 3_600_000,
        route: "/x",
        status: 200,
        latencyMs: 1,
      });
    }
    expect(await usage.flush()).toBe(true);
    const [row] = await database.db.select().from(apiKeys).where(eq(apiKeys.id, k.id));
    expect(row!.totalRequests).toBe(5);
    expect(logged.some((l) => l.level === "error" && /buffer full/.test(l.msg))).toBe(true);
    await usage.close();
  });

  it("flush() also writes what was recorded while an earlier write was in flight", async () => {
    const k = await insertKey(database.db);
    const usage = recorder();
    const event = () =>
      usage.record({
        keyId: k.id,
        atMs: at("2026-06-01T10:00:00Z"),
        route: "/x",
        status: 200,
        latencyMs: 1,
      });
    event();
    const inFlight = usage.flush();
    event();
    expect(await usage.flush()).toBe(true);
    const [row] = await database.db.select().from(apiKeys).where(eq(apiKeys.id, k.id));
    expect(row!.totalRequests).toBe(2);
    await inFlight;
    await usage.close();
  });

  it("a failed write is kept and merged with later usage; the retry's day rollups count both", async () => {
    // The sink fails once as an outage does, then takes what it is given.
    const written: UsageBatch[] = [];
    let failNext = true;
    const usage = createUsageRecorder({
      sink: {
        write(batch) {
          if (failNext) {
            failNext = false;
            return Promise.reject(Object.assign(new Error("refused"), { code: "ECONNREFUSED" }));
          }
          written.push(batch);
          return Promise.resolve();
        },
        prune: () => Promise.resolve(),
      },
      flushIntervalMs: 60_000,
      now: () => at("2026-06-01T12:00:00Z"),
      log,
    });
    const event = (iso: string, status: number, minuteQuota: number) =>
      usage.record({
        keyId: "k1",
        atMs: at(iso),
        route: "/api/v1/iocs",
        status,
        latencyMs: 2,
        minuteQuota,
      });
    event("2026-06-01T10:00:05Z", 200, 4);
    event("2026-06-01T10:00:06Z", 429, 4);
    expect(await usage.flush()).toBe(false);
    expect(usage.pendingRequests).toBe(2);
    event("2026-06-01T10:00:50Z", 429, 2.5); // the same minute as the failed batch
    event("2026-06-01T11:59:00Z", 200, 1);
    expect(await usage.flush()).toBe(true);

    expect(written).toHaveLength(1);
    const batch = written[0]!;
    expect(batch.keys).toHaveLength(1);
    expect(batch.keys[0]).toMatchObject({
      keyId: "k1",
      requests: 4,
      lastUsedAtMs: at("2026-06-01T11:59:00Z"),
    });
    expect(
      batch.keys[0]!.cells.map((m) => [m.requests, tallyObject(m.byStatus), m.peakMinuteQuota]),
    ).toEqual([
      [3, { "200": 1, "429": 2 }, 4],
      [1, { "200": 1 }, 1],
    ]);
    expect(batch.days).toHaveLength(1);
    const day = batch.days[0]!;
    expect(day.requests).toBe(4);
    expect(day.peakMinuteQuota).toBe(4);
    expect(tallyObject(day.byStatus)).toEqual({ "200": 2, "429": 2 });
    expect(day.rateLimitedByHour[10]).toBe(2);
    expect(day.rateLimitedByHour.reduce((a, b) => a + b)).toBe(2);
    expect(usage.pendingRequests).toBe(0);
    await usage.close();
  });

  it("with analytics off, counts key totals and writes no rollups", async () => {
    const k = await insertKey(database.db);
    const usage = recorder({ analytics: false });
    for (let i = 0; i < 3; i++) {
      usage.record({
        keyId: k.id,
        atMs: at("2026-06-01T10:00:00Z"),
        route: "/x",
        status: 200,
        latencyMs: 1,
      });
    }
    expect(await usage.flush()).toBe(true);
    const [row] = await database.db.select().from(apiKeys).where(eq(apiKeys.id, k.id));
    expect(row!.totalRequests).toBe(3);
    expect(await database.db.select().from(usageDays).where(eq(usageDays.keyId, k.id))).toEqual([]);
    await usage.close();
  });

  it("skips keys deleted meanwhile instead of failing the whole batch", async () => {
    const kept = await insertKey(database.db);
    const gone = await insertKey(database.db);
    const usage = recorder();
    for (const k of [kept, gone])
      usage.record({ keyId: k.id, atMs: Date.now(), route: "/x", status: 200, latencyMs: 1 });
    await database.db.delete(apiKeys).where(eq(apiKeys.id, gone.id));
    expect(await usage.flush()).toBe(true);
    const [row] = await database.db.select().from(apiKeys).where(eq(apiKeys.id, kept.id));
    expect(row!.totalRequests).toBe(1);
    await usage.close();
  });

  // The planner hashed all of api_keys to join a batch (a sequential scan of every stored key
  // per batch), so a flush's cost grew with the keys stored, not the keys written. 30,000
  // stored keys and batches of 500 are on the far side of the line for both cost settings.
  it.skipIf(!process.env.TEST_DATABASE_URL)(
    "finds a batch's keys by index however many keys are stored (no sequential scan)",
    async () => {
      const ids = (await insertManyKeys(database.db, "stored", 30_000)).slice(0, 500);
      await database.db.execute(sql`analyze api_keys`);
      // How the write's own transaction read api_keys: the connection's counters not yet
      // published (they can include its earlier transactions), before and after the work.
      const counters = async (tx: Transaction) =>
        (
          await queryRows<{ seq: string; idx: string }>(
            tx,
            sql`select seq_scan as seq, idx_scan as idx from pg_stat_xact_user_tables
                 where relname = 'api_keys'`,
          )
        ).map((row) => ({ seq: Number(row.seq), idx: Number(row.idx) }))[0]!;
      const scans: { seq: number; idx: number }[] = [];
      const observed = new Proxy(database.db, {
        get(target, property, receiver) {
          if (property !== "transaction") return Reflect.get(target, property, receiver) as unknown;
          return (work: (tx: Transaction) => Promise<unknown>) =>
            target.transaction(async (tx) => {
              const before = await counters(tx);
              const result = await work(tx);
              const after = await counters(tx);
              scans.push({ seq: after.seq - before.seq, idx: after.idx - before.idx });
              return result;
            });
        },
      });
      const usage = createUsageRecorder({
        sink: createPostgresUsageSink(observed),
        keysPerWrite: 500,
        flushIntervalMs: 60_000,
        now: Date.now,
        log,
      });
      for (const id of ids) {
        usage.record({ keyId: id, atMs: Date.now(), route: "/x", status: 200, latencyMs: 1 });
      }
      expect(await usage.flush()).toBe(true);
      expect(scans).toHaveLength(1);
      expect(scans[0]!.seq).toBe(0);
      expect(scans[0]!.idx).toBeGreaterThanOrEqual(ids.length);
      const [row] = await queryRows<{ total: string }>(
        database.db,
        sql`select sum(total_requests) as total from api_keys where name = 'stored'`,
      );
      expect(Number(row!.total)).toBe(ids.length);
      await usage.close();
    },
  );

  it("writes many keys in bounded batches with exact counts, and retries only what failed", async () => {
    const owner = await insertKey(database.db);
    const ids = (
      await database.db
        .insert(apiKeys)
        .values(
          Array.from({ length: 450 }, (_, i) => ({
            ownerId: owner.ownerId,
            name: `chunk-${i}`,
            keyPrefix: "sk_live_test",
            keyHash: `chunk-test-${i}-${owner.id}`,
            tier: "free" as const,
            scopes: ["read:iocs"],
            rateLimitPerMinute: 10,
            rateLimitPerDay: 1_000,
          })),
        )
        .returning({ id: apiKeys.id })
    ).map((row) => row.id);
    const sink = createPostgresUsageSink(database.db);
    const batchSizes: number[] = [];
    let failSecond = true;
    const usage = createUsageRecorder({
      sink: {
        async write(batch) {
          // The second batch of the first flush fails as an outage does.
          if (batchSizes.length === 1 && failSecond) {
            failSecond = false;
            throw Object.assign(new Error("refused"), { code: "ECONNREFUSED" });
          }
          batchSizes.push(batch.keys.length);
          await sink.write(batch);
        },
        prune: () => Promise.resolve(),
      },
      keysPerWrite: 100,
      flushIntervalMs: 60_000,
      now: () => at("2026-06-01T12:00:00Z"),
      log,
    });
    // Key i gets (i % 5) + 1 requests, spread over two minutes of the same day (the limiter
    // counting each minute: 1, 2, 3 in the first, 1, 2 in the second).
    ids.forEach((keyId, i) => {
      for (let n = 0; n <= i % 5; n++) {
        usage.record({
          keyId,
          atMs: at("2026-06-01T10:00:00Z") + (n % 2) * 60_000,
          route: "/api/v1/iocs",
          status: n === 4 ? 429 : 200,
          latencyMs: 3,
          minuteQuota: Math.floor(n / 2) + 1,
        });
      }
    });
    expect(await usage.flush()).toBe(false);
    expect(usage.pendingKeys).toBe(350);
    expect(await usage.flush()).toBe(true);
    expect(batchSizes).toEqual([100, 100, 100, 100, 50]);

    const rows = await database.db
      .select({ id: apiKeys.id, total: apiKeys.totalRequests })
      .from(apiKeys)
      .where(eq(apiKeys.ownerId, owner.ownerId));
    const totals = new Map(rows.map((r) => [r.id, r.total]));
    ids.forEach((id, i) => expect(totals.get(id)).toBe((i % 5) + 1));
    const days = new Map(
      (await database.db.select().from(usageDays)).map((d) => [d.keyId, d] as const),
    );
    ids.forEach((id, i) => {
      const day = days.get(id)!;
      expect(day.requests).toBe((i % 5) + 1);
      expect(day.peakMinuteQuota).toBe(Math.ceil(((i % 5) + 1) / 2));
      expect(day.rateLimitedByHour[10]).toBe(i % 5 === 4 ? 1 : 0);
    });
    await usage.close();
  });

  it("with more keys waiting than one statement holds, writes each key once a minute at its own slot, spread out", async () => {
    const ids = await insertManyKeys(database.db, `coalesce-${Date.now()}`, 120);
    const sink = createPostgresUsageSink(database.db);
    let clock = at("2026-06-01T12:00:00Z");
    /** Keys written per tick; a tick whose write failed is "failed". */
    let writtenNow: string[] = [];
    let failNext = false;
    const usage = createUsageRecorder({
      sink: {
        async write(batch) {
          if (failNext) {
            failNext = false;
            throw Object.assign(new Error("refused"), { code: "ECONNREFUSED" });
          }
          await sink.write(batch);
          writtenNow.push(...batch.keys.map((k) => k.keyId));
        },
        prune: () => Promise.resolve(),
      },
      coalesceAboveKeys: 50,
      flushIntervalMs: 3_600_000,
      now: () => clock,
      log,
    });
    const use = (keyId: string) =>
      usage.record({ keyId, atMs: clock, route: "/api/v1/iocs", status: 200, latencyMs: 2 });
    ids.forEach(use);

    // The tick each key's slot falls on: the first whole second at or after it (its first
    // slot strictly after the first use, at 12:00:00).
    const start = clock;
    const slotTick = new Map(
      ids.map((id) => [id, Math.ceil((slotAfter(id, start, 60_000) - start) / 1_000)]),
    );
    // A write refused from the first tick from 20 on that has a key to write (ids are random,
    // so which tick that is varies).
    const failTick = Math.min(...[...slotTick.values()].filter((tick) => tick >= 20));

    // A minute of one-second ticks, every key used again after each: 120 keys waiting, so
    // each is written when its slot comes, once in the minute.
    const writes = new Map<string, number[]>();
    const perTick: number[] = [];
    let failedAt = -1;
    for (let second = 1; second <= 60; second++) {
      clock += 1_000;
      writtenNow = [];
      if (second === 20) failNext = true;
      const written = await usage.flush("due");
      if (!written) failedAt = second;
      perTick.push(writtenNow.length);
      for (const keyId of writtenNow) writes.set(keyId, [...(writes.get(keyId) ?? []), second]);
      ids.forEach(use);
    }
    expect(failedAt).toBe(failTick);
    expect(perTick[failTick - 1]).toBe(0);
    // Every key exactly once, at its slot's tick; the failed tick's keys at the next one.
    expect(failTick).toBeLessThan(60);
    for (const id of ids) {
      const tick = slotTick.get(id)!;
      expect(writes.get(id)).toEqual([tick === failTick ? tick + 1 : tick]);
    }
    // Spread over the minute, not all at once: about 2 a tick (a hash spreads them).
    expect(perTick.filter((n) => n > 0).length).toBeGreaterThanOrEqual(30);
    expect(Math.max(...perTick)).toBeLessThanOrEqual(20);

    // Each key's row holds what it had when its slot came (1 + the ticks before it), and
    // last_used_at that moment; the rest is still in memory.
    const stored = async () =>
      new Map(
        (
          await database.db
            .select({ id: apiKeys.id, total: apiKeys.totalRequests, last: apiKeys.lastUsedAt })
            .from(apiKeys)
            .where(sql`${apiKeys.id} in ${ids}`)
        ).map((row) => [row.id, row] as const),
      );
    for (const [keyId, row] of await stored()) {
      const second = writes.get(keyId)![0]!;
      expect(row.total).toBe(second);
      expect(row.last!.getTime()).toBe(start + (second - 1) * 1_000);
    }
    expect(usage.pendingRequests).toBe(
      120 * 61 - [...writes.values()].reduce((n, [s]) => n + s!, 0),
    );

    // A graceful flush writes everything held: every key's 61 requests, in its day row too.
    expect(await usage.flush()).toBe(true);
    expect(usage.pendingKeys).toBe(0);
    for (const row of (await stored()).values()) expect(row.total).toBe(61);
    const days = await database.db
      .select({ requests: usageDays.requests })
      .from(usageDays)
      .where(sql`${usageDays.keyId} in ${ids}`);
    expect(days.map((d) => d.requests)).toEqual(ids.map(() => 61));

    // With no more keys waiting than the threshold, a tick writes them all at once.
    writtenNow = [];
    ids.slice(0, 50).forEach(use);
    expect(await usage.flush("due")).toBe(true);
    expect(writtenNow).toHaveLength(50);
    await usage.close();
  });

  it("a key used at the very millisecond of its slot, just after its write, waits a whole period", async () => {
    // The slot falls on whole milliseconds of the clock; ticks too. A use stamped with the
    // same millisecond as the tick that wrote the key must not be due again at the next tick.
    const keyId = "3f0c6a52-9d1e-4b7a-8c25-5e1f0a9b7d64";
    const written: number[] = [];
    let clock = at("2026-06-01T12:00:00Z");
    const usage = createUsageRecorder({
      sink: {
        write(batch) {
          written.push(...batch.keys.map(() => clock));
          return Promise.resolve();
        },
        prune: () => Promise.resolve(),
      },
      coalesceAboveKeys: 0,
      flushIntervalMs: 3_600_000,
      now: () => clock,
      log,
    });
    const use = () =>
      usage.record({
        keyId,
        atMs: clock,
        route: "/api/v1/iocs",
        status: 200,
        latencyMs: 2,
      });
    const slot = slotAfter(keyId, clock, 60_000);
    use();
    clock = slot;
    expect(await usage.flush("due")).toBe(true);
    expect(written).toEqual([slot]);
    use();
    for (let tick = 1; tick < 60; tick++) {
      clock = slot + tick * 1_000;
      await usage.flush("due");
    }
    expect(written).toEqual([slot]);
    clock = slot + 60_000;
    await usage.flush("due");
    expect(written).toEqual([slot, slot + 60_000]);
    await usage.close();
  });

  it("replays a spill file written before cells had a peak: its own quota is the minute's peak", async () => {
    const k = await insertKey(database.db);
    const dir = mkdtempSync(path.join(tmpdir(), "keyservice-spill-"));
    try {
      // The recorder's buffer as the previous version spilled it (no `peakMinuteQuota`).
      const minute = (start: string, requests: number, quotaUsed: number) => ({
        keyId: k.id,
        start: at(start),
        requests,
        byStatus: [200, requests],
        routes: ["/api/v1/iocs", requests],
        latencySumMs: requests,
        latency: [bucketIndex(1), requests],
        quotaUsed,
      });
      const keys = [
        {
          keyId: k.id,
          requests: 7,
          lastUsedAtMs: at("2026-06-01T10:01:30Z"),
          minutes: [minute("2026-06-01T10:00:00Z", 3, 3), minute("2026-06-01T10:01:00Z", 4, 5)],
        },
      ];
      writeFileSync(path.join(dir, "usage-1-1-abcd.json"), JSON.stringify({ version: 1, keys }));
      const result = await replaySpilledUsage(dir, createPostgresUsageSink(database.db));
      expect(result).toMatchObject({ files: 1, requests: 7, kept: [] });
      expect(readdirSync(dir)).toEqual([]);
      const [day] = await database.db.select().from(usageDays).where(eq(usageDays.keyId, k.id));
      expect(day).toMatchObject({ requests: 7, quotaUsed: 8, peakMinuteQuota: 5 });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("prunes rollups older than the retention", async () => {
    const k = await insertKey(database.db);
    const usage = recorder();
    usage.record({
      keyId: k.id,
      atMs: at("2026-02-01T10:00:00Z"),
      route: "/x",
      status: 200,
      latencyMs: 1,
    });
    usage.record({
      keyId: k.id,
      atMs: at("2026-05-30T10:00:00Z"),
      route: "/x",
      status: 200,
      latencyMs: 1,
    });
    await usage.flush();
    await usage.prune(); // now = 2026-06-01, 90 days back = 2026-03-03
    const days = await database.db.select().from(usageDays).where(eq(usageDays.keyId, k.id));
    expect(days.map((d) => d.day)).toEqual(["2026-05-30"]);
    await usage.close();
  });
});
