import { describeError } from "@repo/db";
import { fastifyTRPCPlugin, type FastifyTRPCPluginOptions } from "@trpc/server/adapters/fastify";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { checkContentType, checkOrigin, presentsApiKey } from "../auth/request-guard.js";
import type { ApiDeps } from "../deps.js";
import { appRouter, type AppRouter } from "../root.js";
import { registerKeysRest } from "../rest/keys.js";
import { contextFor } from "./context.js";
import { toApiError } from "./error-mapping.js";
import { sendErrorCode } from "./errors.js";

/** Routes authenticated by the session cookie: the management plane. */
function isManagementRoute(request: FastifyRequest): boolean {
  const route = request.routeOptions.url ?? "";
  return route.startsWith("/trpc") || route.startsWith("/api/v1/keys");
}

/**
 * The single gate in front of every cookie-authenticated route: API keys refused, then the
 * CSRF origin check and JSON-only bodies for anything that can change state. It runs on
 * the matched route pattern, so encoded or odd-cased paths cannot slip past it.
 */
async function managementGuard(request: FastifyRequest, reply: FastifyReply, deps: ApiDeps) {
  if (!isManagementRoute(request)) return;
  const failure =
    (presentsApiKey(request.headers, request.query as Record<string, unknown>)
      ? "api_key_not_allowed"
      : null) ??
    checkOrigin(request.method, request.headers, deps.allowedOrigins) ??
    checkContentType(request.method, request.headers);
  if (failure) {
    request.log.info({ reason: failure }, "management request refused");
    return sendErrorCode(request, reply, failure);
  }
}

/** Mounts the API on a Fastify app: the management guard, tRPC at /trpc, REST /api/v1/keys. */
export async function registerApi(app: FastifyInstance, deps: ApiDeps) {
  app.addHook("onRequest", (request, reply) => managementGuard(request, reply, deps));

  await app.register(fastifyTRPCPlugin, {
    prefix: "/trpc",
    trpcOptions: {
      router: appRouter,
      // A batch runs its calls in parallel: cap it so one request cannot fan out unboundedly.
      maxBatchSize: 10,
      createContext: ({ req, res }) => contextFor(deps, req, res),
      responseMeta({ errors }) {
        const headers: Record<string, string> = { "cache-control": "no-store" };
        for (const error of errors) Object.assign(headers, toApiError(error).headers);
        return { headers };
      },
      onError({ error, req, path }) {
        if (toApiError(error).status >= 500) {
          req.log.error({ path, error: describeError(error.cause ?? error) }, "procedure failed");
        }
      },
    } satisfies FastifyTRPCPluginOptions<AppRouter>["trpcOptions"],
  });
  await registerKeysRest(app, deps);
}
