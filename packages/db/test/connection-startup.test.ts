import net from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sql } from "drizzle-orm";
import { openDatabase } from "../src/client.js";
import { apiKeys, users } from "../src/index.js";
import { createTestDatabase, type TestDatabase } from "../src/testing.js";

/**
 * A new pool connection that is cut while it starts up must fail its own query, not the
 * process. postgres.js's per-connection array-types query drops its promise when it fails
 * (porsager/postgres#1192), an unhandled rejection that ends Node: the pools start with the
 * types read once instead (availability.ts, ArrayTypes). The proxy below cuts any connection
 * that sends that query; Vitest fails the run on an unhandled rejection.
 */
const POSTGRES = process.env.TEST_DATABASE_URL;

async function startCuttingProxy(target: { host: string; port: number }) {
  let armed = false;
  let typeQueries = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(target.port, target.host);
    sockets.add(client).add(upstream);
    client.on("data", (chunk: Buffer) => {
      if (armed && chunk.includes("typcategory")) {
        typeQueries++;
        client.destroy();
        upstream.destroy();
        return;
      }
      upstream.write(chunk);
    });
    upstream.pipe(client);
    const drop = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on("error", drop).on("close", drop);
    upstream.on("error", drop).on("close", drop);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    arm: () => (armed = true),
    get typeQueries() {
      return typeQueries;
    },
    close() {
      for (const socket of sockets) socket.destroy();
      server.close();
    },
  };
}

describe.skipIf(!POSTGRES)("pool connections starting up (needs TEST_DATABASE_URL)", () => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createTestDatabase(POSTGRES);
  });
  afterAll(async () => {
    await database?.dispose();
  });

  it("never run the array-types query, and arrays still go both ways", async () => {
    const url = new URL(database.url!);
    const proxy = await startCuttingProxy({
      host: url.hostname,
      port: Number(url.port || 5432),
    });
    url.host = `127.0.0.1:${proxy.port}`;
    const handle = await openDatabase({ kind: "postgres", url: url.toString(), poolSize: 4 });
    try {
      proxy.arm(); // from here on, a connection sending the types query is cut
      // Several connections of each pool open at once.
      const [arrays] = await Promise.all([
        handle.db.execute(
          sql`select ${sql.param(["x", "y,z", 'q"uote'])}::text[] as a, ${sql.param([1, 2])}::int[] as n`,
        ),
        ...Array.from({ length: 6 }, () => handle.db.execute(sql`select pg_sleep(0.05)`)),
        handle.dataPlaneDb.execute(sql`select 1`),
        handle.usageDb.execute(sql`select 1`),
      ]);
      // postgres.js answers with an array of rows.
      const rows = arrays as { a: string[]; n: number[] }[];
      expect(rows[0]).toEqual({ a: ["x", "y,z", 'q"uote'], n: [1, 2] });
      // An array column through drizzle, written and read on pool connections.
      await handle.db.insert(users).values({
        id: "arrays-user",
        email: "arrays@example.com",
        passwordHash: "unused",
        tier: "free",
      });
      const [row] = await handle.db
        .insert(apiKeys)
        .values({
          ownerId: "arrays-user",
          name: "arrays",
          keyPrefix: "sk_live_arra",
          keyHash: "a".repeat(64),
          tier: "free",
          scopes: ["read:iocs", "read:stix"],
          rateLimitPerMinute: 1,
          rateLimitPerDay: 1,
          allowedIps: ["192.0.2.0/24"],
        })
        .returning({ scopes: apiKeys.scopes, allowedIps: apiKeys.allowedIps });
      expect(row).toEqual({ scopes: ["read:iocs", "read:stix"], allowedIps: ["192.0.2.0/24"] });
      expect(proxy.typeQueries).toBe(0);
    } finally {
      await handle.close();
      proxy.close();
    }
  });
});
