import net from "node:net";
import Fastify from "fastify";
import { queryRows, sql, type Database } from "@repo/db";
import { insertTestKey, onTestKeyInserted, waitUntilKnown } from "../../api/src/testing.js";
import { extractCredential } from "../src/extract-credential.js";
import type { Gateway } from "../src/verify.js";

/** A logger that writes nothing. */
export const quietLog = Fastify({ logger: false }).log;

/** A key as the gateway sees it when sent in the X-API-Key header. */
export const asKey = (key: string) =>
  extractCredential({ raw: { rawHeaders: ["x-api-key", key] } }, false);

/** A user and a key inserted straight into the database. */
export { insertTestKey as insertKey } from "../../api/src/testing.js";

/**
 * `count` Pro keys of one new user, all named `name`, inserted in one statement (for tests
 * that need thousands); their ids, in the order of their hashes.
 */
export async function insertManyKeys(db: Database, name: string, count: number) {
  const owner = await insertTestKey(db);
  await db.execute(sql`
    insert into api_keys (owner_id, name, key_prefix, key_hash, tier, scopes,
                          rate_limit_per_minute, rate_limit_per_day)
    select ${owner.ownerId}, ${name}, 'sk_live_test', ${name} || '-' || g, 'pro', '{read:iocs}',
           10, 1000
      from generate_series(1, ${count}::int) g`);
  const rows = await queryRows<{ id: string }>(
    db,
    sql`select id from api_keys where name = ${name} order by key_hash`,
  );
  return rows.map((row) => row.id);
}

/**
 * Until the returned function is called, `insertKey(db)` returns once `gateway` has the new
 * key in its key filter (on Postgres its NOTIFY arrives asynchronously; tests use keys at once).
 */
export function waitForNewKeys(db: Database, gateway: Gateway): () => void {
  return onTestKeyInserted(waitUntilKnown(db, (hash) => gateway.keyFilter.mightExist(hash)));
}

/**
 * A TCP relay in front of Postgres that can be cut and restored: a real outage as the
 * application sees one (connections reset, new ones refused), without touching the server.
 */
export async function startTcpRelay(target: { host: string; port: number }) {
  const sockets = new Set<net.Socket>();
  let server: net.Server | null = null;
  let port = 0;
  async function listen() {
    server = net.createServer((client) => {
      const upstream = net.connect(target.port, target.host);
      sockets.add(client).add(upstream);
      client.pipe(upstream).pipe(client);
      const drop = () => {
        client.destroy();
        upstream.destroy();
        sockets.delete(client);
        sockets.delete(upstream);
      };
      client.on("error", drop).on("close", drop);
      upstream.on("error", drop).on("close", drop);
    });
    await new Promise<void>((resolve) => server!.listen(port, "127.0.0.1", resolve));
    port = (server.address() as net.AddressInfo).port;
  }
  await listen();
  return {
    get port() {
      return port;
    },
    async down() {
      const closing = new Promise((resolve) => server!.close(resolve));
      for (const socket of sockets) socket.destroy();
      sockets.clear();
      await closing;
    },
    up: listen,
    close() {
      for (const socket of sockets) socket.destroy();
      server?.close();
    },
  };
}
