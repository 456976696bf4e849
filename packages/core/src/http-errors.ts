import { describeError } from "@repo/db";
import { TRPCError } from "@trpc/server";
import { TRPC_ERROR_CODES_BY_KEY } from "@trpc/server/rpc";
import { Buffer } from "node:buffer";
import { STATUS_CODES } from "node:http";
import type { Socket } from "node:net";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { ApiError, ERRORS, errorBody, type ErrorCode } from "./errors.js";
import { toApiError } from "./error-mapping.js";
import { isTrpcRoute, notFoundCodeFor } from "./route-table.js";

/** Routes served by tRPC answer errors in tRPC's shape, so its client can read them. */
function isTrpcRequest(request: FastifyRequest): boolean {
  return isTrpcRoute(request.routeOptions.url);
}

/**
 * Sends a documented error: the REST envelope `{error: {code, message, request_id, details}}`,
 * or the tRPC error shape (carrying the same `appCode`) on tRPC routes.
 */
export function sendError(request: FastifyRequest, reply: FastifyReply, error: ApiError) {
  if (error.headers) void reply.headers(error.headers);
  void reply.code(error.status).header("cache-control", "no-store");
  if (isTrpcRequest(request)) {
    return reply.send({
      error: {
        message: error.message,
        code: TRPC_ERROR_CODES_BY_KEY[ERRORS[error.appCode][1]],
        data: {
          code: ERRORS[error.appCode][1],
          httpStatus: error.status,
          appCode: error.appCode,
          details: error.details ?? null,
        },
      },
    });
  }
  return reply.send(errorBody(error.appCode, request.id, error.message, error.details));
}

export function sendErrorCode(request: FastifyRequest, reply: FastifyReply, code: ErrorCode) {
  return sendError(request, reply, new ApiError(code));
}

/** Fastify's own failures (body parsing, limits) mapped onto the documented codes. */
function fromFastifyError(error: { code?: string; statusCode?: number }): ApiError {
  if (error instanceof TRPCError) return toApiError(error);
  switch (error.code) {
    case "FST_ERR_CTP_BODY_TOO_LARGE":
      return new ApiError("payload_too_large");
    case "FST_ERR_CTP_INVALID_MEDIA_TYPE":
      return new ApiError("unsupported_media_type");
    case "FST_ERR_CTP_EMPTY_JSON_BODY":
    case "FST_ERR_CTP_INVALID_JSON_BODY":
      return new ApiError("invalid_json");
    default:
      break;
  }
  if (error.statusCode === 400 && error.code === undefined) return new ApiError("invalid_json");
  if (error.statusCode === 400) return new ApiError("validation_error");
  return toApiError(error);
}

/**
 * One error handler and one 404 for the whole server: every error leaves in the envelope.
 * `fallback` may answer an unmatched request first (the SPA's history fallback).
 */
export function installErrorHandling(
  app: FastifyInstance,
  fallback?: (request: FastifyRequest, reply: FastifyReply) => FastifyReply | undefined,
) {
  app.setErrorHandler((error, request, reply) => {
    const apiError = fromFastifyError(error as { code?: string; statusCode?: number });
    if (apiError.status >= 500) {
      request.log.error({ error: describeError(error) }, "request failed");
    }
    return sendError(request, reply, apiError);
  });
  app.setNotFoundHandler(
    (request, reply) => fallback?.(request, reply) ?? sendErrorCode(request, reply, "not_found"),
  );
}

/**
 * Answers for requests refused before any route or hook runs, so they get none of the
 * onRequest hooks (X-Request-Id, helmet's headers): `frameworkErrors` for a URL whose
 * parameter does not decode or is too long, `clientErrorHandler` for what Node's HTTP parser
 * refuses (headers or request line over 16 KiB, not HTTP at all, a timeout). Both answer in
 * the envelope with a fresh request id and `headers()` (the security headers).
 */
export function rawRefusals(headers: () => Record<string, string>, requestId: () => string) {
  return {
    frameworkErrors: (_error: Error, request: FastifyRequest, reply: FastifyReply) => {
      void reply.headers(headers()).header("x-request-id", request.id);
      void sendErrorCode(request, reply, notFoundCodeFor(request.url));
    },
    clientErrorHandler: (error: Error & { code?: string }, socket: Socket) => {
      // A reset connection has nobody left to answer (Node's and Fastify's behaviour).
      if (error.code === "ECONNRESET" || socket.destroyed) return;
      const code: ErrorCode =
        error.code === "HPE_HEADER_OVERFLOW"
          ? "request_header_too_large"
          : error.code === "ERR_HTTP_REQUEST_TIMEOUT"
            ? "request_timeout"
            : "bad_request";
      const status = ERRORS[code][0];
      const id = requestId();
      const body = JSON.stringify(errorBody(code, id));
      const lines = Object.entries({
        ...headers(),
        "content-type": "application/json; charset=utf-8",
        "content-length": String(Buffer.byteLength(body)),
        "cache-control": "no-store",
        "x-request-id": id,
        connection: "close",
      }).map(([name, value]) => `${name}: ${value}`);
      if (socket.writable) {
        socket.write(
          `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\n${lines.join("\r\n")}\r\n\r\n${body}`,
        );
      }
      socket.destroy(error);
    },
  };
}
