import autocannon from "autocannon";
import type { Step, Target } from "./types.js";

export interface Measurement {
  requestsPerSecond: number;
  /** Server CPU (user + system) per answered request, in microseconds. */
  serverCpuUs: number;
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

/** Raw response times of one or more autocannon runs against the same target. */
export interface Sample {
  times: number[];
  /** Server CPU microseconds used during the sample. */
  cpuUs: number;
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
  instance.on("response", (_client, status, _bytes, responseTimeMs) => {
    const expected = target.expectStatus
      ? status === target.expectStatus
      : status >= 200 && status < 300;
    if (expected) times.push(responseTimeMs);
    else unexpected++;
  });
  const result = await instance;
  const elapsedSeconds = (performance.now() - started) / 1000;
  const cpuUs = (await serverCpu(baseUrl)) - cpuBefore;
  return {
    times,
    cpuUs,
    seconds: target.amount ? elapsedSeconds : seconds,
    total: result.requests.total,
    failures: unexpected + result.errors + result.timeouts,
  };
}
