import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import path from "node:path";
import helmet from "helmet";
import fastifyStatic from "@fastify/static";
import {
  createAuthThrottle,
  createDeliveryWorker,
  createSessionManager,
  destinationPolicy,
  normalizeOrigin,
  registerApi,
  type ApiDeps,
  type DeliveryWorker,
  type ThrottlePolicy,
} from "@repo/api";
import {
  ApiError,
  installErrorHandling,
  isApiPath,
  pathOf,
  rawRefusals,
  sendError,
  sendErrorCode,
} from "@repo/core";
import { registerGateway, type ScopeRule } from "@repo/gateway";
import type { DatabaseHandle } from "@repo/db";
import { Redis } from "ioredis";
import { AccessLog, RequestLogger } from "./access-log.js";
import { createFastLane, HEALTHY, type FastLane } from "./fast-lane.js";
import Fastify, {
  type FastifyBaseLogger,
  type FastifyReply,
  type FastifyRequest,
  type FastifyServerOptions,
} from "fastify";

export interface AppOptions {
  database: DatabaseHandle;
  publicUrl: URL;
  allowedOrigins: string[];
  sessionCookieName: string;
  secureCookies: boolean;
  sessionIdleSeconds: number;
  sessionAbsoluteSeconds: number;
  signUpEnabled: boolean;
  trustProxy: boolean | number | string[];
  /** Directory of the built SPA; the app serves it when it exists. */
  webDistDir: string | undefined;
  logger: FastifyServerOptions["logger"];
  /** Access lines for successful answers a second (default 1,000; Infinity: all). */
  accessLogSuccessLinesPerSecond?: number;
  throttlePolicy?: ThrottlePolicy;
  /** Namespace of the sign-in throttles in Redis (when `gateway.redisUrl` is set). */
  authThrottleKeyPrefix?: string;
  /** See `ApiDeps.changesInFlightPerAccount` (default 4). */
  changesInFlightPerAccount?: number;
  now?: () => Date;
  /** The data plane (see README "Using a key"); every field has a default. */
  gateway?: GatewaySettings;
  webhooks?: WebhookSettings;
}

export interface WebhookSettings {
  /** Private/loopback ranges webhook destinations may nevertheless resolve to. */
  allowedCidrs?: string[];
  timeoutMs?: number;
  leaseMs?: number;
  /** false: no background delivery (tests drive `app.webhookWorker` themselves). */
  deliver?: boolean;
  random?: () => number;
}

declare module "fastify" {
  interface FastifyInstance {
    /** Delivers the webhook outbox and sweeps for expiring keys (see api/webhooks). */
    webhookWorker: DeliveryWorker;
    /** Answers `/healthz` and accepted data requests in front of Fastify (see fast-lane.ts). */
    fastLane: FastLane;
  }
}

export interface GatewaySettings {
  redisUrl?: string;
  redisKeyPrefix?: string;
  upstreamUrl?: string;
  /** The data API's own origin (see README "Serving the data API on its own origin"). */
  dataApiOrigin?: string;
  scopeRules?: ScopeRule[];
  keyCacheTtlSeconds?: number;
  keyCacheStaleSeconds?: number;
  usageFlushIntervalMs?: number;
  usageCoalesceAboveKeys?: number;
  usageSpillDir?: string;
  usageCloseDeadlineMs?: number;
  usageAnalytics?: boolean;
  failedAuthPerMinute?: number;
}

/** The dashboard's policy: its own scripts, styles and API only; never framed. */
function contentSecurityPolicy(https: boolean): string {
  return [
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data:",
    "connect-src 'self'",
    "frame-ancestors 'none'",
    "form-action 'self'",
    "base-uri 'none'",
    "object-src 'none'",
    ...(https ? ["upgrade-insecure-requests"] : []),
  ].join("; ");
}

/**
 * The built SPA, when there is one: client-side routes get index.html (history fallback),
 * with the document headers and the dashboard's CSP, while API paths keep their JSON 404.
 */
function singlePageApp(root: string | undefined, https: boolean) {
  if (root === undefined || !existsSync(path.join(root, "index.html"))) return undefined;
  const headers = {
    ...documentHeaders(https),
    "content-security-policy": contentSecurityPolicy(https),
    "cache-control": "no-cache",
  };
  // cacheControl: false keeps our no-cache (sendFile would set "public, max-age=0").
  const sendIndex = (reply: FastifyReply) =>
    reply.headers(headers).sendFile("index.html", { cacheControl: false });
  return {
    root,
    sendIndex,
    fallback: (request: FastifyRequest, reply: FastifyReply) => {
      const wantsPage = request.method === "GET" && request.headers.accept?.includes("text/html");
      return wantsPage && !isApiPath(request.url) ? sendIndex(reply) : undefined;
    },
  };
}

/**
 * The headers on every answer that is not a document (JSON, the data plane, static assets):
 * the set OWASP's REST Security Cheat Sheet gives for APIs. Nothing can be sniffed into
 * something else, read by another origin's no-cors request, framed, or rendered with any
 * power (a JSON answer opened as a page gets `default-src 'none'`), and no Referer leaves
 * an answer whose URL may carry `api_key`. helmet's other headers (opener and agent-cluster
 * isolation, DNS prefetch, download options, the XSS auditor, Flash policies) only mean
 * something on HTML documents, so they go with the SPA's pages (documentHeaders) instead of
 * on every answer: each header is validated and written per response, and the full set
 * tripled a JSON answer's size (measured: bare Fastify given only those headers ran at
 * 0.73-0.78x of itself without them; see docs/measurements.md, Benchmarks).
 */
function apiHeaders(https: boolean): Record<string, string> {
  const hsts = documentHeaders(https)["strict-transport-security"];
  return {
    "content-security-policy": "default-src 'none'; frame-ancestors 'none'",
    "cross-origin-resource-policy": "same-origin",
    "referrer-policy": "no-referrer",
    "x-content-type-options": "nosniff",
    ...(hsts === undefined ? {} : { "strict-transport-security": hsts }),
  };
}

/** helmet's full set (HSTS only when served over https), for documents, as a map. */
function documentHeaders(https: boolean): Record<string, string> {
  const headers: Record<string, string> = {};
  const response = {
    setHeader: (name: string, value: unknown) => (headers[name.toLowerCase()] = String(value)),
    removeHeader: () => undefined,
  };
  helmet({ contentSecurityPolicy: false, hsts: https ? {} : false })(
    {} as never,
    response as never,
    () => undefined,
  );
  return headers;
}

/**
 * Request ids: `req_` and 128 random bits in hex, unguessable and unrelated to each other
 * (a counter would tell any client how many requests the platform serves). The randomness
 * is drawn 256 ids at a time: measured, a `randomUUID()` per request with its dashes removed
 * cost about 1 µs of the ~25 µs that `/healthz` costs bare Fastify. The 256 ids are written
 * into one string and each id is a slice of it: an id built as `req_` + hex was a
 * concatenation, which V8 must copy into one piece (a call into its runtime) before Node's
 * header check can run its regular expression over it, once per request.
 */
export function requestIds(): () => string {
  const ID_LENGTH = 36;
  let ids = "";
  let at = 0;
  return () => {
    if (at === ids.length) {
      const hex = randomBytes(4096).toString("hex");
      const parts: string[] = [];
      for (let i = 0; i < hex.length; i += 32) parts.push("req_", hex.slice(i, i + 32));
      ids = parts.join("");
      at = 0;
    }
    at += ID_LENGTH;
    return ids.slice(at - ID_LENGTH, at);
  };
}

/** A round trip to the database within the 2 s budget (at once false while it is down). */
async function databaseAnswers(database: DatabaseHandle): Promise<boolean> {
  if (!database.available) return false;
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      database.ping().then(() => true),
      new Promise<boolean>((resolve) => (timer = setTimeout(resolve, 1_500, false))),
    ]);
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
  }
}

export async function buildApp(options: AppOptions) {
  const now = options.now ?? (() => new Date());
  // The constant security headers on every response, computed once; the SPA's pages add
  // helmet's document headers and the dashboard's CSP (see singlePageApp).
  const https = options.publicUrl.protocol === "https:";
  const headers = apiHeaders(https);
  // Inbound request ids are not trusted: each response gets one we generated.
  const requestId = requestIds();
  const refusals = rawRefusals(() => headers, requestId);
  const accessLog = new AccessLog({
    successLinesPerSecond: options.accessLogSuccessLinesPerSecond,
  });
  const fastLane = createFastLane({ headers, requestId, accessLog });
  const app = Fastify({
    serverFactory: fastLane.serverFactory,
    logger: options.logger,
    trustProxy:
      typeof options.trustProxy === "number"
        ? (_address: string, hop: number) => hop < (options.trustProxy as number)
        : options.trustProxy,
    bodyLimit: 16 * 1024,
    routerOptions: {
      // A path parameter of any length still reaches its route, so an overlong key id gets
      // the same 404 key_not_found as any other id that is not the caller's (Node's 16 KiB
      // limit on the request line and headers comes first: 431 request_header_too_large).
      maxParamLength: 16 * 1024,
    },
    genReqId: requestId,
    requestIdHeader: false,
    return503OnClosing: true,
    logController: accessLog,
    childLoggerFactory: (logger, bindings) =>
      new RequestLogger(logger, bindings) as unknown as FastifyBaseLogger,
    // Refusals made before routing answer in the envelope too (see rawRefusals).
    frameworkErrors: refusals.frameworkErrors,
    clientErrorHandler: refusals.clientErrorHandler,
  });

  app.addHook("onRequest", (request, reply, done) => {
    void reply.headers(headers).header("x-request-id", request.id);
    done();
  });

  const spa = singlePageApp(options.webDistDir, https);
  installErrorHandling(app, spa?.fallback);

  // Sign-in throttles are shared through the same Redis as the data plane's limits, so a
  // second server process does not hand out more guesses.
  const throttleRedis = options.gateway?.redisUrl
    ? new Redis(options.gateway.redisUrl, {
        maxRetriesPerRequest: 1,
        commandTimeout: 1_000,
        connectTimeout: 2_000,
      })
    : undefined;
  throttleRedis?.on("error", () => {
    // Reported by the data plane's client; the throttles fall back to memory meanwhile.
  });
  app.addHook("onClose", async () => {
    await throttleRedis?.quit().catch(() => throttleRedis.disconnect());
  });

  const deps: ApiDeps = {
    db: options.database.db,
    sessions: createSessionManager(
      options.database.db,
      {
        cookieName: options.sessionCookieName,
        secureCookies: options.secureCookies,
        idleLifetimeSeconds: options.sessionIdleSeconds,
        absoluteLifetimeSeconds: options.sessionAbsoluteSeconds,
      },
      now,
    ),
    throttle: createAuthThrottle(options.throttlePolicy, {
      redis: throttleRedis,
      keyPrefix:
        options.authThrottleKeyPrefix ??
        `${options.gateway?.redisKeyPrefix ?? "keyservice:rl:"}auth:`,
    }),
    allowedOrigins: new Set(
      options.allowedOrigins.map(normalizeOrigin).filter((o): o is string => o !== null),
    ),
    signUpEnabled: options.signUpEnabled,
    publicUrl: options.publicUrl,
    now,
    // Revocations and downgrades committed in this process reach its key cache at once.
    onKeysChanged: (hashes) => gateway.keysChanged(hashes),
    onCanariesChanged: () => gateway.canaries.reload(),
    webhookPolicy: destinationPolicy(options.webhooks?.allowedCidrs),
    changesInFlightPerAccount: options.changesInFlightPerAccount,
  };
  await registerApi(app, deps);
  const settings = options.gateway ?? {};
  const { gateway, fastLane: dataFastLane } = await registerGateway(app, {
    database: options.database,
    // Only an injected clock: left alone, the data plane reads the system clock as a number.
    now: options.now,
    log: app.log,
    redisUrl: settings.redisUrl,
    redisKeyPrefix: settings.redisKeyPrefix,
    upstreamUrl: settings.upstreamUrl,
    dataApiOrigin: settings.dataApiOrigin,
    scopeRules: settings.scopeRules,
    keyCacheTtlMs: (settings.keyCacheTtlSeconds ?? 60) * 1000,
    keyCacheMaxStaleMs: (settings.keyCacheStaleSeconds ?? 900) * 1000,
    usageFlushIntervalMs: settings.usageFlushIntervalMs,
    usageCoalesceAboveKeys: settings.usageCoalesceAboveKeys,
    usageSpillDir: settings.usageSpillDir,
    usageCloseDeadlineMs: settings.usageCloseDeadlineMs,
    usageAnalytics: settings.usageAnalytics,
    failedAuthPerMinute: settings.failedAuthPerMinute,
  });

  const webhookSettings = options.webhooks ?? {};
  const webhookWorker = createDeliveryWorker({
    database: options.database,
    now,
    log: app.log,
    policy: deps.webhookPolicy,
    timeoutMs: webhookSettings.timeoutMs,
    leaseMs: webhookSettings.leaseMs,
    random: webhookSettings.random,
  });
  app.decorate("webhookWorker", webhookWorker);
  if (webhookSettings.deliver !== false) {
    app.addHook("onReady", () => webhookWorker.start());
  }
  // Deliveries in flight may finish (their lease covers them if the process is killed).
  app.addHook("onClose", () => webhookWorker.stop());

  let shuttingDown = false;
  app.addHook("onClose", (_instance, done) => {
    shuttingDown = true;
    done();
  });
  app.get(pathOf("healthz"), () => HEALTHY);
  // The fast lane reads the client's address from the socket, so it stays off behind a
  // trusted proxy (whose X-Forwarded-For Fastify resolves).
  const behindProxy = Array.isArray(options.trustProxy)
    ? options.trustProxy.length > 0
    : options.trustProxy !== false;
  if (!behindProxy) fastLane.start(dataFastLane(headers), app.log);
  app.decorate("fastLane", fastLane);
  app.addHook("preClose", (done) => {
    fastLane.close();
    done();
  });
  // Ready = every dependency a request needs answers now: the database, and Redis when the
  // limits live there. A 503 names the failing ones (never why: no driver messages).
  app.get(pathOf("readyz"), async (request, reply) => {
    if (shuttingDown) return sendErrorCode(request, reply, "service_unavailable");
    const [database, redis] = await Promise.all([
      databaseAnswers(options.database),
      settings.redisUrl ? gateway.limiterReady() : undefined,
    ]);
    const checks = {
      database: database ? "ok" : "unavailable",
      ...(redis === undefined ? {} : { redis: redis ? "ok" : "unavailable" }),
    };
    if (database && redis !== false) {
      return { status: "ready", database: options.database.kind, checks };
    }
    const failing = Object.keys(checks).filter(
      (name) => checks[name as keyof typeof checks] !== "ok",
    );
    return sendError(
      request,
      reply,
      new ApiError("service_unavailable", {
        message: `Not ready: ${failing.join(" and ")} unavailable.`,
        details: { failing, checks },
        headers: { "retry-after": "5" },
      }),
    );
  });

  if (spa) {
    await app.register(fastifyStatic, { root: spa.root, wildcard: false, index: false });
    app.get(pathOf("spa"), (_request, reply) => spa.sendIndex(reply));
  }

  return app;
}
