// Starts the real built server on a fresh database and drives the system Chromium against it.
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { createServer } from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { randomBytes } from "node:crypto";
import { createTestDatabase } from "@repo/db/testing";
import { deleteRedisKeys } from "@repo/gateway/testing";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import type { AxeResults, Result } from "axe-core";

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const ARTIFACTS = path.join(ROOT, "e2e/artifacts");
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const SERVER_ENTRY = path.join(ROOT, "apps/server/dist/index.js");
const WEB_INDEX = path.join(ROOT, "apps/web/dist/index.html");

/**
 * Whether the browser tests can run. Without Chromium they are skipped on a developer's
 * machine (with the reason printed) but fail in CI, where a skipped browser suite would
 * silently hide a broken dashboard.
 */
export function chromiumAvailable(): boolean {
  if (existsSync(CHROMIUM_PATH)) return true;
  const message = `No Chromium at ${CHROMIUM_PATH} (install Debian's "chromium" package or set CHROMIUM_PATH).`;
  if (process.env.CI) throw new Error(`${message} The browser tests must run in CI.`);
  console.warn(`\n  SKIPPING browser tests: ${message}\n`);
  return false;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() =>
        typeof address === "object" && address
          ? resolve(address.port)
          : reject(new Error("no port")),
      );
    });
  });
}

export interface RunningServer {
  origin: string;
  database: "pglite" | "postgres";
  output: string[];
  stop(): Promise<void>;
}

/**
 * `node apps/server/dist/index.js` on a free port, serving the built SPA, with an embedded
 * PGlite in a temp dir, or a new Postgres database when TEST_DATABASE_URL is set.
 */
export async function startServer(
  extraEnv: Record<string, string> = {},
  options: { hostName?: "127.0.0.1" | "localhost" } = {},
): Promise<RunningServer> {
  for (const file of [SERVER_ENTRY, WEB_INDEX]) {
    if (!existsSync(file)) {
      throw new Error(
        `${path.relative(ROOT, file)} is missing: build first with ` +
          "npx turbo run build --filter=@repo/web --filter=@repo/server",
      );
    }
  }
  const port = await freePort();
  // WebAuthn refuses IP addresses as relying-party ids: passkey tests use "localhost".
  const origin = `http://${options.hostName ?? "127.0.0.1"}:${port}`;
  const dataDir = mkdtempSync(path.join(os.tmpdir(), "keyservice-e2e-"));
  const adminUrl = process.env.TEST_DATABASE_URL;
  // A fresh, migrated Postgres database (the shared test helper), dropped by `dispose()`.
  const database = adminUrl ? await createTestDatabase(adminUrl) : undefined;

  const env: NodeJS.ProcessEnv = {
    ...process.env,
    HOST: "127.0.0.1",
    PORT: String(port),
    PUBLIC_URL: origin,
    DATA_DIR: dataDir,
    LOG_LEVEL: "warn",
    NODE_ENV: "production",
    ...extraEnv,
  };
  delete env.DATABASE_URL;
  delete env.WEB_DIST_DIR;
  if (database) env.DATABASE_URL = database.url;
  // With REDIS_URL (as in CI) the server keeps its limits there: under a prefix of this
  // server's own, removed by `cleanup()`, never the default one a real deployment on the same
  // Redis would use (whose sign-up counters would also carry over from run to run).
  const redisUrl = env.REDIS_URL;
  if (redisUrl) env.REDIS_KEY_PREFIX = `test:e2e:${randomBytes(6).toString("hex")}:`;

  const child = spawn(process.execPath, [SERVER_ENTRY], {
    cwd: ROOT,
    env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  const output: string[] = [];
  child.stdout.on("data", (chunk: Buffer) => output.push(chunk.toString()));
  child.stderr.on("data", (chunk: Buffer) => output.push(chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));

  const cleanup = async () => {
    rmSync(dataDir, { recursive: true, force: true });
    await database?.dispose();
    if (redisUrl) await deleteRedisKeys(redisUrl, env.REDIS_KEY_PREFIX!);
  };

  const deadline = Date.now() + 120_000;
  for (;;) {
    if (child.exitCode !== null) {
      await cleanup();
      throw new Error(`the server exited (${child.exitCode}):\n${output.join("")}`);
    }
    try {
      // The server listens on 127.0.0.1; "localhost" may resolve to ::1 first in Node.
      const response = await fetch(`http://127.0.0.1:${port}/readyz`);
      if (response.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      await cleanup();
      throw new Error(`the server did not become ready:\n${output.join("")}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }

  return {
    origin,
    database: database ? "postgres" : "pglite",
    output,
    async stop() {
      if (child.exitCode === null) {
        child.kill("SIGTERM");
        const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
        await exited;
        clearTimeout(timer);
      }
      await cleanup();
    },
  };
}

/**
 * The Vite dev server of apps/web (as `npm run dev` starts it), proxying /trpc and /api to
 * `serverOrigin`: checks that the dev setup works, StrictMode double effects included.
 */
export async function startViteDev(serverOrigin: string): Promise<{
  origin: string;
  stop(): Promise<void>;
}> {
  const port = await freePort();
  const origin = `http://127.0.0.1:${port}`;
  const child = spawn(
    process.execPath,
    [
      path.join(ROOT, "node_modules/vite/bin/vite.js"),
      "--host",
      "127.0.0.1",
      "--port",
      String(port),
      "--strictPort",
    ],
    {
      cwd: path.join(ROOT, "apps/web"),
      env: { ...process.env, SERVER_URL: serverOrigin, NODE_ENV: "development" },
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  const output: string[] = [];
  child.stdout.on("data", (chunk: Buffer) => output.push(chunk.toString()));
  child.stderr.on("data", (chunk: Buffer) => output.push(chunk.toString()));
  const exited = new Promise<unknown>((resolve) => child.once("exit", resolve));
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`vite exited:\n${output.join("")}`);
    try {
      if ((await fetch(origin)).ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`vite did not start:\n${output.join("")}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return {
    origin,
    async stop() {
      if (child.exitCode === null) {
        child.kill("SIGTERM");
        await exited;
      }
    },
  };
}

export function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
      "--disable-quic",
    ],
  });
}

export interface Tab {
  context: BrowserContext;
  page: Page;
  /** Lines the page printed with console.log, in order. */
  console: string[];
  /**
   * Uncaught exceptions and console errors, except the browser's own line for each HTTP error
   * response (a 403 for the key limit is an expected answer, shown to the user as a message).
   */
  errors: string[];
}

export async function openTab(browser: Browser, origin: string): Promise<Tab> {
  const context = await browser.newContext({
    baseURL: origin,
    viewport: { width: 1440, height: 900 },
    colorScheme: "light",
    locale: "en-US",
    timezoneId: "UTC",
  });
  await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin });
  const page = await context.newPage();
  const tab: Tab = { context, page, console: [], errors: [] };
  page.on("console", (message) => {
    if (message.type() === "log") tab.console.push(message.text());
    if (message.type() === "error" && !message.text().startsWith("Failed to load resource")) {
      tab.errors.push(message.text());
    }
  });
  page.on("pageerror", (error) => tab.errors.push(error.message));
  return tab;
}

export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(ARTIFACTS, { recursive: true });
  const file = path.join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

const AXE_SOURCE = readFileSync(
  createRequire(import.meta.url).resolve("axe-core/axe.min.js"),
  "utf8",
);

export interface AxeSummary {
  serious: Result[];
  all: Result[];
}

/**
 * Runs axe-core in the page as it is now (evaluated over the DevTools protocol, so the app's
 * strict CSP stays on) and saves the full result next to the screenshots.
 */
export async function runAxe(page: Page, name: string): Promise<AxeSummary> {
  const loaded = await page.evaluate(() => "axe" in window);
  if (!loaded) await page.evaluate(AXE_SOURCE);
  const results = await page.evaluate(async () => {
    const axe = (window as unknown as { axe: { run(): Promise<AxeResults> } }).axe;
    const run = await axe.run();
    return { violations: run.violations };
  });
  mkdirSync(ARTIFACTS, { recursive: true });
  writeFileSync(path.join(ARTIFACTS, `axe-${name}.json`), JSON.stringify(results, null, 2));
  return {
    all: results.violations,
    serious: results.violations.filter((v) => v.impact === "serious" || v.impact === "critical"),
  };
}

/** One line per violation, for assertion messages a person can act on. */
export function describeViolations(violations: Result[]): string {
  return violations
    .map(
      (v) =>
        `${v.impact}: ${v.id} (${v.help}) at ${v.nodes
          .slice(0, 3)
          .map((node) => node.target.join(" "))
          .join(", ")}`,
    )
    .join("\n");
}

export function uniqueEmail(label: string): string {
  return `${label}-${randomBytes(4).toString("hex")}@soc.example`;
}
