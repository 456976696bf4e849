import { hasPostgresTools, startPrivatePostgres } from "@repo/db/testing";
import type { FaultScenario } from "../src/types.js";

const BUDGET_MS = 2_000;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Data-plane load while PostgreSQL restarts (`pg_ctl restart -m fast` on a cluster of the
 * run's own): the share of requests answered within the 2 s budget, the 503s, the slowest
 * answer, and how long after PostgreSQL accepted connections again /readyz said ready. The
 * key cache TTL is 1 s, so cached records expire during the outage and are served stale.
 */
export const postgresRestart: FaultScenario = {
  name: "fault: data plane while PostgreSQL restarts",
  description:
    "GET /api/v1/iocs (cached key, 1 s TTL) from BENCH_CONNECTIONS workers; PostgreSQL restarted at 30% of the run",
  skipReason: () => (hasPostgresTools ? null : "needs initdb and pg_ctl on the PATH"),
  async run({ seconds, connections, startServer }) {
    const pg = await startPrivatePostgres();
    try {
      const { server, stop } = await startServer({
        TEST_DATABASE_URL: pg.url,
        BENCH_KEY_CACHE_TTL_SECONDS: "1",
      });
      try {
        const answers: { at: number; ms: number; status: number }[] = [];
        let running = true;
        const request = async () => {
          const started = performance.now();
          // 0: no answer at all (connection refused, reset or timed out).
          const status = await fetch(`${server.url}/api/v1/iocs`, {
            headers: { "x-api-key": server.apiKey },
            signal: AbortSignal.timeout(30_000),
          }).then(
            async (response) => {
              await response.arrayBuffer();
              return response.status;
            },
            () => 0,
          );
          answers.push({ at: started, ms: performance.now() - started, status });
        };
        const workers = Array.from({ length: Math.min(connections, 20) }, async () => {
          while (running) await request();
        });
        const began = performance.now();
        await sleep(seconds * 300);
        const down = performance.now();
        await pg.restart();
        const up = performance.now();
        let ready = 0;
        while (ready === 0 && performance.now() - up < 30_000) {
          const response = await fetch(`${server.url}/readyz`).catch(() => null);
          if (response?.status === 200) ready = performance.now() - up;
          else await sleep(20);
        }
        await sleep(Math.max(0, began + seconds * 1000 - performance.now()));
        running = false;
        await Promise.all(workers);

        const within = answers.filter((a) => a.status !== 0 && a.ms < BUDGET_MS).length;
        const count = (status: number) => answers.filter((a) => a.status === status).length;
        console.log(
          `${answers.length} requests over ${seconds} s; PostgreSQL down ${(up - down).toFixed(0)} ms (restart)`,
        );
        console.log(
          `answered within 2 s: ${((within / answers.length) * 100).toFixed(2)}%; 200: ${count(200)}; 503: ${count(503)}; no answer: ${count(0)}; slowest: ${Math.max(...answers.map((a) => a.ms)).toFixed(0)} ms`,
        );
        console.log(
          `recovery: /readyz ready ${ready ? `${ready.toFixed(0)} ms` : "never (30 s)"} after PostgreSQL accepted connections again`,
        );
      } finally {
        await stop();
      }
    } finally {
      await pg.dispose();
    }
  },
};
