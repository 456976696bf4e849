import os from "node:os";
import path from "node:path";
import type { Scenario } from "../src/types.js";

/** The server's default configuration: LOG_LEVEL=info with its access log (into a file). */
const defaultLogging = () => ({
  BENCH_LOG_FILE: path.join(os.tmpdir(), `keyservice-bench-${process.pid}.log`),
});

/**
 * The app's /healthz against a separate bare Fastify process answering the same body: every
 * global hook (request id, security headers, management guard, access log) is in the ratio.
 */
export const healthzVsBare: Scenario = {
  name: "baseline: /healthz vs a separate bare Fastify process",
  description: "GET /healthz on the app (default logging) vs GET /healthz on bare Fastify",
  bareProcess: true,
  serverEnv: defaultLogging,
  baseline: (server) => ({ url: server.bareUrl, path: "/healthz" }),
  subject: () => ({ path: "/healthz" }),
  goals: { minThroughputRatio: 0.85 },
};

/** An authenticated data request (default logging) against bare Fastify sending its body. */
export const dataPlaneVsBare: Scenario = {
  name: "baseline: data plane vs a separate bare Fastify process",
  description:
    "GET /api/v1/iocs with X-API-Key on the app (default logging) vs the same body from bare Fastify",
  bareProcess: true,
  serverEnv: defaultLogging,
  baseline: (server) => ({ url: server.bareUrl, path: "/bench/bare" }),
  subject: (server) => ({ path: "/api/v1/iocs", headers: { "x-api-key": server.apiKey } }),
  goals: { minThroughputRatio: 0.7 },
};

/**
 * The scale of the two goals above on the machine at hand: the bare process answering the same
 * body after BENCH_CALIBRATION_US (default 7) µs of busy work, against itself without it. No
 * goal. On a 2-core machine whose load generator shares the cores, a microsecond of work a
 * request costs more than a microsecond of server CPU at full load (a slower server handles
 * fewer requests per wake-up), so a few microseconds move the ratio far: see docs/measurements.md,
 * Benchmarks, "What 0.7× is worth in microseconds".
 */
export const calibrationVsBare: Scenario = {
  name: "calibration: bare Fastify plus a few µs of work vs bare Fastify",
  description:
    "GET /bench/bare-plus-work (the same body after BENCH_CALIBRATION_US µs of busy work, default 7) vs GET /bench/bare, both on the separate bare process",
  bareProcess: true,
  baseline: (server) => ({ url: server.bareUrl, path: "/bench/bare" }),
  subject: (server) => ({ url: server.bareUrl, path: "/bench/bare-plus-work" }),
};
