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
import Fastify, { type FastifyReply, type FastifyRequest } from "fastify";

const body = JSON.parse(process.env.BENCH_BARE_BODY ?? "null") as unknown;
const app = Fastify();
app.get("/bench/cpu", () => process.cpuUsage());
const bare = (_request: FastifyRequest, reply: FastifyReply) => {
  void reply.header("cache-control", "no-store");
  return body;
};
app.get("/bench/bare", bare);
// A value that is not a number would make the loop below never run: a calibration of 0 µs
// printed as 7. Refuse it at start instead.
const workUs = Number(process.env.BENCH_CALIBRATION_US ?? 7);
if (!Number.isFinite(workUs) || workUs < 0) {
  throw new Error(`BENCH_CALIBRATION_US must be a number of microseconds ≥ 0`);
}
app.get("/bench/bare-plus-work", (request, reply) => {
  const until = performance.now() + workUs / 1000;
  while (performance.now() < until);
  return bare(request, reply);
});
app.get("/healthz", () => ({ status: "ok" }));
const url = await app.listen({ host: "127.0.0.1", port: 0 });
process.stdout.write(`${JSON.stringify({ url })}\n`);
process.once("SIGTERM", () => void app.close().then(() => process.exit(0)));
