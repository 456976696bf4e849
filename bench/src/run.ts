/**
 * `npm run bench`: for each scenario, starts a server process on 127.0.0.1, warms it up,
 * then measures the baseline and the subject in the same run with autocannon and prints
 * req/s, p50/p99 and the ratios. BENCH_DURATION (seconds per measurement, default 10) and
 * BENCH_CONNECTIONS (default 50) tune it, BENCH_SCENARIOS picks scenarios by name;
 * TEST_DATABASE_URL selects PostgreSQL over PGlite; BENCH_NODE_ARGS adds node options to the
 * server processes (e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof` to profile a scenario).
 * Results are also written to bench/results/<timestamp>.json.
 */
import { execFileSync, spawn } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { faultScenarios, scenarios } from "../scenarios/index.js";
import { sample, summarize, type Measurement, type Sample } from "./measure.js";
import type { BenchServer, Scenario, Target } from "./types.js";

const here = path.dirname(fileURLToPath(import.meta.url));
const seconds = Number(process.env.BENCH_DURATION ?? 10);
const connections = Number(process.env.BENCH_CONNECTIONS ?? 50);
const warmupSeconds = Math.min(3, Math.max(1, Math.round(seconds / 4)));

/**
 * The benchmark server bundled exactly as the server is for production (apps/server's build
 * script), so the figures are those of the shipped code, not of tsx's on-the-fly transform.
 */
const serverBundle = path.join(here, "..", "dist", "server.js");
const bareBundle = path.join(here, "..", "dist", "bare-server.js");
for (const [entry, bundle] of [
  ["server.ts", serverBundle],
  ["bare-server.ts", bareBundle],
]) {
  execFileSync(
    process.execPath,
    [
      path.join(here, "..", "..", "apps", "server", "scripts", "build.mjs"),
      path.join(here, entry!),
      bundle!,
    ],
    { stdio: "inherit" },
  );
}

/** Extra node options for the server processes, e.g. `--cpu-prof` to profile a scenario. */
const nodeArgs = (process.env.BENCH_NODE_ARGS ?? "").split(" ").filter(Boolean);

/** Starts a bundled server process and resolves with the JSON line it prints when ready. */
async function startProcess<T>(bundle: string, args: string[], env: Record<string, string>) {
  const child = spawn(process.execPath, [...nodeArgs, ...args, bundle], {
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      NODE_ENV: "production",
      ...(process.env.TEST_DATABASE_URL
        ? { TEST_DATABASE_URL: process.env.TEST_DATABASE_URL }
        : {}),
      ...env,
    },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const lines = createInterface({ input: child.stdout });
  const server = await new Promise<T>((resolve, reject) => {
    child.once("exit", (code) => reject(new Error(`bench server exited with ${code}`)));
    lines.once("line", (line) => resolve(JSON.parse(line) as T));
  });
  return {
    server,
    stop: () =>
      new Promise<void>((resolve) => {
        child.removeAllListeners("exit");
        child.once("exit", () => resolve());
        child.kill("SIGTERM");
      }),
  };
}

const fmt = (n: number, digits = 2) => (Number.isFinite(n) ? n.toFixed(digits) : "-");

interface Row {
  scenario: string;
  /** Subject req/s over baseline req/s in each round. */
  roundRatios: number[];
  baseline: Measurement;
  subject: Measurement;
  unloadedBaseline: Measurement;
  unloadedSubject: Measurement;
}

async function runScenario(scenario: Scenario): Promise<Row | null> {
  const reason = scenario.skipReason?.();
  if (reason) {
    console.log(`\n## ${scenario.name}\nskipped: ${reason}`);
    return null;
  }
  console.log(`\n## ${scenario.name}\n${scenario.description}`);
  const { server, stop: stopServer } = await startProcess<BenchServer>(
    serverBundle,
    scenario.nodeArgs ?? [],
    scenario.serverEnv?.() ?? {},
  );
  let stopBare = () => Promise.resolve();
  if (scenario.bareProcess) {
    const body = await (await fetch(`${server.url}/bench/bare`)).text();
    const bare = await startProcess<{ url: string }>(bareBundle, [], {
      BENCH_BARE_BODY: body,
      ...(process.env.BENCH_CALIBRATION_US
        ? { BENCH_CALIBRATION_US: process.env.BENCH_CALIBRATION_US }
        : {}),
    });
    server.bareUrl = bare.server.url;
    stopBare = bare.stop;
  }
  const stop = () => Promise.all([stopServer(), stopBare()]);
  if (scenario.run) {
    try {
      await scenario.run(server, {
        seconds,
        connections,
        sample: (target, secs, conns = connections) => sample(server.url, target, secs, conns),
      });
    } finally {
      await stop();
    }
    return null;
  }
  try {
    const measure = async (target: Target, secs: number, conns: number) => {
      await scenario.beforeSample?.(server);
      return sample(server.url, target, secs, conns);
    };
    const baseline = scenario.baseline(server);
    const subject = scenario.subject(server);
    await measure(baseline, warmupSeconds, connections);
    await measure(subject, warmupSeconds, connections);
    // Short interleaved rounds in alternating order (ABBA…), so drift on the machine (other
    // load, CPU steal, GC, heap growth) hits both sides alike; the spread of the per-round
    // ratios is printed to show how much the machine moved.
    const rounds = Math.max(2, Math.round(seconds));
    const runs = { baseline: [] as Sample[], subject: [] as Sample[] };
    const unloaded = { baseline: [] as Sample[], subject: [] as Sample[] };
    for (let round = 0; round < rounds; round++) {
      const baselineFirst = round % 2 === 0;
      if (baselineFirst) runs.baseline.push(await measure(baseline, seconds / rounds, connections));
      runs.subject.push(await measure(subject, seconds / rounds, connections));
      if (!baselineFirst)
        runs.baseline.push(await measure(baseline, seconds / rounds, connections));
    }
    for (let round = 0; round < 2; round++) {
      // One connection: latency without queueing, i.e. what each request itself costs.
      unloaded.baseline.push(await measure(baseline, Math.max(1, seconds / 4), 1));
      unloaded.subject.push(await measure(subject, Math.max(1, seconds / 4), 1));
    }
    const row: Row = {
      scenario: scenario.name,
      // Rounds of one index have the same length: the ratio of their answered requests.
      roundRatios: runs.subject.map((run, i) => run.times.length / runs.baseline[i]!.times.length),
      baseline: summarize(runs.baseline),
      subject: summarize(runs.subject),
      unloadedBaseline: summarize(unloaded.baseline),
      unloadedSubject: summarize(unloaded.subject),
    };
    print(scenario, row);
    return row;
  } finally {
    await stop();
  }
}

function print(scenario: Scenario, row: Row) {
  const line = (label: string, m: Measurement) =>
    `${label.padEnd(30)} ${fmt(m.requestsPerSecond, 0).padStart(9)} ${fmt(m.p50Ms).padStart(8)} ${fmt(m.p95Ms).padStart(8)} ${fmt(m.p99Ms).padStart(8)} ${fmt(m.serverCpuUs, 1).padStart(12)} ${String(m.failures).padStart(8)}`;
  console.log(
    `${"".padEnd(30)} ${"req/s".padStart(9)} ${"p50 ms".padStart(8)} ${"p95 ms".padStart(8)} ${"p99 ms".padStart(8)} ${"CPU µs/req".padStart(12)} ${"non-2xx".padStart(8)}`,
  );
  console.log(line(`baseline (${connections} conn)`, row.baseline));
  console.log(line(`subject (${connections} conn)`, row.subject));
  console.log(line("baseline (1 conn)", row.unloadedBaseline));
  console.log(line("subject (1 conn)", row.unloadedSubject));
  const ratio = row.subject.requestsPerSecond / row.baseline.requestsPerSecond;
  const sortedRatios = [...row.roundRatios].sort((a, b) => a - b);
  const addedLoaded = row.subject.p99Ms - row.baseline.p99Ms;
  const addedUnloaded = row.unloadedSubject.p99Ms - row.unloadedBaseline.p99Ms;
  const goal = scenario.goals ?? {};
  const verdict = (ok: boolean) => (ok ? "PASS" : "MISS");
  console.log(
    `throughput ratio ${fmt(ratio)}×` +
      (goal.minThroughputRatio
        ? ` (goal ≥ ${goal.minThroughputRatio}×: ${verdict(ratio >= goal.minThroughputRatio)})`
        : "") +
      `; per round: median ${fmt(sortedRatios[Math.floor(sortedRatios.length / 2)]!)}×, range ${fmt(sortedRatios[0]!)}–${fmt(sortedRatios.at(-1)!)}× over ${sortedRatios.length} rounds`,
  );
  if (goal.maxP95Ratio) {
    const p95Ratio = row.subject.p95Ms / row.baseline.p95Ms;
    console.log(
      `p95 ratio ${fmt(p95Ratio)}× (goal ≤ ${goal.maxP95Ratio}×: ${verdict(p95Ratio <= goal.maxP95Ratio)})`,
    );
  }
  console.log(
    `p99 added: ${fmt(addedUnloaded, 3)} ms unloaded, ${fmt(addedLoaded, 3)} ms at ${connections} connections` +
      (goal.maxAddedP99Ms
        ? ` (goal < ${goal.maxAddedP99Ms} ms unloaded: ${verdict(addedUnloaded < goal.maxAddedP99Ms)})`
        : ""),
  );
}

/**
 * The machine a run was taken on: CPU model, cores and cache sizes. Ratios that depend on
 * memory (100,000 keys' lookups) move with the host's caches, and with how busy the host is
 * (docs/measurements.md, Scale-out), so a figure compares only with others from the same
 * kind of host, and then only within the machine's noise.
 */
function machine(): string {
  const cpus = os.cpus();
  const caches: string[] = [];
  for (let i = 0; ; i++) {
    const dir = `/sys/devices/system/cpu/cpu0/cache/index${i}`;
    try {
      const read = (name: string) => readFileSync(`${dir}/${name}`, "utf8").trim();
      const type = read("type");
      caches.push(
        `L${read("level")}${type === "Unified" ? "" : type[0]!.toLowerCase()} ${read("size")}`,
      );
    } catch {
      break;
    }
  }
  return `${cpus[0]?.model.trim() ?? "unknown CPU"}, ${cpus.length} cores${caches.length ? ` (${caches.join(", ")})` : ""}`;
}

const host = machine();
console.log(
  `keyservice bench: ${seconds}s per measurement, ${connections} connections, database ${process.env.TEST_DATABASE_URL ? "PostgreSQL" : "PGlite (in memory)"}\nmachine: ${host}`,
);
// BENCH_SCENARIOS: comma-separated parts of scenario names, to run a subset.
const only = (process.env.BENCH_SCENARIOS ?? "")
  .split(",")
  .map((part) => part.trim().toLowerCase())
  .filter(Boolean);
const rows: Row[] = [];
for (const scenario of scenarios) {
  if (only.length > 0 && !only.some((part) => scenario.name.toLowerCase().includes(part))) continue;
  const row = await runScenario(scenario);
  if (row) rows.push(row);
}
for (const fault of faultScenarios) {
  if (only.length > 0 && !only.some((part) => fault.name.toLowerCase().includes(part))) continue;
  const reason = fault.skipReason?.();
  console.log(`\n## ${fault.name}\n${reason ? `skipped: ${reason}` : fault.description}`);
  if (!reason) {
    await fault.run({
      seconds,
      connections,
      startServer: (env) => startProcess<BenchServer>(serverBundle, [], env),
    });
  }
}
const resultsDir = path.join(here, "..", "results");
mkdirSync(resultsDir, { recursive: true });
const file = path.join(resultsDir, `${new Date().toISOString().replace(/[:.]/g, "-")}.json`);
writeFileSync(file, JSON.stringify({ seconds, connections, machine: host, rows }, null, 2));
console.log(`\nresults: ${path.relative(process.cwd(), file)}`);
