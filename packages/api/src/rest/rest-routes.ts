import type { FastifyInstance, FastifyRequest } from "fastify";
import type { ApiDeps } from "../deps.js";
import { ApiError, MANAGEMENT_REST_ROUTES, allowedMethods, pathOf } from "@repo/core";
import { contextFor } from "../http/request-context.js";
import { createCaller } from "../root.js";
import { buildOpenApiDocument } from "./openapi-document.js";

type Caller = ReturnType<typeof createCaller>;
type Procedure = (caller: Caller, request: FastifyRequest) => Promise<unknown>;

/** The path's id parameter, whatever the route names it (`keyId`, `id`). */
function pathId(request: FastifyRequest): string {
  const params = request.params as Record<string, string>;
  return params.keyId ?? params.id ?? "";
}

/**
 * What each management REST route of the table calls: the tRPC procedure the dashboard
 * calls (same validation, authorization and service). A body's own `id` never wins over
 * the path's: the body is spread first.
 */
const PROCEDURES: Record<string, Procedure> = {
  "keys.list": (caller) => caller.keys.list(),
  "keys.create": (caller, request) => caller.keys.create(request.body as never),
  "keys.byId": (caller, request) => caller.keys.byId({ id: pathId(request) }),
  "keys.usage": (caller, request) =>
    caller.keys.usage({
      id: pathId(request),
      days: (request.query as { days?: string }).days,
    }),
  "keys.revoke": (caller, request) =>
    caller.keys.revoke({ ...objectBody(request.body), id: pathId(request) }),
  "keys.update": (caller, request) =>
    caller.keys.update({ ...objectBody(request.body), id: pathId(request) }),
  "keys.rotate": (caller, request) =>
    caller.keys.rotate({ ...objectBody(request.body), id: pathId(request) }),
  "keys.addresses": (caller, request) => caller.keys.addresses({ id: pathId(request) }),
  "canaries.list": (caller) => caller.canaries.list(),
  "canaries.create": (caller, request) => caller.canaries.create(request.body as never),
  "canaries.retire": (caller, request) => caller.canaries.retire({ id: pathId(request) }),
  "canaries.triggers": (caller, request) => caller.canaries.triggers({ id: pathId(request) }),
};

/**
 * The documented REST surface: every management REST route of the route table, translating
 * HTTP into its procedure and the result back into the documented JSON. Errors propagate to
 * the server's error handler, which renders the envelope. The management guard (API keys
 * refused, origin, JSON-only) is attached to each of them by the route table's onRoute hook.
 */
export async function registerRestRoutes(app: FastifyInstance, deps: ApiDeps) {
  await app.register((scope, _options, done) => {
    // An empty body is allowed (DELETE with only a Content-Type); anything else must parse.
    scope.removeContentTypeParser("application/json");
    scope.addContentTypeParser("application/json", { parseAs: "string" }, (_req, body, next) => {
      const text = typeof body === "string" ? body : body.toString("utf8");
      if (text.trim() === "") return next(null, undefined);
      try {
        next(null, JSON.parse(text));
      } catch {
        next(new ApiError("invalid_json"));
      }
    });

    scope.addHook("onSend", (_request, reply, payload, next) => {
      // Key material (prefixes, the one-time secret) must not be stored by any cache.
      void reply.header("cache-control", "no-store");
      next(null, payload);
    });

    for (const route of MANAGEMENT_REST_ROUTES) {
      const procedure = PROCEDURES[route.handler];
      if (procedure === undefined) throw new Error(`No procedure for ${route.handler}`);
      scope.route({
        method: [...route.methods],
        url: route.path,
        handler: async (request, reply) => {
          const caller = createCaller(await contextFor(deps, request, reply));
          return reply.code(route.status).send(await procedure(caller, request));
        },
      });
    }

    const openapiPath = pathOf("openapi");
    const document = buildOpenApiDocument(deps.sessions.cookieName, deps.publicUrl.href);
    scope.get(openapiPath, (_request, reply) => reply.send(document));

    // Every other method on the paths registered here: 405 with `Allow`, no CORS, no effect.
    // (The data plane's paths are the gateway's to answer.)
    const paths = new Set([...MANAGEMENT_REST_ROUTES.map((route) => route.path), openapiPath]);
    for (const path of paths) methodNotAllowed(scope, path, allowedMethods(path));
    done();
  });
}

/** An optional body that must be a JSON object when present. */
function objectBody(body: unknown): Record<string, unknown> {
  if (body === undefined || body === null) return {};
  if (typeof body !== "object" || Array.isArray(body)) {
    throw new ApiError("validation_error", {
      message: "The body must be a JSON object.",
      details: { field: "body" },
    });
  }
  return body as Record<string, unknown>;
}

const ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE"];

function methodNotAllowed(scope: FastifyInstance, url: string, allowed: string[]) {
  scope.route({
    method: ALL_METHODS.filter((method) => !allowed.includes(method)),
    url,
    handler: (_request, reply) => {
      void reply.header("allow", allowed.join(", "));
      throw new ApiError("method_not_allowed");
    },
  });
}
