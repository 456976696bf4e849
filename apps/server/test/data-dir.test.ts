import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { DataDirInUseError, lockDataDir } from "../src/data-dir-lock.js";
import { loadEnv } from "../src/env.js";
import { repoRoot, runCli, serverDir, signUpOver, startServer } from "./server-process.js";

/**
 * One embedded database, one writer (issue 10 §1): every entry point resolves the same
 * DATA_DIR, and a second process on a directory in use is refused before it touches it.
 * Embedded-database behaviour: it runs once, in the PGlite pass.
 */
const ONCE = !process.env.TEST_DATABASE_URL;

/** The PID of a process that has exited (nothing alive holds it now). */
function deadPid(): number {
  const child = spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"]);
  return Number(child.stdout.toString());
}

describe("DATA_DIR resolution", () => {
  it("is the repository's .data by default, whatever the working directory", () => {
    const before = process.cwd();
    try {
      const fromRoot = (process.chdir(repoRoot), loadEnv({}).dataDir);
      const fromServer = (process.chdir(serverDir), loadEnv({}).dataDir);
      expect(fromRoot).toBe(path.join(repoRoot, ".data"));
      expect(fromServer).toBe(fromRoot);
      // A relative DATA_DIR is taken from the repository root too; absolute ones as given.
      expect(loadEnv({ DATA_DIR: "var/db" }).dataDir).toBe(path.join(repoRoot, "var/db"));
      expect(loadEnv({ DATA_DIR: "/srv/keys" }).dataDir).toBe("/srv/keys");
    } finally {
      process.chdir(before);
    }
  });
});

describe("DATA_DIR lock", () => {
  const dirs: string[] = [];
  const tempDir = () => {
    const dir = mkdtempSync(path.join(tmpdir(), "keyservice-lock-"));
    dirs.push(dir);
    return dir;
  };
  afterAll(() => dirs.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

  it("refuses a directory held by a live process, naming it and the PID", () => {
    const dir = tempDir();
    // The parent of this test process is alive for the whole test.
    writeFileSync(path.join(dir, "keyservice.lock"), JSON.stringify({ pid: process.ppid }));
    expect(() => lockDataDir(dir)).toThrow(DataDirInUseError);
    expect(() => lockDataDir(dir)).toThrow(
      new RegExp(`DATA_DIR ${dir} is in use by process ${process.ppid}.*DATABASE_URL`),
    );
    // Refused without a change: the holder's lock is still there, as it was.
    expect(JSON.parse(readFileSync(path.join(dir, "keyservice.lock"), "utf8"))).toEqual({
      pid: process.ppid,
    });
  });

  it("takes over a lock whose process is gone, and a garbled old one; releases its own", () => {
    const dir = tempDir();
    const file = path.join(dir, "keyservice.lock");
    writeFileSync(file, JSON.stringify({ pid: deadPid(), started: "1" }));
    const lock = lockDataDir(dir);
    expect(JSON.parse(readFileSync(file, "utf8")).pid).toBe(process.pid);
    // Held by this very process: a second open in it is refused too.
    expect(() => lockDataDir(dir)).toThrow(DataDirInUseError);
    lock.release();
    expect(existsSync(file)).toBe(false);
    lockDataDir(dir).release();
  });
});

describe.skipIf(!ONCE)(
  "one server per DATA_DIR (embedded database; runs in the PGlite pass)",
  () => {
    // Relative, so that it is resolved from the repository root by every entry point.
    const relative = `.data-test-${process.pid}`;
    const absolute = path.join(repoRoot, relative);
    const lockFile = path.join(absolute, "keyservice.lock");
    afterAll(() => rmSync(absolute, { recursive: true, force: true }));

    it("a second server and the CLI are refused while one runs; the CLI sees its accounts once it stops; a dead process's lock is taken over", async () => {
      const env = { DATA_DIR: relative };
      // Started from the repository root, as `npm start` is.
      const server = await startServer(env, { cwd: repoRoot });
      try {
        const email = `lock.${Date.now()}@example.com`;
        await signUpOver(server, email);

        // A second server from apps/server (where `npm run dev` runs): refused before it opens
        // the database, and the first one's lock is left as it was.
        const second = await startServer(env).catch((error: Error) => error);
        expect(second).toBeInstanceOf(Error);
        const refusal = (second as Error).message;
        expect(refusal).toContain(
          `keyservice failed to start: DATA_DIR ${absolute} is in use by process ${server.process.pid}`,
        );
        expect(refusal).toMatch(/Stop that process first, or set DATABASE_URL/);
        expect(JSON.parse(readFileSync(lockFile, "utf8")).pid).toBe(server.process.pid);

        // The CLI, from apps/server as `npm run users` runs it: refused, nothing written.
        const refused = await runCli(
          ["create", "--email", "cli@example.com", "--password", "operator passphrase"],
          env,
        );
        expect(refused.code).toBe(1);
        expect(refused.output).toMatch(/^error: DATA_DIR .* is in use by process \d+/);
        expect(refused.output.trim().split("\n")).toHaveLength(1);

        expect(await server.stop()).toBe(0);
        const listed = await runCli(["list"], env);
        expect(listed.code).toBe(0);
        expect(listed.output).toContain(email);
        expect(listed.output).not.toContain("cli@example.com");
        // A lock left by a process that is gone (killed outright) is taken over.
        writeFileSync(lockFile, JSON.stringify({ pid: deadPid(), started: "1" }));
        const afterKill = await runCli(["list"], env, { cwd: repoRoot });
        expect(afterKill.code).toBe(0);
        expect(afterKill.output).toContain(email);
      } finally {
        await server.stop();
      }
    }, 300_000);
  },
);

/** A 1 MiB file system of its own (root only): the embedded database cannot fit on it. */
function tinyFileSystem(): string | null {
  if (process.getuid?.() !== 0) return null;
  const dir = mkdtempSync(path.join(tmpdir(), "keyservice-full-"));
  const mounted = spawnSync("mount", ["-t", "tmpfs", "-o", "size=1m", "tmpfs", dir]);
  if (mounted.status !== 0) {
    rmSync(dir, { recursive: true, force: true });
    return null;
  }
  return dir;
}

describe.skipIf(!ONCE)("a full disk at start-up (embedded database)", () => {
  const full = tinyFileSystem();
  if (!full)
    console.warn("\n  SKIPPING the disk-full start-up test: it needs root to mount a tmpfs.\n");
  afterAll(() => {
    if (!full) return;
    spawnSync("umount", [full]);
    rmSync(full, { recursive: true, force: true });
  });

  it.skipIf(!full)(
    "stops with one line saying the disk is full and where",
    async () => {
      const failed = await startServer({ DATA_DIR: path.join(full!, "data") }).catch(
        (error: Error) => error,
      );
      expect(failed).toBeInstanceOf(Error);
      const lines = (failed as Error).message
        .replace(/^server did not start:\n/, "")
        .trim()
        .split("\n");
      expect(lines).toHaveLength(1);
      expect(lines[0]).toBe(
        `keyservice failed to start: disk full: no space left to write ${path.join(full!, "data")} (free some space and start again)`,
      );
      expect(lines[0]).not.toMatch(/\bat \S+:\d+|ErrnoError|stack/i);
    },
    120_000,
  );
});
