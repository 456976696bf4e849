import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { request } from "node:http";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { createTestDatabase, type TestDatabase } from "@repo/db/testing";
import { openDatabase } from "@repo/db";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseSetCookies, ORIGIN } from "./harness.js";
import { buildApp } from "../src/app.js";

const serverDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const postgresUrl = process.env.TEST_DATABASE_URL;

/**
 * The database the spawned processes share: a fresh Postgres database, or an embedded one in
 * a temporary DATA_DIR (PGlite: one process at a time).
 */
let database: TestDatabase | undefined;
let dataDir: string;
beforeAll(async () => {
  dataDir = mkdtempSync(path.join(tmpdir(), "keyservice-process-"));
  if (postgresUrl) {
    database = await createTestDatabase(postgresUrl);
    await database.close();
  }
});
afterAll(async () => {
  if (database && postgresUrl) {
    const { default: postgres } = await import("postgres");
    const admin = postgres(postgresUrl, { max: 1, onnotice: () => {} });
    await admin.unsafe(
      `drop database if exists ${new URL(database.url!).pathname.slice(1)} with (force)`,
    );
    await admin.end();
  }
  rmSync(dataDir, { recursive: true, force: true });
});

function databaseEnv(): Record<string, string> {
  return database?.url ? { DATABASE_URL: database.url } : { DATA_DIR: dataDir };
}

function run(script: string, args: string[], env: Record<string, string> = {}) {
  return spawn(process.execPath, ["--import", "tsx", script, ...args], {
    cwd: serverDir,
    env: { PATH: process.env.PATH ?? "", LOG_LEVEL: "warn", ...databaseEnv(), ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
}

async function finished(child: ChildProcess) {
  let stdout = "";
  let stderr = "";
  child.stdout?.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr?.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const code = await new Promise<number | null>((resolve) => child.on("exit", resolve));
  return { code, stdout, stderr };
}

const cli = (...args: string[]) => finished(run("src/cli.ts", args));

async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
  const { port } = probe.address() as { port: number };
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

describe("operator CLI", () => {
  it("creates a user who can then sign in, lists users and sets the tier", async () => {
    const created = await cli(
      "create",
      "--email",
      "Ops@Example.com",
      "--password",
      "operator passphrase",
      "--tier",
      "pro",
    );
    expect(created.stderr).toBe("");
    expect(created.code).toBe(0);
    expect(created.stdout).toMatch(/^created ops@example\.com \(tier pro/);

    const listed = await cli("list");
    expect(listed.stdout).toMatch(/ops@example\.com\s+pro/);

    const downgraded = await cli("set-tier", "--email", "ops@example.com", "--tier", "free");
    expect(downgraded.code).toBe(0);
    expect(downgraded.stdout).toContain("ops@example.com: tier pro -> free");

    const handle = database?.url
      ? await openDatabase({ kind: "postgres", url: database.url })
      : await openDatabase({ kind: "pglite", dataDir: path.join(dataDir, "pglite") });
    const app = await buildApp({
      database: handle,
      publicUrl: new URL(ORIGIN),
      allowedOrigins: [ORIGIN],
      sessionCookieName: "sb-access-token",
      secureCookies: false,
      sessionIdleSeconds: 3600,
      sessionAbsoluteSeconds: 7200,
      signUpEnabled: false,
      trustProxy: false,
      webDistDir: undefined,
      logger: false,
    });
    try {
      const response = await app.inject({
        method: "POST",
        url: "/trpc/auth.signIn",
        headers: { "content-type": "application/json", "sec-fetch-site": "same-origin" },
        payload: JSON.stringify({ email: "ops@example.com", password: "operator passphrase" }),
      });
      expect(response.statusCode).toBe(200);
      expect(response.json().result.data.user).toMatchObject({
        email: "ops@example.com",
        tier: "free",
      });
      expect(parseSetCookies(response)[0]?.name).toBe("sb-access-token");
    } finally {
      await app.close();
      await handle.close();
    }
    // Three CLI runs, each a cold tsx start that opens the database: a bound, not a timing.
  }, 120_000);

  it("issues a one-time reset link, disables and enables an account (audited operator remedies)", async () => {
    const created = await cli(
      "create",
      "--email",
      "remedy@example.com",
      "--password",
      "quiet harbour lantern",
    );
    expect(created.code).toBe(0);
    const reset = await cli("reset-password", "--email", "remedy@example.com");
    expect(reset.code).toBe(0);
    expect(reset.stdout).toMatch(
      /http:\/\/localhost:3000\/reset-password#token=[A-Za-z0-9_-]{43}\n/,
    );
    const disabled = await cli("disable", "--email", "remedy@example.com");
    expect(disabled.stdout).toContain("remedy@example.com: disabled, 0 session(s) ended");
    expect(disabled.stdout).toContain("API keys keep working");
    const enabled = await cli("enable", "--email", "remedy@example.com");
    expect(enabled.stdout).toContain("remedy@example.com: enabled");
    const unknown = await cli("revoke-sessions", "--email", "nobody@example.com");
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain("No account with email nobody@example.com.");
  }, 90_000);

  it.each([
    [["frobnicate"], /unknown command "frobnicate"/],
    [["create", "--email", "x@example.com"], /--password is required/],
    [["create", "--email", "x@example.com", "--password", "short"], /8 to 256 characters/],
    [["create", "--email", "x@example.com", "--password", "password1"], /most common passwords/],
    [
      ["set-tier", "--email", "x@example.com", "--tier", "gold"],
      /--tier must be one of: free, pro/,
    ],
    [
      ["create", "--email", "x@example.com", "--password", "long enough", "--admin"],
      /Unknown option '--admin'/,
    ],
  ])("rejects bad arguments %j with a clear message and exit code 2", async (args, message) => {
    const result = await cli(...args);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(message);
  });

  it("reports an unknown account without a stack trace", async () => {
    const result = await cli("set-tier", "--email", "nobody@example.com", "--tier", "pro");
    expect(result.code).toBe(1);
    expect(result.stderr).toBe("error: No account with email nobody@example.com.\n");
  });
});

describe("graceful shutdown", () => {
  it("finishes an in-flight request after SIGTERM, refuses new connections, and exits 0", async () => {
    const port = await freePort();
    const server = run("src/index.ts", [], { PORT: String(port), LOG_LEVEL: "info" });
    const exit = finished(server);
    let ready = "";
    await new Promise<void>((resolve, reject) => {
      server.stdout?.on("data", (chunk: Buffer) => {
        ready += chunk.toString();
        if (ready.includes("Keyservice is ready")) resolve();
      });
      server.on("exit", () => reject(new Error(`server exited early: ${ready}`)));
    });

    // A sign-up whose body is only half sent: the request is in flight when SIGTERM arrives.
    const body = JSON.stringify({ email: "late@example.com", password: "in flight passphrase" });
    const inFlight = new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = request(
        {
          host: "127.0.0.1",
          port,
          method: "POST",
          path: "/trpc/auth.signUp",
          headers: {
            "content-type": "application/json",
            "content-length": Buffer.byteLength(body),
            origin: `http://localhost:${port}`,
          },
        },
        (res) => {
          let text = "";
          res.on("data", (chunk: Buffer) => (text += chunk.toString()));
          res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text }));
        },
      );
      req.on("error", reject);
      req.write(body.slice(0, 10));
      req.on("socket", (socket) => {
        socket.on("connect", () => {
          setTimeout(() => {
            server.kill("SIGTERM");
            // Once new connections are refused, the server is draining: finish the request.
            const poll = setInterval(() => {
              fetch(`http://127.0.0.1:${port}/healthz`).catch(() => {
                clearInterval(poll);
                req.end(body.slice(10));
              });
            }, 20);
          }, 100);
        });
      });
    });

    const response = await inFlight;
    expect(response.status).toBe(200);
    expect(JSON.parse(response.body).result.data.user.email).toBe("late@example.com");
    const { code } = await exit;
    expect(code).toBe(0);
  }, 120_000);
});
