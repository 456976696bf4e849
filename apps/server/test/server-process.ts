import { once } from "node:events";
import { spawn, type ChildProcess } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { privatePort } from "./private-services.js";

/** Real server and CLI processes (`node --import tsx`), for the fault and DATA_DIR tests. */
export const serverDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
export const repoRoot = path.resolve(serverDir, "../..");

export interface ServerProcess {
  url: string;
  process: ChildProcess;
  output: string[];
  exited: Promise<number | null>;
  /** SIGTERM and the exit code. */
  stop(): Promise<number | null>;
}

export interface SpawnOptions {
  /** Working directory (default apps/server, as `npm run dev` and `npm run users` use). */
  cwd?: string;
}

/** Only what the test passes: no DATABASE_URL or DATA_DIR leaks in from the test's own env. */
function baseEnv(env: Record<string, string>): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    NODE_ENV: "production",
    LOG_LEVEL: "warn",
    HOST: "127.0.0.1",
    ...env,
  };
}

export function spawnEntry(
  entry: "src/index.ts" | "src/cli.ts",
  args: string[],
  env: Record<string, string>,
  options: SpawnOptions = {},
) {
  const child = spawn(process.execPath, ["--import", "tsx", path.join(serverDir, entry), ...args], {
    cwd: options.cwd ?? serverDir,
    env: baseEnv(env),
    stdio: ["ignore", "pipe", "pipe"],
  });
  const output: string[] = [];
  child.stdout.on("data", (chunk: Buffer) => output.push(chunk.toString()));
  child.stderr.on("data", (chunk: Buffer) => output.push(chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  return { child, output, exited };
}

/** Runs the operator CLI to its end. */
export async function runCli(
  args: string[],
  env: Record<string, string>,
  options: SpawnOptions = {},
) {
  const { output, exited } = spawnEntry("src/cli.ts", args, env, options);
  const code = await exited;
  return { code, output: output.join("") };
}

/**
 * Starts a server and waits until it listens (healthz answers at all). A port found free can
 * still be taken before the server binds it (another test file's server starting at the same
 * moment): a server refused with EADDRINUSE is started again on the next port.
 */
export async function startServer(
  env: Record<string, string>,
  options: SpawnOptions = {},
): Promise<ServerProcess> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startServerOnce(env, options);
    } catch (error) {
      if (attempt === 3 || !String(error).includes("EADDRINUSE")) throw error;
    }
  }
}

async function startServerOnce(
  env: Record<string, string>,
  options: SpawnOptions,
): Promise<ServerProcess> {
  const port = await privatePort();
  const { child, output, exited } = spawnEntry(
    "src/index.ts",
    [],
    { PORT: String(port), USAGE_FLUSH_INTERVAL_MS: "200", ...env },
    options,
  );
  const url = `http://127.0.0.1:${port}`;
  // Generous: an embedded database's first start is slow on a loaded machine.
  for (let i = 0; i < 1_500; i++) {
    if (child.exitCode !== null) break;
    try {
      await fetch(`${url}/healthz`);
      return {
        url,
        process: child,
        output,
        exited,
        stop() {
          if (child.exitCode === null) child.kill("SIGTERM");
          return exited;
        },
      };
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  if (child.exitCode === null) child.kill("SIGKILL");
  // Its last words may still be in the pipes when the exit is seen.
  else await Promise.race([once(child, "close"), new Promise((r) => setTimeout(r, 1_000))]);
  throw new Error(`server did not start:\n${output.join("")}`);
}

/** A request and how long its answer took (ms), never throwing on an HTTP error status. */
export async function timed(url: string, init: RequestInit = {}) {
  const started = performance.now();
  const response = await fetch(url, { ...init, signal: AbortSignal.timeout(10_000) });
  const body = await response.text();
  return {
    status: response.status,
    headers: response.headers,
    body,
    ms: performance.now() - started,
  };
}

/** Signs up through the server's own endpoint; returns the cookie header value. */
export async function signUpOver(server: ServerProcess, email: string) {
  const response = await fetch(`${server.url}/trpc/auth.signUp`, {
    method: "POST",
    headers: {
      origin: server.url.replace("127.0.0.1", "localhost"),
      "sec-fetch-site": "same-origin",
      "content-type": "application/json",
    },
    body: JSON.stringify({ email, password: "correct horse battery" }),
  });
  if (response.status !== 200) throw new Error(`sign-up failed: ${await response.text()}`);
  return response.headers.getSetCookie()[0]!.split(";")[0]!;
}
