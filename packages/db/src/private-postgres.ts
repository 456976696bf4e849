import { execFile, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";

/**
 * A PostgreSQL cluster of the caller's own (initdb + pg_ctl) on a port of 21000-21999, which
 * fault tests and the fault benchmark stop and start at will: the machine's shared server is
 * never touched. It listens on 127.0.0.1 only, with trust authentication.
 */
const run = promisify(execFile);

/**
 * Ports 21000-21999 belong to these tests; each caller gets the next free one. The range lies
 * below the kernel's ephemeral range (Linux: 32768-60999), from which outgoing connections
 * take their source ports: inside it (41000-41999 before), a port found free could be taken
 * by any connection before the server started there (EADDRINUSE in CI), or while a private
 * PostgreSQL was stopped.
 */
export const PRIVATE_PORTS = { first: 21_000, last: 21_999 } as const;
let nextPort = PRIVATE_PORTS.first + (process.pid % 400) * 2;
export async function privatePort(): Promise<number> {
  for (let tries = 0; tries < 200; tries++) {
    const port = nextPort;
    nextPort = nextPort >= PRIVATE_PORTS.last - 1 ? PRIVATE_PORTS.first : nextPort + 1;
    const free = await new Promise<boolean>((resolve) => {
      const probe = net.createServer();
      probe.once("error", () => resolve(false));
      probe.listen(port, "127.0.0.1", () => probe.close(() => resolve(true)));
    });
    if (free) return port;
  }
  throw new Error(`no free port in ${PRIVATE_PORTS.first}-${PRIVATE_PORTS.last}`);
}

export const hasPostgresTools = spawnSync("pg_ctl", ["--version"]).status === 0;

export interface PrivatePostgres {
  url: string;
  port: number;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** `pg_ctl restart -m fast`: every connection dropped, back once it accepts connections. */
  restart(): Promise<void>;
  dispose(): Promise<void>;
}

/** initdb takes a few seconds: create one cluster per test file. */
export async function startPrivatePostgres(): Promise<PrivatePostgres> {
  const dir = mkdtempSync(path.join(tmpdir(), "keyservice-pg-"));
  const data = path.join(dir, "data");
  const port = await privatePort();
  // initdb refuses to run as root; the CI container runs tests as root, so use a
  // dedicated user there (postgres exists wherever the server package is installed).
  const asRoot = process.getuid?.() === 0;
  const wrap = (command: string, args: string[]) =>
    asRoot ? ["runuser", ["-u", "postgres", "--", command, ...args]] : [command, args];
  if (asRoot) await run("chown", ["postgres", dir]);
  const exec = (command: string, args: string[]) => {
    const [file, argv] = wrap(command, args) as [string, string[]];
    return run(file, argv);
  };
  await exec("initdb", [
    "-D",
    data,
    "-U",
    "postgres",
    "--auth=trust",
    "-E",
    "UTF8",
    "--no-locale",
    "--no-sync",
  ]);
  const options = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=60`;
  const service: PrivatePostgres = {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    port,
    async start() {
      await exec("pg_ctl", ["-D", data, "-o", options, "-l", path.join(dir, "log"), "-w", "start"]);
    },
    async stop() {
      await exec("pg_ctl", ["-D", data, "-m", "immediate", "-w", "stop"]);
    },
    async restart() {
      await exec("pg_ctl", [
        "-D",
        data,
        "-o",
        options,
        "-l",
        path.join(dir, "log"),
        "-m",
        "fast",
        "-w",
        "restart",
      ]);
    },
    async dispose() {
      await exec("pg_ctl", ["-D", data, "-m", "immediate", "-w", "stop"]).catch(() => {});
      rmSync(dir, { recursive: true, force: true });
    },
  };
  await service.start();
  return service;
}
