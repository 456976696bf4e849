import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { ApiDeps } from "../deps.js";
import { ApiError } from "../errors.js";
import { contextFor } from "../http/context.js";
import { createCaller } from "../root.js";
import { buildOpenApiDocument } from "./openapi.js";

type KeyParams = { keyId: string };

/**
 * The documented REST surface, `/api/v1/keys*`: each route translates HTTP into the same tRPC
 * procedure the dashboard calls (same validation, authorization and service) and the result
 * back into the documented JSON. Errors propagate to the server's error handler, which renders
 * the envelope. The management guard (API keys refused, origin, JSON-only) has already run.
 */
export async function registerKeysRest(app: FastifyInstance, deps: ApiDeps) {
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

    const caller = async (request: FastifyRequest, reply: FastifyReply) =>
      createCaller(await contextFor(deps, request, reply));

    scope.get("/api/v1/keys", async (request, reply) => (await caller(request, reply)).keys.list());

    scope.post("/api/v1/keys", async (request, reply) => {
      const created = await (await caller(request, reply)).keys.create(request.body as never);
      return reply.code(201).send(created);
    });

    scope.get<{ Params: KeyParams }>("/api/v1/keys/:keyId", async (request, reply) =>
      (await caller(request, reply)).keys.byId({ id: request.params.keyId }),
    );

    scope.get<{ Params: KeyParams; Querystring: { days?: string } }>(
      "/api/v1/keys/:keyId/usage",
      async (request, reply) =>
        (await caller(request, reply)).keys.usage({
          id: request.params.keyId,
          days: request.query.days,
        }),
    );

    scope.delete<{ Params: KeyParams }>("/api/v1/keys/:keyId", async (request, reply) => {
      const body = request.body ?? {};
      if (typeof body !== "object" || Array.isArray(body)) {
        throw new ApiError("validation_error", {
          message: "The body must be a JSON object.",
          details: { field: "body" },
        });
      }
      return (await caller(request, reply)).keys.revoke({ ...body, id: request.params.keyId });
    });

    const document = buildOpenApiDocument(deps.sessions.cookieName);
    scope.get("/api/v1/openapi.json", (_request, reply) =>
      reply.header("cache-control", "no-cache").send(document),
    );

    methodNotAllowed(scope, "/api/v1/keys", ["GET", "HEAD", "POST"]);
    methodNotAllowed(scope, "/api/v1/keys/:keyId", ["GET", "HEAD", "DELETE"]);
    methodNotAllowed(scope, "/api/v1/keys/:keyId/usage", ["GET", "HEAD"]);
    done();
  });
}

const ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE"];

/** Every other method on a documented path: 405 with the `Allow` header, no CORS, no effect. */
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
