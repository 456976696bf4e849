import type { Scenario } from "../src/types.js";

/** The same comparison with the limits kept in Redis (one EVALSHA per request). */
export const dataPlaneEchoRedis: Scenario = {
  name: "data plane, echo, Redis limits",
  description: "GET /api/v1/iocs with X-API-Key, REDIS_URL set, vs /bench/bare",
  skipReason: () => (process.env.REDIS_URL ? null : "REDIS_URL is not set"),
  serverEnv: () => ({ REDIS_URL: process.env.REDIS_URL! }),
  baseline: () => ({ path: "/bench/bare" }),
  subject: (server) => ({ path: "/api/v1/iocs", headers: { "x-api-key": server.apiKey } }),
  goals: { minThroughputRatio: 0.5, maxAddedP99Ms: 1 },
};
