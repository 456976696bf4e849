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
 * The scale of the two goals above on this machine: bare Fastify answering the same body
 * after a few microseconds of pure CPU work (BENCH_CALIBRATION_US, default 7), against bare
 * Fastify. No goal: it reads the ratios above. Measured on a 2-core machine where the load
 * generator shares the CPUs, a microsecond of work costs more than a microsecond of server
 * time at full load (a slower server answers fewer requests per wake-up), so small per-request
 * costs move the ratio a lot: see README, Benchmarks.
 */
export const calibrationVsBare: Scenario = {
  name: "calibration: bare Fastify plus a few µs of work vs bare Fastify",
  description: `GET /bench/bare-plus-work (the same body after ${process.env.BENCH_CALIBRATION_US ?? 7} µs of busy work) vs GET /bench/bare, both on the separate bare process`,
  bareProcess: true,
  baseline: (server) => ({ url: server.bareUrl, path: "/bench/bare" }),
  subject: (server) => ({ url: server.bareUrl, path: "/bench/bare-plus-work" }),
};
