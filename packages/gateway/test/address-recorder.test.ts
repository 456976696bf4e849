import { createTestDatabase, type TestDatabase } from "@repo/db/testing";
import { queryRows, sql, type Database } from "@repo/db";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MAX_ADDRESSES_PER_KEY } from "@repo/core";
import {
  ADDRESSES_PER_WRITE,
  KNOWN_ADDRESS_WRITE_MS,
  createAddressRecorder,
} from "../src/address-recorder.js";
import { createPostgresUsageSink, createUsageRecorder } from "../src/usage-meter.js";
import { slotAfter } from "../src/write-slots.js";
import { insertManyKeys } from "./helpers.js";

/** The address recorder writing real rows (PGlite, or Postgres with TEST_DATABASE_URL). */
let database: TestDatabase;
const warnings: string[] = [];
const log = { warn: (_obj: object, msg: string) => warnings.push(msg) };

beforeAll(async () => {
  database = await createTestDatabase(process.env.TEST_DATABASE_URL);
});
afterAll(async () => {
  await database.dispose();
});

/**
 * The database as the recorder sees it, counting its transactions; the ones numbered in
 * `failing` (from 1) fail as an outage does, before writing anything.
 */
function observed(db: Database, failing: number[]) {
  const calls = { transactions: 0 };
  const proxy = new Proxy(db, {
    get(target, property, receiver) {
      if (property !== "transaction") return Reflect.get(target, property, receiver) as unknown;
      return (...args: Parameters<Database["transaction"]>) => {
        calls.transactions++;
        if (failing.includes(calls.transactions)) {
          return Promise.reject(Object.assign(new Error("refused"), { code: "ECONNREFUSED" }));
        }
        return target.transaction(...args);
      };
    },
  });
  return { db: proxy, calls };
}

/** One key's stored addresses: address → [requests, first seen, last seen] (ms). */
async function storedFor(keyId: string) {
  const rows = await queryRows<{
    address: string;
    requests: string;
    first_seen_at: string | Date;
    last_seen_at: string | Date;
  }>(
    database.db,
    sql`select address, requests, first_seen_at, last_seen_at from api_key_addresses
         where key_id = ${keyId}`,
  );
  return Object.fromEntries(
    rows.map((row) => [
      row.address,
      [
        Number(row.requests),
        new Date(row.first_seen_at).getTime(),
        new Date(row.last_seen_at).getTime(),
      ],
    ]),
  );
}

/** New-address alerts raised for a key. */
async function alertsFor(keyId: string) {
  const rows = await queryRows<{ address: string }>(
    database.db,
    sql`select data->>'address' as address from alert_events
         where type = 'key.new_address' and data->>'key_id' = ${keyId} order by address`,
  );
  return rows.map((row) => row.address);
}

describe("address recorder", () => {
  it("writes any number of keys in bounded slices; a failed slice and the rest are retried, none twice", async () => {
    const ids = await insertManyKeys(database.db, "addresses", 4500);
    const { db, calls } = observed(database.db, [2]);
    const addresses = createAddressRecorder({ db, log });
    const now = Date.now();
    // The first key from 301 addresses (it keeps the last 100), every other key from one.
    for (let i = 0; i <= 300; i++) addresses.record(ids[0]!, `10.1.${i >> 8}.${i & 255}`, now);
    ids.slice(1).forEach((id, i) => addresses.record(id, `10.2.${i >> 8}.${i & 255}`, now));

    const stored = async () =>
      (
        await queryRows<{ rows: string; requests: string }>(
          database.db,
          sql`select count(*) as rows, coalesce(sum(a.requests), 0) as requests
                from api_key_addresses a join api_keys k on k.id = a.key_id
               where k.name = 'addresses'`,
        )
      ).map((row) => ({ rows: Number(row.rows), requests: Number(row.requests) }))[0]!;

    // The first slice (the big key and 1,699 others: 2,000 addresses) is written; the second
    // fails, and it and the third stay buffered.
    expect(await addresses.flush()).toBe(false);
    const first = MAX_ADDRESSES_PER_KEY + (ADDRESSES_PER_WRITE - 301);
    expect(await stored()).toEqual({ rows: first, requests: first });
    expect(addresses.pending).toBe(4500 - 1700);
    expect(warnings).toContain("address write failed: kept in memory, retrying");

    expect(await addresses.flush()).toBe(true);
    const all = MAX_ADDRESSES_PER_KEY + 4499;
    expect(await stored()).toEqual({ rows: all, requests: all });
    expect(addresses.pending).toBe(0);
    // The first flush stopped at its failed second slice; the second wrote the 2,800 left in 2.
    expect(calls.transactions).toBe(4);
  });

  it("writes a new address at the next tick and a known one at its key's slot once a minute, losing no count", async () => {
    const [keyId] = await insertManyKeys(database.db, "known-address", 1);
    const { db, calls } = observed(database.db, [7]);
    const addresses = createAddressRecorder({ db, log });
    const t0 = Date.parse("2026-12-01T10:00:00Z");

    addresses.record(keyId!, "192.0.2.1", t0);
    expect(await addresses.flush(t0 + 1_000, "due")).toBe(true);
    expect(await storedFor(keyId!)).toEqual({ "192.0.2.1": [1, t0, t0] });

    // Seen again within the minute: counted in memory, no write.
    for (let i = 0; i < 3; i++) addresses.record(keyId!, "192.0.2.1", t0 + 2_000 + i);
    expect(await addresses.flush(t0 + 3_000, "due")).toBe(true);
    expect(calls.transactions).toBe(1);
    expect(addresses.pending).toBe(1);
    expect(await storedFor(keyId!)).toEqual({ "192.0.2.1": [1, t0, t0] });

    // A new address of the same key is written at the next tick.
    addresses.record(keyId!, "192.0.2.2", t0 + 4_000);
    expect(await addresses.flush(t0 + 5_000, "due")).toBe(true);
    expect(await storedFor(keyId!)).toEqual({
      "192.0.2.1": [1, t0, t0],
      "192.0.2.2": [1, t0 + 4_000, t0 + 4_000],
    });

    // The known address's three requests are written at the key's slot in the minute, half a
    // minute to a minute and a half after its last write: not a millisecond before, and by
    // the first tick after that slot's second.
    const slot = (afterMs: number) => slotAfter(keyId!, afterMs, KNOWN_ADDRESS_WRITE_MS);
    const secondAfter = (ms: number) => Math.floor(ms / 1_000) * 1_000 + 1_000;
    const rewrite = slot(t0 + 1_000 + KNOWN_ADDRESS_WRITE_MS / 2);
    expect(await addresses.flush(rewrite - 1, "due")).toBe(true);
    expect((await storedFor(keyId!))["192.0.2.1"]).toEqual([1, t0, t0]);
    expect(await addresses.flush(secondAfter(rewrite), "due")).toBe(true);
    expect((await storedFor(keyId!))["192.0.2.1"]).toEqual([4, t0, t0 + 2_002]);
    expect(addresses.pending).toBe(0);

    // Used all along, it is rewritten at the same slot a minute later, not before.
    addresses.record(keyId!, "192.0.2.1", rewrite + 1);
    expect(await addresses.flush(rewrite + KNOWN_ADDRESS_WRITE_MS - 1, "due")).toBe(true);
    expect((await storedFor(keyId!))["192.0.2.1"]).toEqual([4, t0, t0 + 2_002]);
    expect(await addresses.flush(secondAfter(rewrite + KNOWN_ADDRESS_WRITE_MS), "due")).toBe(true);
    expect((await storedFor(keyId!))["192.0.2.1"]).toEqual([5, t0, rewrite + 1]);

    // Idle for a minute after their last write, both are forgotten (memory returns)...
    expect(addresses.tracked).toBe(1);
    await addresses.flush(secondAfter(rewrite + 2 * KNOWN_ADDRESS_WRITE_MS), "due");
    expect(addresses.tracked).toBe(0);
    // ...and written at the next tick when seen again.
    const t1 = t0 + 10 * KNOWN_ADDRESS_WRITE_MS;
    addresses.record(keyId!, "192.0.2.1", t1);
    await addresses.flush(t1 + 1_000, "due");
    expect((await storedFor(keyId!))["192.0.2.1"]).toEqual([6, t0, t1]);

    // An explicit flush (tests, shutdown) writes everything at once.
    addresses.record(keyId!, "192.0.2.1", t1 + 2_000);
    expect(await addresses.flush(t1 + 3_000)).toBe(true);
    expect((await storedFor(keyId!))["192.0.2.1"]).toEqual([7, t0, t1 + 2_000]);

    // A write that fails (the 7th transaction) keeps its count, retried at the next tick
    // though the address was written less than a minute ago.
    addresses.record(keyId!, "192.0.2.1", t1 + 4_000);
    expect(await addresses.flush(t1 + 5_000)).toBe(false);
    addresses.record(keyId!, "192.0.2.1", t1 + 5_500);
    expect(await addresses.flush(t1 + 6_000, "due")).toBe(true);
    expect((await storedFor(keyId!))["192.0.2.1"]).toEqual([9, t0, t1 + 5_500]);
    expect(calls.transactions).toBe(8);
    // Two addresses, each first seen on the key's first day: no new-address alert.
    expect(await alertsFor(keyId!)).toEqual([]);
  });

  it("addresses first written together are rewritten spread over the minute, not together", async () => {
    const ids = await insertManyKeys(database.db, "address-spread", 120);
    const addresses = createAddressRecorder({ db: database.db, log });
    const t0 = Date.parse("2026-12-01T10:00:00Z");
    const stored = async () =>
      new Map(
        (
          await queryRows<{ key_id: string; requests: string }>(
            database.db,
            sql`select key_id, requests from api_key_addresses
                 where key_id = any(${`{${ids.join(",")}}`}::uuid[])`,
          )
        ).map((row) => [row.key_id, Number(row.requests)] as const),
      );
    for (const keyId of ids) addresses.record(keyId, "192.0.2.1", t0);
    expect(await addresses.flush(t0 + 1_000, "due")).toBe(true);
    expect([...(await stored()).values()]).toEqual(ids.map(() => 1));

    // Every key used every second for a minute and a half: each is rewritten at its slot.
    const rewrittenAt = new Map<string, number[]>();
    const perTick: number[] = [];
    let before = await stored();
    for (let second = 2; second <= 92; second++) {
      for (const keyId of ids) addresses.record(keyId, "192.0.2.1", t0 + second * 1_000 - 500);
      expect(await addresses.flush(t0 + second * 1_000, "due")).toBe(true);
      const now = await stored();
      let written = 0;
      for (const keyId of ids) {
        if (now.get(keyId) === before.get(keyId)) continue;
        written++;
        rewrittenAt.set(keyId, [...(rewrittenAt.get(keyId) ?? []), second]);
      }
      perTick.push(written);
      before = now;
    }
    expect(rewrittenAt.size).toBe(ids.length);
    for (const [first, ...later] of rewrittenAt.values()) {
      expect(first).toBeGreaterThanOrEqual(31);
      expect(first).toBeLessThanOrEqual(91);
      // Then a minute after, at the same slot.
      expect(later).toEqual(first! + 60 <= 92 ? [first! + 60] : []);
    }
    // About 2 a second: spread by the keys' ids, not all 120 at second 61.
    expect(perTick.filter((n) => n > 0).length).toBeGreaterThanOrEqual(30);
    expect(Math.max(...perTick)).toBeLessThanOrEqual(20);
    await addresses.flush(t0 + 93_000);
    expect([...(await stored()).values()]).toEqual(ids.map(() => 92));
  });

  it("a key used all along is rewritten once a minute for as long as it is used, then forgotten", async () => {
    const [keyId] = await insertManyKeys(database.db, "address-minutes", 1);
    const addresses = createAddressRecorder({ db: database.db, log });
    const t0 = Date.parse("2026-12-01T10:00:00Z");
    const requests = async () => (await storedFor(keyId!))["192.0.2.9"]?.[0] ?? 0;
    let last = 0;
    const writes: number[] = [];
    // Six minutes of one request a second, each followed by a tick.
    for (let second = 0; second < 360; second++) {
      addresses.record(keyId!, "192.0.2.9", t0 + second * 1_000);
      await addresses.flush(t0 + second * 1_000 + 500, "due");
      const now = await requests();
      if (now !== last) writes.push(second);
      last = now;
    }
    // Written at once (a new address), then once a minute at the key's slot.
    expect(writes[0]).toBe(0);
    const gaps = writes.slice(1).map((s, i) => s - writes[i]!);
    expect(gaps.slice(1)).toEqual(gaps.slice(1).map(() => 60));
    expect(writes.length).toBeGreaterThanOrEqual(6);
    // Unused from then on: forgotten within two minutes, and everything it did was written.
    await addresses.flush(t0 + 361_000);
    expect(await requests()).toBe(360);
    for (let second = 361; second < 361 + 130; second++) {
      await addresses.flush(t0 + second * 1_000, "due");
    }
    expect(addresses.tracked).toBe(0);
  });

  it("a key's first address can be forgotten and come back while another stays in use, losing no count", async () => {
    const [keyId] = await insertManyKeys(database.db, "address-comes-back", 1);
    const addresses = createAddressRecorder({ db: database.db, log });
    const t0 = Date.parse("2026-12-01T10:00:00Z");
    const [a, b, c] = ["192.0.2.1", "192.0.2.2", "192.0.2.3"];
    addresses.record(keyId!, a, t0);
    addresses.record(keyId!, b, t0);
    await addresses.flush(t0 + 500, "due");
    // Only b in use for two minutes, twice a second, a tick a second: a, idle a minute after
    // its write, goes.
    for (let second = 2; second <= 130; second++) {
      addresses.record(keyId!, b, t0 + second * 1_000);
      addresses.record(keyId!, b, t0 + second * 1_000 + 100);
      await addresses.flush(t0 + second * 1_000 + 500, "due");
    }
    expect(addresses.tracked).toBe(1);
    // A new address, then a again: each is new in memory, so written at the next tick.
    const t1 = t0 + 131_000;
    addresses.record(keyId!, c, t1);
    await addresses.flush(t1 + 500, "due");
    expect((await storedFor(keyId!))[c]).toEqual([1, t1, t1]);
    const t2 = t1 + 1_000;
    addresses.record(keyId!, a, t2);
    await addresses.flush(t2 + 500, "due");
    expect((await storedFor(keyId!))[a]).toEqual([2, t0, t2]);
    // All three once more, then everything written: every request counted once.
    const t3 = t2 + 1_000;
    for (const address of [a, b, c]) addresses.record(keyId!, address, t3);
    expect(await addresses.flush(t3 + 500)).toBe(true);
    expect(await storedFor(keyId!)).toEqual({
      [a]: [3, t0, t3],
      [b]: [260, t0, t3],
      [c]: [2, t1, t3],
    });
    expect(addresses.pending).toBe(0);
  });

  it("a key used from many addresses keeps recording new ones once its known ones fill the buffer", async () => {
    const [keyId] = await insertManyKeys(database.db, "many-addresses", 1);
    const addresses = createAddressRecorder({ db: database.db, log });
    const day1 = Date.parse("2026-12-01T10:00:00Z");
    // 500 addresses (the most buffered per key) on the first day, written.
    for (let i = 0; i < 500; i++) addresses.record(keyId!, `10.3.${i >> 8}.${i & 255}`, day1);
    await addresses.flush(day1 + 1_000, "due");
    // Two days later, within the minute, one of them again and a new one: neither is dropped,
    // and the new one is written at once with its alert.
    const day3 = day1 + 2 * 86_400_000;
    addresses.record(keyId!, "10.3.0.0", day1 + 2_000);
    addresses.record(keyId!, "198.51.100.9", day1 + 3_000);
    const dropped = warnings.length;
    await addresses.flush(day1 + 4_000, "due");
    expect(warnings.slice(dropped)).toEqual([]);
    expect((await storedFor(keyId!))["198.51.100.9"]).toEqual([1, day1 + 3_000, day1 + 3_000]);
    addresses.record(keyId!, "203.0.113.77", day3);
    await addresses.flush(day3 + 1_000, "due");
    expect(await alertsFor(keyId!)).toEqual(["203.0.113.77"]);
    // That tick also wrote the known one's second request (its minute was over); the key
    // keeps its 100 most recently seen.
    const stored = await storedFor(keyId!);
    expect(Object.keys(stored)).toHaveLength(MAX_ADDRESSES_PER_KEY);
    expect(stored["203.0.113.77"]).toEqual([1, day3, day3]);
    expect(stored["10.3.0.0"]).toEqual([2, day1, day1 + 2_000]);
  });

  it("the usage ticks leave known addresses for later; closing writes them", async () => {
    const [keyId] = await insertManyKeys(database.db, "ticks", 1);
    let now = Date.parse("2026-12-01T10:00:00Z");
    const addresses = createAddressRecorder({ db: database.db, log });
    const usage = createUsageRecorder({
      sink: createPostgresUsageSink(database.db),
      flushIntervalMs: 20,
      now: () => now,
      log: { warn: log.warn, error: log.warn },
      addresses,
    });
    const request = (address: string) =>
      usage.record({
        keyId: keyId!,
        atMs: now,
        route: "/api/v1/iocs",
        status: 200,
        latencyMs: 1,
        address,
      });
    const ticked = async (done: () => boolean | Promise<boolean>) => {
      for (let i = 0; i < 200 && !(await done()); i++) await new Promise((r) => setTimeout(r, 10));
    };
    request("192.0.2.1");
    await ticked(async () => (await storedFor(keyId!))["192.0.2.1"] !== undefined);
    now += 1_000;
    request("192.0.2.1");
    request("192.0.2.7");
    // The tick writes the new address and the usage counts, not the known address.
    await ticked(async () => (await storedFor(keyId!))["192.0.2.7"] !== undefined);
    await ticked(() => usage.pendingKeys === 0);
    expect((await storedFor(keyId!))["192.0.2.1"]![0]).toBe(1);
    expect(addresses.pending).toBe(1);
    expect(await usage.close()).toBe(0);
    expect((await storedFor(keyId!))["192.0.2.1"]![0]).toBe(2);
    expect(addresses.pending).toBe(0);
  });
});
