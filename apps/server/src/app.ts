import { randomUUID } from "node:crypto";
import { existsSync } from "node:fs";
import path from "node:path";
import helmet from "@fastify/helmet";
import fastifyStatic from "@fastify/static";
import {
  createAuthThrottle,
  createSessionManager,
  installErrorHandling,
  normalizeOrigin,
  registerApi,
  registerGateway,
  sendErrorCode,
  type ApiDeps,
  type Gateway,
  type ScopeRule,
  type ThrottlePolicy,
} from "@repo/api";
import type { DatabaseHandle } from "@repo/db";
import Fastify, {
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
  throttlePolicy?: ThrottlePolicy;
  now?: () => Date;
  /** The data plane (see README "Using a key"); every field has a default. */
  gateway?: GatewaySettings;
}

export interface GatewaySettings {
  redisUrl?: string;
  redisKeyPrefix?: string;
  upstreamUrl?: string;
  scopeRules?: ScopeRule[];
  keyCacheTtlSeconds?: number;
  usageFlushIntervalMs?: number;
  usageAnalytics?: boolean;
  failedAuthPerMinute?: number;
}

/** Query parameters whose values must never reach a log line. */
const SECRET_QUERY_PARAMS = /([?&](?:api_key|token|password)=)[^&#]*/gi;

export function redactUrl(url: string): string {
  return url.replace(SECRET_QUERY_PARAMS, "$1[REDACTED]");
}

/** Logger settings shared by the server and tests: no cookies, keys or passwords, ever. */
export function loggerOptions(level: string) {
  return {
    level,
    redact: {
      paths: [
        "req.headers.authorization",
        "req.headers.cookie",
        'req.headers["x-api-key"]',
        'res.headers["set-cookie"]',
        "*.password",
      ],
      censor: "[REDACTED]",
    },
    serializers: {
      req: (request: { method: string; url: string; ip?: string }) => ({
        method: request.method,
        url: redactUrl(request.url),
        remoteAddress: request.ip,
      }),
      res: (reply: { statusCode: number }) => ({ statusCode: reply.statusCode }),
    },
  };
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
 * while API paths keep their JSON 404.
 */
function singlePageApp(root: string | undefined, csp: string) {
  if (root === undefined || !existsSync(path.join(root, "index.html"))) return undefined;
  const sendIndex = (reply: FastifyReply) =>
    reply
      .header("cache-control", "no-cache")
      .header("content-security-policy", csp)
      .sendFile("index.html");
  return {
    root,
    sendIndex,
    fallback: (request: FastifyRequest, reply: FastifyReply) => {
      const isApi = request.url.startsWith("/api/") || request.url.startsWith("/trpc");
      const wantsPage = request.method === "GET" && request.headers.accept?.includes("text/html");
      return wantsPage && !isApi ? sendIndex(reply) : undefined;
    },
  };
}

export async function buildApp(options: AppOptions) {
  const now = options.now ?? (() => new Date());
  const app = Fastify({
    logger: options.logger,
    trustProxy:
      typeof options.trustProxy === "number"
        ? (_address: string, hop: number) => hop < (options.trustProxy as number)
        : options.trustProxy,
    bodyLimit: 16 * 1024,
    // Inbound request ids are not trusted: each response gets one we generated.
    genReqId: () => `req_${randomUUID().replaceAll("-", "")}`,
    requestIdHeader: false,
    return503OnClosing: true,
  });

  app.addHook("onRequest", (request, reply, done) => {
    void reply.header("x-request-id", request.id);
    done();
  });

  // The constant security headers on every response. The Content-Security-Policy only means
  // something on documents, so it is sent with the SPA's HTML (see singlePageApp), not on
  // every API response, where helmet would rebuild it per request.
  const https = options.publicUrl.protocol === "https:";
  await app.register(helmet, { contentSecurityPolicy: false, hsts: https });

  const spa = singlePageApp(options.webDistDir, contentSecurityPolicy(https));
  installErrorHandling(app, spa?.fallback);

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
    throttle: createAuthThrottle(options.throttlePolicy),
    allowedOrigins: new Set(
      options.allowedOrigins.map(normalizeOrigin).filter((o): o is string => o !== null),
    ),
    signUpEnabled: options.signUpEnabled,
    now,
    // Revocations and downgrades committed in this process reach its key cache at once.
    onKeysChanged: (hashes) => gateway.keysChanged(hashes),
  };
  await registerApi(app, deps);
  const settings = options.gateway ?? {};
  const gateway: Gateway = await registerGateway(app, {
    database: options.database,
    // Only an injected clock: left alone, the data plane reads the system clock as a number.
    now: options.now,
    log: app.log,
    redisUrl: settings.redisUrl,
    redisKeyPrefix: settings.redisKeyPrefix,
    upstreamUrl: settings.upstreamUrl,
    scopeRules: settings.scopeRules,
    keyCacheTtlMs: (settings.keyCacheTtlSeconds ?? 60) * 1000,
    usageFlushIntervalMs: settings.usageFlushIntervalMs,
    usageAnalytics: settings.usageAnalytics,
    failedAuthPerMinute: settings.failedAuthPerMinute,
  });

  let shuttingDown = false;
  app.addHook("onClose", (_instance, done) => {
    shuttingDown = true;
    done();
  });
  app.get("/healthz", () => ({ status: "ok" }));
  app.get("/readyz", async (request, reply) => {
    if (shuttingDown) return sendErrorCode(request, reply, "service_unavailable");
    try {
      await options.database.ping();
      return { status: "ready", database: options.database.kind };
    } catch {
      return sendErrorCode(request, reply, "service_unavailable");
    }
  });

  if (spa) {
    await app.register(fastifyStatic, { root: spa.root, wildcard: false, index: false });
    app.get("/", (_request, reply) => spa.sendIndex(reply));
  }

  return app;
}
