import type { Sample } from "./measure.js";

/** What a benchmark server process prepared: where it listens and what it seeded. */
export interface BenchServer {
  url: string;
  /** A Pro key with limits far above what a run can send (so every request is a 200). */
  apiKey: string;
  /** Like `apiKey`, of an account with 3 webhook endpoints subscribed to every event. */
  alertsApiKey: string;
  /** Session cookie of a Pro account owning 10 keys (the list scenario). */
  listCookie: string;
  /** Session cookie of a Pro account with no keys (the create + revoke scenario). */
  churnCookie: string;
  /** The separate bare Fastify process (scenarios with `bareProcess`). */
  bareUrl?: string;
  /** JSON array of BENCH_SCALE_KEYS distinct keys (the scale scenario), when asked for. */
  scaleKeysFile?: string;
  /** A Pro key allowed 1 request a minute: every answer after the first is a 429. */
  throttledKey: string;
  /** A Free key (no read:stix): /api/v1/iocs/stix answers it 403 insufficient_scope. */
  freeKey: string;
  /** A key of the list account with 90 days of Pro-level usage rollups. */
  usageKeyId: string;
  /** The same app on the same database and process, with usage analytics recording off. */
  analyticsOffUrl: string;
}

/** One request of a sequence; `fromPrevious` builds its path from the previous response. */
export interface Step {
  path: string;
  method?: "GET" | "POST" | "DELETE";
  headers?: Record<string, string>;
  body?: string;
  /** Reads what the next step needs from this step's response body. */
  capture?: (body: string) => string;
  /** Builds this step's path from what the previous step captured. */
  pathFrom?: (captured: string) => string;
}

export interface Target {
  /** Another server of the same process to send to (default: the scenario's server). */
  url?: string;
  path: string;
  method?: "GET" | "POST";
  headers?: Record<string, string>;
  /** A sequence each connection repeats instead of the single request above. */
  steps?: Step[];
  /**
   * Keys sent in X-API-Key in rotation, one per request (all connections share the turn; the
   * next sample with the same array goes on where this one stopped).
   */
  apiKeys?: readonly string[];
  /** Send exactly this many requests instead of running for a time. */
  amount?: number;
  /**
   * The status every answer of a valid run has (refused-path scenarios: 401, 403, 429);
   * default any 2xx. Answers counted and timed are those with it; others are failures.
   */
  expectStatus?: number;
}

/**
 * One comparison: a subject against a baseline measured in the same run on the same server
 * process. Add a module under bench/scenarios/ and list it in scenarios/index.ts.
 */
export interface Scenario {
  name: string;
  description: string;
  /** Why the scenario cannot run on this machine (e.g. a service it needs is not set). */
  skipReason?: () => string | null;
  /** Also start the separate bare Fastify process (bench/src/bare-server.ts). */
  bareProcess?: boolean;
  /** Extra node flags for the server process (e.g. --expose-gc). */
  nodeArgs?: string[];
  /**
   * A scenario with its own procedure (several phases, its own table) instead of the
   * interleaved baseline/subject rounds.
   */
  run?: (server: BenchServer, bench: BenchContext) => Promise<void>;
  /** Extra environment for the server process. */
  serverEnv?: () => Record<string, string>;
  /** Runs before every measurement (e.g. to clear state a cut-off sequence left behind). */
  beforeSample?: (server: BenchServer) => Promise<void>;
  baseline: (server: BenchServer) => Target;
  subject: (server: BenchServer) => Target;
  /** Targets printed next to the figures (PASS/MISS); never asserted. */
  goals?: { minThroughputRatio?: number; maxAddedP99Ms?: number; maxP95Ratio?: number };
}

/**
 * A run under a fault rather than a comparison (e.g. a dependency restarted mid-load): it
 * starts its own server(s) and prints its own figures.
 */
export interface FaultScenario {
  name: string;
  description: string;
  skipReason?: () => string | null;
  run: (context: {
    seconds: number;
    connections: number;
    /** A benchmark server process with extra environment; `stop` ends it. */
    startServer: (
      env: Record<string, string>,
    ) => Promise<{ server: BenchServer; stop: () => Promise<void> }>;
  }) => Promise<void>;
}

export interface BenchContext {
  seconds: number;
  connections: number;
  sample(target: Target, seconds: number, connections?: number): Promise<Sample>;
}
