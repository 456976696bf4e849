import { randomBytes } from "node:crypto";
import net from "node:net";
import { apiKeys, users, type Database } from "@repo/db";
import { TIERS, type Tier } from "../../src/config/tiers.js";
import { generateKey } from "../../src/keys/format.js";

/** A user and a key inserted straight into the database. */
export async function insertKey(
  db: Database,
  options: { tier?: Tier; perMinute?: number; perDay?: number } = {},
) {
  const tier = options.tier ?? "free";
  const ownerId = randomBytes(15).toString("base64url");
  await db
    .insert(users)
    .values({ id: ownerId, email: `${ownerId}@example.com`, passwordHash: "x", tier });
  const generated = generateKey();
  const [row] = await db
    .insert(apiKeys)
    .values({
      ownerId,
      name: "gateway-test",
      keyPrefix: generated.prefix,
      keyHash: generated.hash,
      tier,
      scopes: [...TIERS[tier].scopes],
      rateLimitPerMinute: options.perMinute ?? TIERS[tier].rateLimitPerMinute,
      rateLimitPerDay: options.perDay ?? TIERS[tier].rateLimitPerDay,
    })
    .returning({ id: apiKeys.id });
  return { ...generated, id: row!.id, ownerId };
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
