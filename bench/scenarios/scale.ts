import { readFileSync } from "node:fs";
import { COALESCE_MS, KEYS_PER_WRITE } from "@repo/gateway";
import { summarize, type Sample } from "../src/measure.js";
import type { BenchContext, BenchServer, Scenario, Target } from "../src/types.js";

const KEY_COUNTS = [1, 1_000, 10_000, 100_000] as const;
const MOST = KEY_COUNTS.at(-1)!;
/** Length of the warm rounds, long enough for a steady load (see `run`). */
const ROUND_SECONDS = 8;
/** Quiet time after the cache's sweep before memory is read again (see `run`). */
const QUIET_SECONDS = 45;

interface Memory {
  rss: number;
  heapUsed: number;
  cachedKeys: number;
  pendingUsageKeys: number;
}

const mb = (bytes: number) => `${(bytes / 1_048_576).toFixed(0)} MB`;
const rate = (samples: Sample[]) =>
  samples.reduce((n, s) => n + s.times.length, 0) / samples.reduce((t, s) => t + s.seconds, 0);

async function call<T>(server: BenchServer, path: string, method = "GET"): Promise<T> {
  const response = await fetch(server.url + path, { method });
  if (!response.ok) throw new Error(`${path}: ${response.status}`);
  return (await response.json()) as T;
}

/**
 * One server with 100,000 distinct Pro keys (PostgreSQL): the cold path (every request a key
 * not yet cached), then warm throughput with 1, 1,000, 10,000 and 100,000 keys in rotation in
 * rounds of a steady load (compared with the 1-key rounds of the same run), the
 * 1-key load again after the 100,000-key rounds, server memory, bytes per cached key and per
 * active key's usage state, and the duration of one usage flush per number of active keys.
 */
async function run(server: BenchServer, bench: BenchContext) {
  const keys = JSON.parse(readFileSync(server.scaleKeysFile!, "utf8")) as string[];
  // One array per key count, so each count's rotation goes on across its rounds (a round of
  // 100,000 keys reaches 10,000-30,000 of them; the next round takes the next ones).
  const rotations = new Map(KEY_COUNTS.map((n) => [n, keys.slice(0, n)]));
  const target = (n: (typeof KEY_COUNTS)[number], extra: Partial<Target> = {}): Target => ({
    path: "/api/v1/iocs",
    apiKeys: rotations.get(n)!,
    ...extra,
  });
  const rounds = Math.max(2, Math.round(bench.seconds));

  await bench.sample(target(1), 2); // warm-up: JIT, connections
  // One key's 90-day usage as its owner's dashboard asks for it (the account owns the scale keys).
  const usageRequest: Target = {
    path: `/api/v1/keys/${server.usageKeyId}/usage?days=90`,
    headers: { cookie: server.listCookie },
  };
  const usageBefore: Sample[] = [];
  for (let r = 0; r < rounds; r++) usageBefore.push(await bench.sample(usageRequest, 1));
  const before = await call<Memory>(server, "/bench/memory");
  const firstOneKey: Sample[] = [];
  for (let r = 0; r < rounds; r++) firstOneKey.push(await bench.sample(target(1), 1));

  // Cold: every request presents a key this process has not seen (each key once).
  await call(server, "/bench/clear-key-cache", "POST");
  const cold = await bench.sample(target(MOST, { amount: MOST }), 0);

  // Warm rounds of ROUND_SECONDS per key count, each followed by a wait until its usage is
  // written (not counted), so each count is charged with its own usage writes as under a
  // steady load, but for the last second or so of them (reported). One-second rounds would
  // share the writes out: a round's keys would be written during the next round, whatever
  // its key count, flattering the many-key rounds and burdening the 1-key ones.
  // With more keys active than one usage write holds, the recorder writes each key once per
  // COALESCE_MS at a slot of its own: a round starting from an empty buffer would write
  // almost nothing while measured. Those rounds are preceded by COALESCE_MS of the same load,
  // not counted, so the measured seconds carry the steady state's writes (every key written
  // once a minute, with a minute of its requests).
  const warm = new Map<number, Sample[]>(KEY_COUNTS.map((n) => [n, []]));
  /** How long the usage writes took to catch up after each 100,000-key round. */
  const catchUpMs: number[] = [];
  for (let r = 0; r < Math.max(1, Math.round(rounds / ROUND_SECONDS)); r++) {
    // Rotate the order each cycle so drift on the machine hits every key count alike.
    const order = KEY_COUNTS.map((_, i) => KEY_COUNTS[(i + r) % KEY_COUNTS.length]!);
    for (const n of order) {
      if (n > KEYS_PER_WRITE) await bench.sample(target(n), COALESCE_MS / 1000);
      warm.get(n)!.push(await bench.sample(target(n), ROUND_SECONDS));
      const drained = await call<{ ms: number }>(server, "/bench/usage-drain", "POST");
      if (n === MOST) catchUpMs.push(drained.ms);
    }
  }
  const loaded = await call<Memory>(server, "/bench/memory");

  // The last rounds' usage may still be waiting or being written (thousands of keys active a
  // second, written at about 5,000 keys a second): "after" starts once those writes have
  // caught up, instead of after a fixed pause, and the time that took is reported.
  const drained = await call<{ pendingKeys: number; ms: number }>(
    server,
    "/bench/usage-drain",
    "POST",
  );
  const afterOneKey: Sample[] = [];
  for (let r = 0; r < rounds; r++) afterOneKey.push(await bench.sample(target(1), 1));
  const after = await call<Memory>(server, "/bench/memory");
  const swept = await call<Memory & { dropped: number; slices: number; longestMs: number }>(
    server,
    "/bench/sweep-key-cache",
    "POST",
  );
  // Freed heap pages go back to the system when V8's memory reducer runs, once the process
  // has been quiet for a while (a forced collection does not do it): memory again after a
  // quiet spell, what an operator sees once a wave of keys has passed.
  await new Promise((resolve) => setTimeout(resolve, QUIET_SECONDS * 1000));
  const quiet = await call<Memory>(server, "/bench/memory");
  const usage = await call<{ bytesPerKey: number; addressBytesPerKey: number }>(
    server,
    `/bench/usage-bytes?n=${MOST}`,
  );
  const flushes = [];
  for (const n of KEY_COUNTS) {
    flushes.push(await call<{ keys: number; ms: number }>(server, `/bench/flush?n=${n}`, "POST"));
  }
  // The usage endpoint once the rollup tables hold every scale key's rows, against the same
  // request before the load (nearly empty tables), same run.
  const usageAfter: Sample[] = [];
  for (let r = 0; r < rounds; r++) usageAfter.push(await bench.sample(usageRequest, 1));

  // Where each request's CPU goes: on a machine the server shares with its database and the
  // load generator, the rate follows their sum.
  const oneKey = rate(warm.get(1)!);
  console.log(
    `warm, ${ROUND_SECONDS}-second rounds      req/s  vs 1 key   CPU µs per request: server  PostgreSQL  load generator  total`,
  );
  for (const n of KEY_COUNTS) {
    const m = summarize(warm.get(n)!);
    const ratio = m.requestsPerSecond / oneKey;
    console.log(
      `${`${n.toLocaleString("en")} key${n === 1 ? "" : "s"}`.padEnd(28)} ${m.requestsPerSecond.toFixed(0).padStart(6)} ${ratio.toFixed(2).padStart(8)}× ${m.serverCpuUs.toFixed(1).padStart(26)} ${m.databaseCpuUs.toFixed(1).padStart(11)} ${m.clientCpuUs.toFixed(1).padStart(15)} ${(m.serverCpuUs + m.databaseCpuUs + m.clientCpuUs).toFixed(1).padStart(6)}` +
        (n === MOST ? `  (goal ≥ 0.8×: ${ratio >= 0.8 ? "PASS" : "MISS"})` : ""),
    );
  }
  // Each cycle's own ratio (its 1-key and 100,000-key rounds a few minutes apart): how far
  // the machine's drift moves the pooled figure above.
  const perCycle = warm.get(MOST)!.map((s, i) => rate([s]) / rate([warm.get(1)![i]!]));
  console.log(
    `${MOST.toLocaleString("en")} keys vs 1 key, cycle by cycle: ${perCycle.map((r) => `${r.toFixed(2)}×`).join(", ")}`,
  );
  console.log(
    `usage written ${catchUpMs.map((ms) => (ms / 1000).toFixed(1)).join(", ")} s after the ${MOST.toLocaleString("en")}-key rounds; PostgreSQL's CPU is its processes' on this machine`,
  );
  const coldRate = cold.times.length / cold.seconds;
  const warmMost = rate(warm.get(MOST)!);
  console.log(
    `cold: ${MOST.toLocaleString("en")} first lookups at ${coldRate.toFixed(0)} keys/s = ${(coldRate / warmMost).toFixed(2)}× the warm ${MOST.toLocaleString("en")}-key rate (goal ≥ 0.3×: ${coldRate / warmMost >= 0.3 ? "PASS" : "MISS"}); ${cold.failures} non-2xx`,
  );
  // CPU per request before and after: whether a slower "after" is this process or the
  // machine (PostgreSQL vacuuming what the load updated, or another tenant slowing every
  // process alike: the load generator does the same work before and after).
  const cpu = (samples: Sample[]) => {
    const m = summarize(samples);
    return `server ${m.serverCpuUs.toFixed(1)}, PostgreSQL ${m.databaseCpuUs.toFixed(1)}, load generator ${m.clientCpuUs.toFixed(1)}`;
  };
  console.log(
    `1 key before the 100,000-key load ${rate(firstOneKey).toFixed(0)} req/s, after it ${rate(afterOneKey).toFixed(0)} req/s (${(rate(afterOneKey) / rate(firstOneKey)).toFixed(2)}×), measured once the usage writes had caught up: ${(drained.ms / 1000).toFixed(1)} s after the load (${drained.pendingKeys.toLocaleString("en")} keys were waiting besides the flush in flight); CPU µs per request before: ${cpu(firstOneKey)}; after: ${cpu(afterOneKey)}`,
  );
  console.log(
    `server memory: RSS ${mb(before.rss)} before, ${mb(loaded.rss)} with ${loaded.cachedKeys.toLocaleString("en")} keys cached, ${mb(after.rss)} after the load; heap ${mb(before.heapUsed)} → ${mb(loaded.heapUsed)} → ${mb(after.heapUsed)}`,
  );
  console.log(
    `once every record's time is over, the cache's sweep dropped ${swept.dropped.toLocaleString("en")} entries in ${swept.slices} slices (the longest ${swept.longestMs.toFixed(1)} ms): RSS ${mb(swept.rss)}, heap ${mb(swept.heapUsed)} (before the load: ${mb(before.rss)}, ${mb(before.heapUsed)})`,
  );
  console.log(
    `${QUIET_SECONDS} s later, the process quiet: RSS ${mb(quiet.rss)}, heap ${mb(quiet.heapUsed)}`,
  );
  console.log(
    `bytes per cached key record: ${((after.heapUsed - swept.heapUsed) / after.cachedKeys).toFixed(0)} (heap released by the sweep, over ${after.cachedKeys.toLocaleString("en")} keys; goal ≤ 2048)`,
  );
  console.log(
    `bytes of usage state per active key between flushes: ${(usage.bytesPerKey + usage.addressBytesPerKey).toFixed(0)}: ${usage.bytesPerKey.toFixed(0)} of counts and ${usage.addressBytesPerKey.toFixed(0)} for its client address, kept for a minute after the key's last use (${MOST.toLocaleString("en")} keys; goal ≤ 1024)`,
  );
  console.log(
    `${"usage flush, active keys".padEnd(34)} ${"ms".padStart(8)} ${"µs/key".padStart(9)} ${"keys/s".padStart(9)}`,
  );
  for (const f of flushes) {
    console.log(
      `${f.keys.toLocaleString("en").padEnd(34)} ${f.ms.toFixed(1).padStart(8)} ${((f.ms * 1000) / f.keys).toFixed(1).padStart(9)} ${((f.keys / f.ms) * 1000).toFixed(0).padStart(9)}`,
    );
  }
  const before95 = summarize(usageBefore).p95Ms;
  const after95 = summarize(usageAfter).p95Ms;
  console.log(
    `usage, 90 days, 50 connections: p95 ${before95.toFixed(1)} ms before the load, ${after95.toFixed(1)} ms with ${MOST.toLocaleString("en")} keys' rollups stored (${(after95 / before95).toFixed(2)}×); ${summarize(usageBefore).failures + summarize(usageAfter).failures} non-2xx`,
  );
}

export const scale: Scenario = {
  name: "scale: 1 to 100,000 active keys",
  description:
    "GET /api/v1/iocs with 1, 1k, 10k, 100k distinct cached keys in rotation; cold path; memory; flush per key",
  skipReason: () =>
    process.env.TEST_DATABASE_URL ? null : "needs TEST_DATABASE_URL (100,000 keys in PostgreSQL)",
  nodeArgs: ["--expose-gc"],
  serverEnv: () => ({ BENCH_SCALE_KEYS: String(MOST), BENCH_KEY_CACHE_TTL_SECONDS: "3600" }),
  baseline: () => ({ path: "/api/v1/iocs" }),
  subject: () => ({ path: "/api/v1/iocs" }),
  run,
};
