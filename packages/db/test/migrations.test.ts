import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sql } from "drizzle-orm";
import { createTestDatabase, type TestDatabase } from "../src/testing.js";

let database: TestDatabase;
beforeAll(async () => {
  database = await createTestDatabase(process.env.TEST_DATABASE_URL);
});
afterAll(async () => {
  await database.dispose();
});

describe("migrations", () => {
  it("create every table on an empty database", async () => {
    const result: unknown = await database.db.execute(
      sql`select table_name from information_schema.tables where table_schema = 'public' order by table_name`,
    );
    // postgres.js returns the rows themselves, PGlite an object holding them.
    const tables = (Array.isArray(result) ? result : (result as { rows: unknown[] }).rows) as {
      table_name: string;
    }[];
    expect(tables.map((r) => r.table_name)).toEqual(
      expect.arrayContaining(["api_keys", "audit_events", "sessions", "users"]),
    );
  });

  it("enforce case-insensitive unique emails", async () => {
    await database.db.execute(
      sql`insert into users (id, email, password_hash) values ('u1', 'A@example.com', 'x')`,
    );
    await expect(
      database.db.execute(
        sql`insert into users (id, email, password_hash) values ('u2', 'a@EXAMPLE.com', 'x')`,
      ),
    ).rejects.toThrow();
  });
});
