import { readdirSync, readFileSync } from "node:fs";
import autocannon from "autocannon";
import type { Step, Target } from "./types.js";

export interface Measurement {
  requestsPerSecond: number;
  /** Server CPU (user + system) per answered request, in microseconds. */
  serverCpuUs: number;
  /** The same for the PostgreSQL processes on this machine (NaN when there are none). */
  databaseCpuUs: number;
  /** The same for this process, the load generator. */
  clientCpuUs: number;
  p50Ms: number;
  p95Ms: number;
  p99Ms: number;
  total: number;
  /** Responses other than 2xx, errors and timeouts: a valid run has none. */
  failures: number;
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)]!;
}

async function serverCpu(baseUrl: string): Promise<number> {
  const usage = (await (await fetch(`${baseUrl}/bench/cpu`)).json()) as {
    user: number;
    system: number;
  };
  return usage.user + usage.system;
}

/** Linux's clock ticks per second (`getconf CLK_TCK`), the unit of /proc/<pid>/stat times. */
const CLOCK_TICKS_PER_SECOND = 100;

/**
 * CPU microseconds used so far by the PostgreSQL processes on this machine (server and
 * backends), read from /proc: when the database runs beside the server (CI, this bench's
 * default), its cost per request is part of the answer to "what does a request cost". NaN
 * where there are none (PGlite runs inside the server) or /proc cannot be read.
 */
function localPostgresCpuUs(): number {
  let ticks = 0;
  let found = false;
  let pids: string[];
  try {
    pids = readdirSync("/proc").filter((name) => /^\d+$/.test(name));
  } catch {
    return NaN;
  }
  for (const pid of pids) {
    try {
      if (!readFileSync(`/proc/${pid}/comm`, "utf8").startsWith("postgres")) continue;
      // Fields after the command's closing parenthesis: utime and stime are the 12th and
      // 13th, cutime and cstime (children that ended and were waited for) the 14th and 15th.
      // Only the postmaster has children: its backends. Without theirs, a connection closed
      // during a sample took its CPU with it and the sample could come out negative.
      const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
      ticks += Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14]);
      found = true;
    } catch {
      // The process ended meanwhile.
    }
  }
  return found ? (ticks * 1_000_000) / CLOCK_TICKS_PER_SECOND : NaN;
}

const ownCpuUs = () => {
  const usage = process.cpuUsage();
  return usage.user + usage.system;
};

/** Raw response times of one or more autocannon runs against the same target. */
export interface Sample {
  times: number[];
  /** Server CPU microseconds used during the sample. */
  cpuUs: number;
  /** Local PostgreSQL's CPU microseconds during the sample (NaN: none on this machine). */
  databaseCpuUs: number;
  /** This process's CPU microseconds during the sample. */
  clientCpuUs: number;
  seconds: number;
  failures: number;
  total: number;
}

export function summarize(samples: Sample[]): Measurement {
  const times = samples.flatMap((s) => s.times);
  const seconds = samples.reduce((sum, s) => sum + s.seconds, 0);
  const sorted = Float64Array.from(times).sort();
  return {
    requestsPerSecond: times.length / seconds,
    serverCpuUs: samples.reduce((sum, s) => sum + s.cpuUs, 0) / times.length,
    databaseCpuUs: samples.reduce((sum, s) => sum + s.databaseCpuUs, 0) / times.length,
    clientCpuUs: samples.reduce((sum, s) => sum + s.clientCpuUs, 0) / times.length,
    p50Ms: percentile(sorted, 0.5),
    p95Ms: percentile(sorted, 0.95),
    p99Ms: percentile(sorted, 0.99),
    total: samples.reduce((sum, s) => sum + s.total, 0),
    failures: samples.reduce((sum, s) => sum + s.failures, 0),
  };
}

/** A sequence step in autocannon's form: captures flow through the connection's context. */
function toAutocannonRequest(step: Step) {
  return {
    method: step.method ?? "GET",
    path: step.path,
    headers: step.headers,
    body: step.body,
    ...(step.pathFrom
      ? {
          setupRequest: (request: { path: string }, context: Record<string, string>) => ({
            ...request,
            path: step.pathFrom!(context.captured ?? ""),
          }),
        }
      : {}),
    ...(step.capture
      ? {
          onResponse: (_status: number, body: string, context: Record<string, string>) => {
            context.captured = step.capture!(body);
          },
        }
      : {}),
  };
}

/**
 * Where each key list's rotation stands: a rotation goes on from one sample to the next, so
 * one-second rounds over 100,000 keys reach every key instead of starting again at the first.
 */
const rotations = new WeakMap<readonly string[], { next: number }>();

/** A request that presents the next key of `keys` each time it is sent. */
function rotateKeys(path: string, keys: readonly string[]) {
  let rotation = rotations.get(keys);
  if (!rotation) rotations.set(keys, (rotation = { next: 0 }));
  const turn = rotation;
  return {
    path,
    setupRequest: (request: { path: string; headers?: Record<string, string> }) => {
      request.headers = { ...request.headers, "x-api-key": keys[turn.next++ % keys.length]! };
      return request;
    },
  };
}

/**
 * Drives `target` with autocannon for `seconds`, keeping every 2xx response's own time
 * (autocannon's histogram rounds to whole milliseconds).
 */
export async function sample(
  baseUrl: string,
  target: Target,
  seconds: number,
  connections: number,
): Promise<Sample> {
  baseUrl = target.url ?? baseUrl;
  const times: number[] = [];
  let unexpected = 0;
  const cpuBefore = await serverCpu(baseUrl);
  const databaseBefore = localPostgresCpuUs();
  const clientBefore = ownCpuUs();
  const started = performance.now();
  const instance = autocannon({
    url: baseUrl + target.path,
    method: target.method ?? "GET",
    headers: target.headers ?? {},
    connections,
    ...(target.amount ? { amount: target.amount } : { duration: seconds }),
    ...(target.steps ? { requests: target.steps.map(toAutocannonRequest) } : {}),
    ...(target.apiKeys ? { requests: [rotateKeys(target.path, target.apiKeys)] } : {}),
  });
  // A run of `amount` requests ends at autocannon's next one-second tick after the last
  // answer, not at the answer: timed to its last answer instead, or a 10-second pass could
  // be charged up to 11 (measured: cold rates came out as 100,000 keys over whole seconds).
  let lastAnswerAt = started;
  instance.on("response", (_client, status, _bytes, responseTimeMs) => {
    lastAnswerAt = performance.now();
    const expected = target.expectStatus
      ? status === target.expectStatus
      : status >= 200 && status < 300;
    if (expected) times.push(responseTimeMs);
    else unexpected++;
  });
  const result = await instance;
  const elapsedSeconds = (lastAnswerAt - started) / 1000;
  const clientCpuUs = ownCpuUs() - clientBefore;
  const databaseCpuUs = localPostgresCpuUs() - databaseBefore;
  const cpuUs = (await serverCpu(baseUrl)) - cpuBefore;
  return {
    times,
    cpuUs,
    databaseCpuUs,
    clientCpuUs,
    seconds: target.amount ? elapsedSeconds : seconds,
    total: result.requests.total,
    failures: unexpected + result.errors + result.timeouts,
  };
}
