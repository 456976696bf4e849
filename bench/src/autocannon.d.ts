// The subset of autocannon's API the runner uses (the package ships no types).
declare module "autocannon" {
  import type { EventEmitter } from "node:events";

  interface Options {
    url: string;
    connections?: number;
    duration?: number;
    /** Requests to send in total (instead of a duration). */
    amount?: number;
    /** Requests per second across all connections (a paced load instead of as fast as possible). */
    overallRate?: number;
    method?: string;
    headers?: Record<string, string>;
    requests?: {
      method?: string;
      path: string;
      headers?: Record<string, string>;
      body?: string;
      setupRequest?: (
        request: { path: string; headers?: Record<string, string> },
        context: Record<string, string>,
      ) => { path: string; headers?: Record<string, string> };
      onResponse?: (status: number, body: string, context: Record<string, string>) => void;
    }[];
  }
  interface Result {
    requests: { average: number; total: number };
    non2xx: number;
    /** Responses by status code ("200": { count }). */
    statusCodeStats: Record<string, { count: number }>;
    errors: number;
    timeouts: number;
  }
  interface Instance extends EventEmitter, PromiseLike<Result> {
    on(
      event: "response",
      listener: (
        client: unknown,
        statusCode: number,
        bytes: number,
        responseTimeMs: number,
      ) => void,
    ): this;
  }
  function autocannon(options: Options): Instance;
  export default autocannon;
}
