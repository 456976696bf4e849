/**
 * The server's fast lane: the answers a busy server gives most, `GET /healthz` (load
 * balancers poll it) and a data request's answer, accepted or refused (a SIEM polling, a
 * runaway poller's 429s, a flood of forged keys' 401s), written straight to Node's response,
 * in front of Fastify. Every other request goes to Fastify as before, and so do the data
 * plane's rare outcomes that raise an alert or are server errors. Measured against a separate bare
 * Fastify process (see docs/measurements.md, Benchmarks): Fastify's routing, request and reply
 * objects, hook chain and send path cost `/healthz` about a quarter of its server CPU and a data
 * request about a fifth, more than the key's verification; with this lane an answer costs what bare
 * Fastify's does plus the security headers, the request id, the access line and, for a data
 * request, the gateway's own work.
 *
 * The lane never decides anything on its own: the data plane's checks are the gateway's
 * (`DataFastLane`), the headers and body are the ones the routes send (a parity test
 * compares both paths), and its lines go to the same access log.
 */
import { Buffer } from "node:buffer";
import {
  createServer,
  type IncomingMessage,
  type ServerOptions,
  type ServerResponse,
} from "node:http";
import { performance } from "node:perf_hooks";
import type { FastifyBaseLogger, FastifyServerFactory } from "fastify";
import { pathOf, safeError } from "@repo/core";
import type { DataFastLane } from "@repo/gateway";
import type { AccessLog } from "./access-log.js";

/** `/healthz`'s answer, on both paths. */
export const HEALTHY = { status: "ok" } as const;

export interface FastLaneOptions {
  /** The constant headers every API answer carries (the app's onRequest hook sets them). */
  headers: Record<string, string>;
  requestId: () => string;
  accessLog: AccessLog;
}

export interface FastLane {
  /** Fastify's `serverFactory`: Node's HTTP server with the lane in front of Fastify. */
  serverFactory: FastifyServerFactory;
  /** Wires the data plane and the server logger in once the app has them. */
  start(dataLane: DataFastLane, log: FastifyBaseLogger): void;
  /** From now on every request goes to Fastify (its 503 while closing). */
  close(): void;
  /** Requests the lane answered itself (tests check which path answered). */
  readonly served: number;
}

/** A request that carries a body is Fastify's to read and limit. */
function hasBody(request: IncomingMessage): boolean {
  const length = request.headers["content-length"];
  return (
    (length !== undefined && length !== "0") || request.headers["transfer-encoding"] !== undefined
  );
}

export function createFastLane(options: FastLaneOptions): FastLane {
  const healthPath = pathOf("healthz");
  const healthBody = JSON.stringify(HEALTHY);
  const healthHeaders = Object.entries({
    ...options.headers,
    "content-type": "application/json; charset=utf-8",
    "content-length": String(Buffer.byteLength(healthBody)),
  }).flat();
  let dataLane: DataFastLane | undefined;
  let log: FastifyBaseLogger | undefined;
  let open = false;
  let served = 0;

  /**
   * True when the lane answers (now, or once the key's verification has waited for the
   * database or Redis); false: Fastify's `handler` is to answer, now. A data request the lane
   * declines after waiting goes to `handler` then.
   */
  function serve(
    request: IncomingMessage,
    response: ServerResponse,
    handler: (request: IncomingMessage, response: ServerResponse) => void,
  ): boolean {
    if (!open || request.method !== "GET" || hasBody(request)) return false;
    const url = request.url!;
    const ip = request.socket.remoteAddress!;
    if (url === healthPath) {
      const id = options.requestId();
      response.writeHead(200, [...healthHeaders, "x-request-id", id]);
      response.end(healthBody);
      options.accessLog.probe(log!, url, ip);
      served++;
      return true;
    }
    const startMs = performance.now();
    const queryAt = url.indexOf("?");
    const path = queryAt === -1 ? url : url.slice(0, queryAt);
    const id = options.requestId();
    const answered = dataLane!({ raw: request, path, id, ip, startMs }, response);
    if (answered === false) return false;
    if (typeof answered === "number") {
      options.accessLog.write(log!, id, "GET", url, ip, answered, performance.now() - startMs);
      served++;
      return true;
    }
    void answered.then(
      (status) => {
        if (status === false) return handler(request, response);
        options.accessLog.write(log!, id, "GET", url, ip, status, performance.now() - startMs);
        served++;
      },
      (error: unknown) => {
        // Nothing in the lane's answer is expected to throw; if it did, the request still
        // gets an answer (Fastify's, as before the lane) unless one was already started.
        log!.error({ error: safeError(error) }, "fast lane failed");
        if (response.headersSent) response.destroy();
        else handler(request, response);
      },
    );
    return true;
  }

  return {
    serverFactory: (handler, factoryOptions) => {
      // Fastify hands the factory its options with its defaults filled in.
      const settings = factoryOptions as {
        http?: ServerOptions;
        keepAliveTimeout: number;
        requestTimeout: number;
        connectionTimeout: number;
        maxRequestsPerSocket: number;
      };
      const server = createServer(settings.http ?? {}, (request, response) => {
        if (!serve(request, response, handler)) handler(request, response);
      });
      // What Fastify sets on a server it creates itself, and leaves to a factory.
      server.keepAliveTimeout = settings.keepAliveTimeout;
      server.requestTimeout = settings.requestTimeout;
      server.setTimeout(settings.connectionTimeout);
      if (settings.maxRequestsPerSocket > 0)
        server.maxRequestsPerSocket = settings.maxRequestsPerSocket;
      return server;
    },
    start(lane, serverLog) {
      dataLane = lane;
      log = serverLog;
      open = true;
    },
    close() {
      open = false;
    },
    get served() {
      return served;
    },
  };
}
