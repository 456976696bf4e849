import type { FastifyReply, FastifyRequest } from "fastify";
import { createContext } from "../trpc-context.js";
import type { ApiDeps } from "../deps.js";

/** The procedure context for a Fastify request: used by the tRPC mount and the REST adapter. */
export function contextFor(deps: ApiDeps, request: FastifyRequest, reply: FastifyReply) {
  return createContext(
    deps,
    {
      cookieHeader: request.headers.cookie,
      ip: request.ip,
      userAgent: request.headers["user-agent"],
    },
    (cookie) => void reply.header("set-cookie", cookie),
  );
}
