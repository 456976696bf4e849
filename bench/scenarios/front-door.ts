import os from "node:os";
import path from "node:path";
import autocannon from "autocannon";
import { generateKey } from "@repo/core";
import { summarize, type Sample } from "../src/measure.js";
import type { BenchServer, Scenario, Target } from "../src/types.js";

/** The server's default configuration: LOG_LEVEL=info with its access log (into a file). */
const defaultLogging = (extra: Record<string, string> = {}) => ({
  BENCH_LOG_FILE: path.join(os.tmpdir(), `keyservice-bench-${process.pid}.log`),
  ...extra,
});

/**
 * Refusals cost no more than service: each refused path against the separate bare Fastify
 * process (the honest baseline), to be compared with the accepted path's ratio
 * ("baseline: data plane vs a separate bare Fastify process").
 */
function refusedVsBare(
  name: string,
  description: string,
  subject: (server: BenchServer) => Target,
  env: Record<string, string> = {},
): Scenario {
  return {
    name: `refused vs bare: ${name}`,
    description,
    bareProcess: true,
    serverEnv: () => defaultLogging(env),
    baseline: (server) => ({ url: server.bareUrl, path: "/bench/bare" }),
    subject,
    goals: { minThroughputRatio: 0.7 },
  };
}

const FORGED = Array.from({ length: 5_000 }, () => generateKey().key);

export const refused429 = refusedVsBare(
  "429 rate_limit_exceeded",
  "GET /api/v1/iocs with a key past its per-minute limit (a runaway SIEM poller) vs bare Fastify",
  (server) => ({
    path: "/api/v1/iocs",
    headers: { "x-api-key": server.throttledKey },
    expectStatus: 429,
  }),
);

export const refused401 = refusedVsBare(
  "401 invalid_api_key (forged keys)",
  "GET /api/v1/iocs with well-formed forged keys in rotation (failed-auth limit out of reach) vs bare Fastify",
  () => ({ path: "/api/v1/iocs", apiKeys: FORGED, expectStatus: 401 }),
  { BENCH_FAILED_AUTH_PER_MINUTE: "2000000000" },
);

export const refused401Missing = refusedVsBare(
  "401 missing_api_key",
  "GET /api/v1/iocs without a key vs bare Fastify",
  () => ({ path: "/api/v1/iocs", expectStatus: 401 }),
);

export const refused403 = refusedVsBare(
  "403 insufficient_scope",
  "GET /api/v1/iocs/stix with a Free key (no read:stix) vs bare Fastify",
  (server) => ({
    path: "/api/v1/iocs/stix",
    headers: { "x-api-key": server.freeKey },
    expectStatus: 403,
  }),
);

export const refusedFlood429 = refusedVsBare(
  "429 too_many_attempts (forged-key flood from one address)",
  "GET /api/v1/iocs with forged keys from one address past FAILED_AUTH_PER_MINUTE (60) vs bare Fastify",
  () => ({ path: "/api/v1/iocs", apiKeys: FORGED, expectStatus: 429 }),
);

const lookups = async (server: BenchServer) =>
  ((await (await fetch(`${server.url}/bench/lookups`)).json()) as { lookups: number }).lookups;

/**
 * 1,000 forged-key requests a second from rotating client addresses (through a trusted
 * proxy's X-Forwarded-For), while the legitimate load is measured; rounds with and without
 * the flood alternate (ABBA) so drift hits both alike.
 */
function flood(server: BenchServer, seconds: number) {
  let next = 0;
  const instance = autocannon({
    url: `${server.url}/api/v1/iocs`,
    // Enough connections for the rate although each refusal waits a notify round trip.
    connections: 100,
    overallRate: 1_000,
    duration: seconds,
    requests: [
      {
        path: "/api/v1/iocs",
        setupRequest: (request: { path: string; headers?: Record<string, string> }) => {
          const i = next++;
          request.headers = {
            ...request.headers,
            "x-api-key": FORGED[i % FORGED.length]!,
            "x-forwarded-for": `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`,
          };
          return request;
        },
      },
    ],
  });
  return instance;
}

export const forgedKeyFlood: Scenario = {
  name: "forged-key flood: legitimate throughput under 1,000 forged req/s",
  description:
    "GET /api/v1/iocs with a real key, alone vs while 1,000 forged-key req/s arrive from rotating addresses; DB lookups the flood caused",
  serverEnv: () => ({ BENCH_TRUST_PROXY: "127.0.0.1" }),
  baseline: (server) => ({ path: "/api/v1/iocs", headers: { "x-api-key": server.apiKey } }),
  subject: (server) => ({ path: "/api/v1/iocs", headers: { "x-api-key": server.apiKey } }),
  goals: { minThroughputRatio: 0.9 },
  run: async (server, bench) => {
    const legit: Target = { path: "/api/v1/iocs", headers: { "x-api-key": server.apiKey } };
    const rounds = Math.max(2, Math.round(bench.seconds / 2));
    const per = bench.seconds / rounds;
    await bench.sample(legit, 1, bench.connections);
    const alone: Sample[] = [];
    const flooded: Sample[] = [];
    let floodRequests = 0;
    const floodStatuses: Record<string, number> = {};
    const before = await lookups(server);
    for (let round = 0; round < rounds * 2; round++) {
      const withFlood = round % 4 === 1 || round % 4 === 2;
      if (!withFlood) {
        alone.push(await bench.sample(legit, per, bench.connections));
        continue;
      }
      const attack = flood(server, per);
      const [measured, result] = await Promise.all([
        bench.sample(legit, per, bench.connections),
        attack,
      ]);
      flooded.push(measured);
      floodRequests += result.requests.total;
      for (const [status, { count }] of Object.entries(result.statusCodeStats)) {
        floodStatuses[status] = (floodStatuses[status] ?? 0) + count;
      }
    }
    const floodLookups = (await lookups(server)) - before;
    const a = summarize(alone);
    const b = summarize(flooded);
    const ratio = b.requestsPerSecond / a.requestsPerSecond;
    console.log(
      `legitimate alone: ${a.requestsPerSecond.toFixed(0)} req/s (p99 ${a.p99Ms.toFixed(2)} ms); ` +
        `under flood: ${b.requestsPerSecond.toFixed(0)} req/s (p99 ${b.p99Ms.toFixed(2)} ms)`,
    );
    console.log(
      `throughput ratio ${ratio.toFixed(2)}× (goal ≥ 0.9×: ${ratio >= 0.9 ? "PASS" : "MISS"}); ` +
        `flood sent ${floodRequests} forged requests (${(floodRequests / (per * flooded.length)).toFixed(0)}/s, statuses ${JSON.stringify(floodStatuses)}); ` +
        `key lookups in the database during the run: ${floodLookups} (goal 0)`,
    );
  },
};
