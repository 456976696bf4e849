/**
 * The honest baseline: a separate Fastify process with Fastify's defaults (no logger, no
 * hooks, no plugins) answering `/bench/bare` with the body the data plane sends
 * (BENCH_BARE_BODY) and `/healthz` with the app's. Prints one JSON line ({url}) when ready.
 *
 * `/bench/bare-plus-work` sends the same answer after BENCH_CALIBRATION_US (default 7) µs of
 * busy work: the calibration scenario measures it against `/bench/bare`, which shows what a
 * throughput ratio is worth in microseconds of work a request on the machine at hand.
 */
import { performance } from "node:perf_hooks";
import Fastify from "fastify";

const body = JSON.parse(process.env.BENCH_BARE_BODY ?? "null") as unknown;
const app = Fastify();
app.get("/bench/cpu", () => process.cpuUsage());
app.get("/bench/bare", (_request, reply) => {
  void reply.header("cache-control", "no-store");
  return body;
});
const workMs = Number(process.env.BENCH_CALIBRATION_US ?? 7) / 1000;
app.get("/bench/bare-plus-work", (_request, reply) => {
  const until = performance.now() + workMs;
  while (performance.now() < until);
  void reply.header("cache-control", "no-store");
  return body;
});
app.get("/healthz", () => ({ status: "ok" }));
const url = await app.listen({ host: "127.0.0.1", port: 0 });
process.stdout.write(`${JSON.stringify({ url })}\n`);
process.once("SIGTERM", () => void app.close().then(() => process.exit(0)));
