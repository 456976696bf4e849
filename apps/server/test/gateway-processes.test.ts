import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eq, openDatabase, usageDays, type Database, type DatabaseHandle } from "@repo/db";
import { createTestDatabase, type TestDatabase } from "@repo/db/testing";
import { deleteRedisKeys } from "@repo/gateway/testing";
import { createKey, keyRow } from "./gateway-helpers.js";
import { setTimeout as sleep } from "node:timers/promises";

/**
 * The data plane across real server processes (`node --import tsx src/index.ts`): shared
 * limits through Redis, revocation through LISTEN/NOTIFY, and usage on SIGTERM. Several
 * processes on one database need PostgreSQL (PGlite is single-process); the SIGTERM case
 * also runs on an embedded database directory.
 */
const serverDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const POSTGRES = process.env.TEST_DATABASE_URL;
const REDIS = process.env.REDIS_URL;

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

interface Server {
  url: string;
  process: ChildProcess;
  output: string[];
  exited: Promise<number | null>;
}

async function startServer(env: Record<string, string>): Promise<Server> {
  const port = await freePort();
  const output: string[] = [];
  const child = spawn(process.execPath, ["--import", "tsx", "src/index.ts"], {
    cwd: serverDir,
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      NODE_ENV: "production",
      LOG_LEVEL: "warn",
      HOST: "127.0.0.1",
      PORT: String(port),
      USAGE_FLUSH_INTERVAL_MS: "200",
      ...env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  child.stdout.on("data", (chunk: Buffer) => output.push(chunk.toString()));
  child.stderr.on("data", (chunk: Buffer) => output.push(chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 300; i++) {
    if (child.exitCode !== null) break;
    try {
      if ((await fetch(`${url}/readyz`)).ok) return { url, process: child, output, exited };
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  child.kill("SIGKILL");
  throw new Error(`server did not start:\n${output.join("")}`);
}

async function stop(server: Server) {
  if (server.process.exitCode === null) server.process.kill("SIGTERM");
  return server.exited;
}

const call = (server: Server, key: string, url = "/api/v1/iocs") =>
  fetch(`${server.url}${url}`, { headers: { authorization: `Bearer ${key}` } });

/** Waits, if needed, so that a burst does not straddle a UTC minute boundary. */
async function awayFromMinuteEnd() {
  const intoMinute = Date.now() % 60_000;
  if (intoMinute > 50_000) await new Promise((resolve) => setTimeout(resolve, 60_100 - intoMinute));
}

describe.skipIf(!POSTGRES)(
  "two server processes on one PostgreSQL (needs TEST_DATABASE_URL)",
  () => {
    let database: TestDatabase;
    let a: Server;
    let b: Server;
    const prefix = `keyservice:test:${randomBytes(6).toString("hex")}:`;

    beforeAll(async () => {
      database = await createTestDatabase(POSTGRES);
      const env = {
        DATABASE_URL: database.url!,
        ...(REDIS ? { REDIS_URL: REDIS, REDIS_KEY_PREFIX: prefix } : {}),
      };
      [a, b] = await Promise.all([startServer(env), startServer(env)]);
    }, 60_000);
    afterAll(async () => {
      await Promise.all([a && stop(a), b && stop(b)]);
      await database?.dispose();
      if (REDIS) await deleteRedisKeys(REDIS, prefix);
    });

    it.skipIf(!REDIS)(
      "83: a burst split across both processes gives exactly the limit (needs REDIS_URL)",
      async () => {
        const k = await createKey(database.db, { perMinute: 20, perDay: 1_000 });
        await awayFromMinuteEnd();
        const responses = await Promise.all(
          Array.from({ length: 60 }, (_, i) => call(i % 2 ? a : b, k.key)),
        );
        const statuses = responses.map((r) => r.status);
        expect(statuses.filter((s) => s !== 200 && s !== 429)).toEqual([]);
        expect(statuses.filter((s) => s === 200)).toHaveLength(20);
        expect(statuses.filter((s) => s === 429)).toHaveLength(40);
        const remaining = responses
          .filter((r) => r.status === 200)
          .map((r) => Number(r.headers.get("x-ratelimit-remaining")))
          .sort((x, y) => x - y);
        expect(remaining).toEqual(Array.from({ length: 20 }, (_, i) => i));
        // Both processes flush their share of the usage: 60 attempts in total.
        let total = 0;
        for (let i = 0; i < 50 && total !== 60; i++) {
          await new Promise((resolve) => setTimeout(resolve, 100));
          total = (await keyRow(database.db, k.id)).totalRequests;
        }
        expect(total).toBe(60);
      },
    );

    it.skipIf(!REDIS)(
      "the day's busiest minute counts both processes' requests, as the shared limit does (needs REDIS_URL)",
      async () => {
        const k = await createKey(database.db, { perMinute: 100, perDay: 1_000 });
        await awayFromMinuteEnd();
        // One after the other: A takes the minute to 5, then B to 10. Each process alone
        // accepted 5, so a peak taken per process (or per process and summed late) differs.
        for (const server of [a, a, a, a, a, b, b, b, b, b]) {
          expect((await call(server, k.key)).status).toBe(200);
        }
        let day: { requests: number; peakMinuteQuota: number } | undefined;
        for (let i = 0; i < 50 && day?.requests !== 10; i++) {
          await sleep(100);
          [day] = await database.db.select().from(usageDays).where(eq(usageDays.keyId, k.id));
        }
        expect(day).toMatchObject({ requests: 10, peakMinuteQuota: 10 });
      },
    );

    it.skipIf(!REDIS)(
      "sign-in failures on one account from one address count across both processes (needs REDIS_URL)",
      async () => {
        const email = `shared.${randomBytes(4).toString("hex")}@example.com`;
        const attempt = (server: Server) =>
          fetch(`${server.url}/trpc/auth.signIn`, {
            method: "POST",
            headers: {
              origin: server.url.replace("127.0.0.1", "localhost"),
              "sec-fetch-site": "same-origin",
              "content-type": "application/json",
            },
            body: JSON.stringify({ email, password: "wrong guess" }),
          }).then((response) => response.status);
        const statuses: number[] = [];
        for (let i = 0; i < 12; i++) statuses.push(await attempt(i % 2 ? b : a));
        // The default allows 10 failures per (account, address): 10 in all, not 10 per process.
        expect(statuses).toEqual([...Array(10).fill(401), 429, 429]);
      },
    );

    it("a key revoked through one process is refused by the other within 1 second", async () => {
      // Sign up and mint through process A's real endpoints, as a user would.
      const origin = {
        origin: a.url.replace("127.0.0.1", "localhost"),
        "sec-fetch-site": "same-origin",
      };
      const signUp = await fetch(`${a.url}/trpc/auth.signUp`, {
        method: "POST",
        headers: { ...origin, "content-type": "application/json" },
        body: JSON.stringify({
          email: `multi.${Date.now()}@example.com`,
          password: "correct horse battery",
        }),
      });
      expect(signUp.status).toBe(200);
      const cookie = signUp.headers.getSetCookie()[0]!.split(";")[0]!;
      const minted = await fetch(`${a.url}/api/v1/keys`, {
        method: "POST",
        headers: { ...origin, cookie, "content-type": "application/json" },
        body: JSON.stringify({ name: "prod-multi-process" }),
      });
      expect(minted.status).toBe(201);
      const { key, id } = ((await minted.json()) as { data: { key: string; id: string } }).data;

      expect((await call(a, key)).status).toBe(200);
      expect((await call(b, key)).status).toBe(200); // now cached in B

      const revoke = await fetch(`${a.url}/api/v1/keys/${id}`, {
        method: "DELETE",
        headers: { ...origin, cookie },
      });
      expect(revoke.status).toBe(200);
      const revokedAt = performance.now();
      expect((await call(a, key)).status).toBe(401); // the very next request in A

      // Polled on whoami, which takes no quota: polls of a quota-taking route would run the
      // key into its 10-a-minute limit (429) if the notification took a few dozen ms.
      let status = 200;
      let elapsed = 0;
      while (status === 200 && elapsed < 1_000) {
        status = (await call(b, key, "/api/v1/whoami")).status;
        elapsed = performance.now() - revokedAt;
        if (status === 200) await sleep(5);
      }
      console.log(`revocation reached the other process after ≤ ${elapsed.toFixed(1)} ms`);
      expect(status).toBe(401);
    });
  },
);

describe("SIGTERM under load", () => {
  let database: TestDatabase | undefined;
  let dataDir: string | undefined;
  afterAll(async () => {
    await database?.dispose();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  /** The server's database: the Postgres test database, or an embedded one in a directory. */
  async function open(): Promise<{
    handle: DatabaseHandle;
    db: Database;
    env: Record<string, string>;
  }> {
    if (POSTGRES) {
      database ??= await createTestDatabase(POSTGRES);
      return { handle: database, db: database.db, env: { DATABASE_URL: database.url! } };
    }
    dataDir ??= mkdtempSync(path.join(tmpdir(), "keyservice-sigterm-"));
    const handle = await openDatabase({ kind: "pglite", dataDir: path.join(dataDir, "pglite") });
    return { handle, db: handle.db, env: { DATA_DIR: dataDir } };
  }

  it("92: every request answered before exit is in total_requests after a graceful stop", async () => {
    const seed = await open();
    const k = await createKey(seed.db, { tier: "pro" });
    if (!POSTGRES) await seed.handle.close(); // PGlite: one process at a time
    const server = await startServer({ ...seed.env, USAGE_FLUSH_INTERVAL_MS: "1000" });

    let answered = 0;
    let stopping = false;
    const worker = async () => {
      while (true) {
        try {
          const response = await call(server, k.key);
          await response.arrayBuffer();
          if (response.status === 200 || response.status === 429) answered++;
          else if (stopping) return;
        } catch {
          return; // connection refused or reset: the server is gone
        }
      }
    };
    const workers = Array.from({ length: 16 }, () => worker());
    for (let i = 0; i < 1_000 && answered < 300; i++) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    expect(answered).toBeGreaterThanOrEqual(300);
    stopping = true;
    server.process.kill("SIGTERM");
    await Promise.all(workers);
    const code = await server.exited;
    if (code !== 0 || process.env.DEBUG_GATEWAY) console.log(server.output.join(""));
    expect(code).toBe(0);

    const after = POSTGRES ? seed : await open();
    expect((await keyRow(after.db, k.id)).totalRequests).toBe(answered);
    if (!POSTGRES) await after.handle.close();
  }, 120_000);
});

describe.skipIf(!POSTGRES)("SIGTERM while the database is down (needs TEST_DATABASE_URL)", () => {
  it("93: the process exits within the grace period instead of hanging on the flush, its counts spilled", async () => {
    const database = await createTestDatabase(POSTGRES);
    const name = new URL(database.url!).pathname.slice(1);
    const { default: postgres } = await import("postgres");
    const admin = postgres(POSTGRES!, { max: 1, onnotice: () => {} });
    try {
      const key = await createKey(database.db);
      const spillDir = mkdtempSync(path.join(tmpdir(), "keyservice-spill-"));
      const server = await startServer({
        DATABASE_URL: database.url!,
        SHUTDOWN_GRACE_SECONDS: "3",
        USAGE_FLUSH_INTERVAL_MS: "1000",
        USAGE_SPILL_DIR: spillDir,
      });
      expect((await call(server, key.key)).status).toBe(200);
      // Usage is buffered; now the database goes away before it can be written.
      await admin.unsafe(`alter database ${name} allow_connections false`);
      await admin`select pg_terminate_backend(pid) from pg_stat_activity where datname = ${name}`;
      // One more request, answered from the cached key record while the database is gone, so its
      // count cannot have been written before SIGTERM (the first may have been, on a slow machine).
      expect((await call(server, key.key)).status).toBe(200);
      server.process.kill("SIGTERM");
      // Retrying the write for a third of the grace period, then spilling it (a hang would
      // time the test out); nothing was lost, so the exit is clean (faults.test.ts replays it).
      const code = await server.exited;
      expect(server.output.join("")).toMatch(/spilled to a file/);
      expect(code).toBe(0);
      rmSync(spillDir, { recursive: true, force: true });
    } finally {
      await admin.unsafe(`alter database ${name} allow_connections true`);
      await admin.end();
      await database.dispose();
    }
  }, 60_000);
});
