import replyFrom from "@fastify/reply-from";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { ApiError } from "../errors.js";
import { sendError, sendErrorCode } from "../http/errors.js";
import { extractCredential } from "./extract.js";
import type { KeyRecord } from "./key-cache.js";
import type { Quota } from "./rate-limit.js";
import { normalizeDataPath } from "./scopes.js";
import { routeLabel } from "./usage.js";
import {
  createGateway,
  setQuotaHeaders,
  verifyApiKey,
  type Gateway,
  type GatewayOptions,
  type Verification,
} from "./verify.js";

export interface GatewayPluginOptions extends GatewayOptions {
  /**
   * The threat-intel data API to forward authenticated requests to. Unset: the data routes
   * answer with an echo of the verified key context.
   */
  upstreamUrl?: string;
}

declare module "fastify" {
  interface FastifyInstance {
    /** The data plane: key cache, limits, usage (see gateway/verify.ts). */
    gateway: Gateway;
  }
  interface FastifyRequest {
    /** Set on data routes by the gateway's onRequest hook. */
    gatewayState: RequestState | null;
  }
}

/** What a data path means, computed once per distinct path. */
interface RouteInfo {
  /** Percent-decoded path: what the scope is checked on and the upstream receives. */
  path: string;
  /** Path as recorded in the usage rollups. */
  label: string;
  taxii: boolean;
  /** What a request takes from the key's quota, in requests. */
  cost: number;
  /** The scope when no query-dependent rule applies; null: not a data route. */
  scope: string | null;
  queryScoped: boolean;
}

const NO_QUERY = new URLSearchParams();
const MAX_CACHED_ROUTES = 10_000;

interface RequestState {
  route: RouteInfo;
  scope: string;
  /** When the request was verified (epoch ms): its minute and day in the usage rollups. */
  atMs: number;
  /** The key the request is attributed to (usage), whatever the outcome. */
  key: KeyRecord | undefined;
  quota: Quota | undefined;
}

/** Headers a client must not be able to forward as if the gateway had set them. */
const CONSUMER_HEADER = /^x-consumer-/i;
const RATE_LIMIT_HEADER = /^(x-ratelimit-|retry-after$)/i;

function isTaxiiPath(path: string) {
  const lower = path.toLowerCase();
  return lower === "/api/taxii2" || lower.startsWith("/api/taxii2/");
}

/**
 * The published rate multiplier: fetching a TAXII collection's objects builds a whole STIX
 * bundle, so it costs 2.5 requests of the key's quota. Every other route costs 1.
 */
const TAXII_OBJECTS = /^\/api\/taxii2\/[^/]+\/collections\/[^/]+\/objects\/?$/i;
const TAXII_OBJECTS_COST = 2.5;

/** Paths under /api/v1 that are not data routes (the management plane owns them). */
function isReservedPath(path: string) {
  const lower = path.toLowerCase();
  return (
    lower === "/api/v1/keys" ||
    lower.startsWith("/api/v1/keys/") ||
    lower === "/api/v1/openapi.json"
  );
}

/**
 * Mounts the data plane: `/api/v1/*` (the management routes `/api/v1/keys*` and
 * `/api/v1/openapi.json` are more specific and win in Fastify's router) and `/api/taxii2/*`.
 * Every request is verified in an onRequest hook, before any body is read; usage is
 * recorded in onResponse for every request attributed to a key. Returns the gateway, whose
 * `keysChanged` the server wires to `ApiDeps.onKeysChanged`.
 */
export async function registerGateway(
  app: FastifyInstance,
  options: GatewayPluginOptions,
): Promise<Gateway> {
  const gateway = await createGateway(options);
  app.decorate("gateway", gateway);
  // A plain request property (null-initialised, so every request keeps one shape).
  app.decorateRequest("gatewayState", null);

  // Bounded: a client inventing paths only ever costs a cleared map.
  const routes = new Map<string, RouteInfo | null>();
  function routeInfo(rawPath: string): RouteInfo | null {
    let info = routes.get(rawPath);
    if (info === undefined) {
      const path = normalizeDataPath(rawPath);
      info =
        path === null || isReservedPath(path)
          ? null
          : {
              path,
              label: routeLabel(path),
              taxii: isTaxiiPath(path),
              cost: TAXII_OBJECTS.test(path) ? TAXII_OBJECTS_COST : 1,
              scope: gateway.resolveScope(path, NO_QUERY),
              queryScoped: gateway.resolveScope.dependsOnQuery(path),
            };
      if (routes.size >= MAX_CACHED_ROUTES) routes.clear();
      routes.set(rawPath, info);
    }
    return info;
  }

  /**
   * The onRequest hook, in callback style: when the key is in memory the whole check is
   * synchronous and the request goes on without a promise or a microtask hop (the hot path).
   * An error answer is sent without calling `done`, which ends the hook chain.
   */
  function authenticate(request: FastifyRequest, reply: FastifyReply, done: () => void) {
    const url = request.url;
    const queryAt = url.indexOf("?");
    const route = routeInfo(queryAt === -1 ? url : url.slice(0, queryAt));
    const scope =
      route?.queryScoped === true
        ? gateway.resolveScope(route.path, new URLSearchParams(url.slice(queryAt + 1)))
        : route?.scope;
    if (!route || !scope) {
      void sendErrorCode(request, reply, "not_found");
      return;
    }
    const atMs = gateway.nowMs();
    const verification = verifyApiKey(gateway, {
      credential: extractCredential(request, route.taxii),
      clientIp: request.ip,
      scope,
      nowMs: atMs,
      cost: route.cost,
    });
    const state: RequestState = { route, scope, atMs, key: undefined, quota: undefined };
    if (verification instanceof Promise) {
      verification.then((result) => settle(request, reply, state, result, done), done);
    } else settle(request, reply, state, verification, done);
  }

  function settle(
    request: FastifyRequest,
    reply: FastifyReply,
    state: RequestState,
    result: Verification,
    done: () => void,
  ) {
    state.key = result.key;
    state.quota = result.quota;
    request.gatewayState = state;
    if (result.quota) setQuotaHeaders(reply, result.quota);
    if (result.ok) return done();
    if (result.error.status >= 500)
      request.log.warn({ code: result.error.appCode }, "data request not verified");
    void sendError(request, reply, result.error);
  }

  function recordUsage(request: FastifyRequest, reply: FastifyReply) {
    const s = request.gatewayState;
    if (!s?.key) return;
    gateway.usage.record({
      keyId: s.key.id,
      atMs: s.atMs,
      route: s.route.label,
      status: reply.statusCode,
      latencyMs: reply.elapsedTime,
    });
  }

  const upstream = options.upstreamUrl;

  function echo(request: FastifyRequest, reply: FastifyReply) {
    const s = request.gatewayState!;
    const key = s.key!;
    const quota = s.quota!;
    void reply.header("cache-control", "no-store");
    return {
      data: {
        authenticated: true,
        mode: "echo",
        message:
          "Your API key works. No upstream data API is configured on this server (UPSTREAM_URL), so this endpoint only echoes what the gateway verified.",
        key: {
          id: key.id,
          key_prefix: key.keyPrefix,
          tier: key.tier,
          scopes: key.scopeList,
        },
        request: {
          method: request.method,
          path: s.route.path,
          required_scope: s.scope,
          cost: s.route.cost,
        },
        rate_limit: {
          minute: {
            limit: key.limits.perMinute,
            remaining: quota.minuteRemaining,
            reset: quota.minuteReset,
          },
          day: { limit: key.limits.perDay, remaining: quota.dayRemaining, reset: quota.dayReset },
        },
      },
    };
  }

  function proxy(request: FastifyRequest, reply: FastifyReply) {
    const s = request.gatewayState!;
    const key = s.key!;
    const queryAt = request.url.indexOf("?");
    const query = new URLSearchParams(queryAt === -1 ? "" : request.url.slice(queryAt + 1));
    query.delete("api_key");
    const search = query.size > 0 ? `?${query.toString()}` : "";
    // The decoded path the scope was checked against, re-encoded segment by segment.
    const target = s.route.path.split("/").map(encodeURIComponent).join("/") + search;
    return reply.from(target, {
      rewriteRequestHeaders: (_req, headers) => {
        const out: Record<string, string | string[] | undefined> = {};
        for (const [name, value] of Object.entries(headers)) {
          if (CONSUMER_HEADER.test(name)) continue;
          if (name === "authorization" || name === "x-api-key" || name === "cookie") continue;
          out[name] = value;
        }
        out["x-consumer-key-id"] = key.id;
        out["x-consumer-owner-id"] = key.ownerId;
        out["x-consumer-tier"] = key.tier;
        out["x-consumer-scopes"] = key.scopeList.join(" ");
        return out;
      },
      // Our X-RateLimit-* headers describe the key's quota; the upstream's would contradict them.
      rewriteHeaders: (headers) =>
        Object.fromEntries(
          Object.entries(headers).filter(([name]) => !RATE_LIMIT_HEADER.test(name)),
        ),
      onError: (errorReply, { error }) => {
        request.log.warn({ error: { type: error.name } }, "upstream request failed");
        void sendError(request, errorReply as FastifyReply, new ApiError("upstream_unavailable"));
      },
    });
  }

  // Hooks and routes in their own encapsulated context (reply-from stays local to it).
  await app.register(async (scope) => {
    if (upstream) await scope.register(replyFrom, { base: upstream });
    for (const url of ["/api/v1/*", "/api/taxii2/*"]) {
      scope.route({
        method: ["GET", "POST"],
        url,
        onRequest: authenticate,
        onResponse: (request, reply, done) => {
          recordUsage(request, reply);
          done();
        },
        handler: upstream ? proxy : echo,
      });
    }
    scope.addHook("onClose", async () => {
      await gateway.close();
    });
  });
  return gateway;
}
