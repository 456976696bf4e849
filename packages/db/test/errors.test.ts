import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sql } from "drizzle-orm";
import postgres from "postgres";
import { describeError, isDatabaseUnavailable } from "../src/errors.js";
import { createTestDatabase, type TestDatabase } from "../src/testing.js";

let database: TestDatabase;
beforeAll(async () => {
  database = await createTestDatabase(process.env.TEST_DATABASE_URL);
});
afterAll(async () => {
  await database.dispose();
});

describe("describeError", () => {
  it("never repeats the SQL or parameters of a failed query", async () => {
    const failure = await database.db
      .execute(sql`select * from no_such_table where secret = ${"0123456789abcdef-secret"}`)
      .then(
        () => null,
        (error: unknown) => error,
      );
    expect(failure).not.toBeNull();
    const described = describeError(failure);
    const text = JSON.stringify(described);
    expect(text).not.toContain("secret");
    expect(text).not.toMatch(/select|no_such_table/i);
    expect(described.code).toBe("42P01");
  });

  it("keeps the message of other errors, with URL credentials masked", () => {
    const described = describeError(new Error("connect failed: redis://user:hunter2@cache:6379"));
    expect(described).toEqual({
      type: "Error",
      message: "connect failed: redis://***@cache:6379",
    });
  });

  it.runIf(process.env.TEST_DATABASE_URL)(
    "recognises a database closed to new connections as unavailable (found by a flaky outage test)",
    async () => {
      const admin = postgres(process.env.TEST_DATABASE_URL!, { max: 1, onnotice: () => {} });
      const name = `keyservice_closed_${Date.now()}`;
      await admin.unsafe(`create database ${name}`);
      await admin.unsafe(`alter database ${name} allow_connections false`);
      const url = new URL(process.env.TEST_DATABASE_URL!);
      url.pathname = `/${name}`;
      const client = postgres(url.toString(), { max: 1, onnotice: () => {} });
      try {
        const failure = await client`select 1`.then(
          () => null,
          (error: unknown) => error,
        );
        expect(isDatabaseUnavailable(failure)).toBe(true);
      } finally {
        await client.end();
        await admin.unsafe(`drop database ${name} with (force)`);
        await admin.end();
      }
    },
  );

  it("recognises connection failures as the database being unavailable", () => {
    expect(isDatabaseUnavailable(Object.assign(new Error("x"), { code: "ECONNREFUSED" }))).toBe(
      true,
    );
    expect(isDatabaseUnavailable(new Error("x", { cause: { code: "57P01" } }))).toBe(true);
    expect(isDatabaseUnavailable(Object.assign(new Error("x"), { code: "23505" }))).toBe(false);
  });
});
