import { createTestDatabase, type TestDatabase } from "@repo/db/testing";
import { queryRows, sql, type Database } from "@repo/db";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  ADDRESSES_PER_WRITE,
  MAX_ADDRESSES_PER_KEY,
  createAddressRecorder,
} from "../src/address-recorder.js";
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
});
