import { describeError } from "@repo/db";
import { fastifyTRPCPlugin, type FastifyTRPCPluginOptions } from "@trpc/server/adapters/fastify";
import type {
  FastifyInstance,
  FastifyReply,
  FastifyRequest,
  HookHandlerDoneFunction,
  onRequestHookHandler,
} from "fastify";
import { checkContentType, checkOrigin, presentsApiKey } from "../auth/request-guard.js";
import type { ApiDeps } from "../deps.js";
import { appRouter, type AppRouter } from "../root.js";
import { registerRestRoutes } from "../rest/rest-routes.js";
import { contextFor } from "./request-context.js";
import {
  ApiError,
  assertDeclared,
  isTrpcRoute,
  pathOf,
  planeOf,
  sendError,
  sendErrorCode,
  toApiError,
} from "@repo/core";

/**
 * The single gate in front of every cookie-authenticated route: API keys refused, then the
 * CSRF origin check and JSON-only bodies for anything that can change state. Null: pass.
 */
function managementRefusal(request: FastifyRequest, deps: ApiDeps) {
  return (
    (presentsApiKey(request.headers, request.query as Record<string, unknown>)
      ? "api_key_not_allowed"
      : null) ??
    checkOrigin(request.method, request.headers, deps.allowedOrigins) ??
    checkContentType(request.method, request.headers)
  );
}

/** A tRPC batch runs its calls in parallel: cap it so one request cannot fan out unboundedly. */
const MAX_BATCH_SIZE = 10;

/**
 * Refuses an over-long batch before tRPC parses anything, in tRPC's error shape with the
 * documented code (tRPC's own refusal is a text/plain body without one).
 */
function batchLimit(request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction) {
  const calls = (request.params as { path?: string }).path?.split(",").length ?? 1;
  if (calls <= MAX_BATCH_SIZE) return done();
  void sendError(
    request,
    reply,
    new ApiError("validation_error", {
      message: `A batch holds at most ${MAX_BATCH_SIZE} calls.`,
      details: { field: "batch", max: MAX_BATCH_SIZE },
    }),
  );
}

/**
 * Mounts the API on a Fastify app: the route-table check and the management guard (for
 * every route registered after this, by any plugin), tRPC at /trpc, the REST routes.
 */
export async function registerApi(app: FastifyInstance, deps: ApiDeps) {
  // Synchronous, callback style: a request passing the guard goes on without a promise.
  const guard = (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction) => {
    const failure = managementRefusal(request, deps);
    if (!failure) return done();
    request.log.info({ reason: failure }, "management request refused");
    void sendErrorCode(request, reply, failure);
  };

  // Which routes are guarded is decided by the route table, not by each registration: a
  // route under /api or /trpc that the table does not declare stops the server at start-up,
  // and every route the table calls `management` gets the guard as its first hook. The
  // route's own pattern is matched, so encoded or odd-cased paths cannot slip past.
  app.addHook("onRoute", (route) => {
    assertDeclared(route.url);
    if (planeOf(route.url) !== "management") return;
    const hooks = route.onRequest === undefined ? [] : [route.onRequest].flat();
    if (hooks.includes(guard)) return;
    const first = isTrpcRoute(route.url) ? [guard, batchLimit] : [guard];
    route.onRequest = [...first, ...hooks] as onRequestHookHandler[];
  });

  const trpcPath = pathOf("trpc");
  await app.register(fastifyTRPCPlugin, {
    prefix: trpcPath.slice(0, trpcPath.lastIndexOf("/")),
    trpcOptions: {
      router: appRouter,
      // Checked first by batchLimit; tRPC's own cap stays as the backstop.
      maxBatchSize: MAX_BATCH_SIZE,
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
  await registerRestRoutes(app, deps);
}
