/** What a benchmark server process prepared: where it listens and what it seeded. */
export interface BenchServer {
  url: string;
  /** A Pro key with limits far above what a run can send (so every request is a 200). */
  apiKey: string;
  /** Session cookie of a Pro account owning 10 keys (the list scenario). */
  listCookie: string;
  /** Session cookie of a Pro account with no keys (the create + revoke scenario). */
  churnCookie: string;
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
  /** Extra environment for the server process. */
  serverEnv?: () => Record<string, string>;
  /** Runs before every measurement (e.g. to clear state a cut-off sequence left behind). */
  beforeSample?: (server: BenchServer) => Promise<void>;
  baseline: (server: BenchServer) => Target;
  subject: (server: BenchServer) => Target;
  /** Targets printed next to the figures (PASS/MISS); never asserted. */
  goals?: { minThroughputRatio?: number; maxAddedP99Ms?: number; maxP95Ratio?: number };
}
