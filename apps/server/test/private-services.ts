import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import net from "node:net";
import { privatePort } from "@repo/db/testing";

/**
 * A Redis server of the test's own on a port of 21000-21999, which the test may stop and
 * start at will (the machine's shared Redis is never touched); the PostgreSQL equivalent is
 * in @repo/db/testing.
 */
export { hasPostgresTools, privatePort, startPrivatePostgres } from "@repo/db/testing";
export type { PrivatePostgres } from "@repo/db/testing";

export const hasRedisServer = spawnSync("redis-server", ["--version"]).status === 0;

export interface PrivateRedis {
  url: string;
  start(): Promise<void>;
  /** Stops it without saving: it comes back empty, like a restart without persistence. */
  stop(): Promise<void>;
  dispose(): Promise<void>;
}

export async function startPrivateRedis(): Promise<PrivateRedis> {
  const port = await privatePort();
  let child: ChildProcess | undefined;
  const service: PrivateRedis = {
    url: `redis://127.0.0.1:${port}`,
    async start() {
      child = spawn(
        "redis-server",
        ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        { stdio: "ignore" },
      );
      for (let i = 0; i < 100; i++) {
        const up = await new Promise<boolean>((resolve) => {
          const socket = net.connect(port, "127.0.0.1", () => {
            socket.end();
            resolve(true);
          });
          socket.on("error", () => resolve(false));
        });
        if (up) return;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      throw new Error("redis-server did not start");
    },
    async stop() {
      const exited = child && new Promise((resolve) => child!.once("exit", resolve));
      child?.kill("SIGKILL");
      await exited;
      child = undefined;
    },
    async dispose() {
      await service.stop();
    },
  };
  await service.start();
  return service;
}
