import type { Scenario } from "../src/types.js";

/** An authenticated data request (echo mode, in-memory limits) vs the same body unauthenticated. */
export const dataPlaneEcho: Scenario = {
  name: "data plane, echo, in-process limits",
  description: "GET /api/v1/iocs with X-API-Key (cached key, limits, usage) vs /bench/bare",
  baseline: () => ({ path: "/bench/bare" }),
  subject: (server) => ({ path: "/api/v1/iocs", headers: { "x-api-key": server.apiKey } }),
  goals: { minThroughputRatio: 0.8, maxAddedP99Ms: 1 },
};
