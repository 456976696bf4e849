import { TRPCError } from "@trpc/server";
import type { TRPC_ERROR_CODE_KEY } from "@trpc/server/rpc";

/**
 * Every error the service can answer with: its HTTP status, the tRPC code carrying it,
 * and the generic message shown to clients. REST and tRPC both render from this table.
 */
export const ERRORS = {
  validation_error: [400, "BAD_REQUEST", "The request is invalid."],
  bad_request: [400, "BAD_REQUEST", "The request is not valid HTTP."],
  invalid_json: [400, "PARSE_ERROR", "The request body is not valid JSON."],
  ambiguous_credentials: [
    400,
    "BAD_REQUEST",
    "The request presents more than one API key. Send exactly one.",
  ],
  not_authenticated: [401, "UNAUTHORIZED", "Sign in to continue."],
  missing_api_key: [
    401,
    "UNAUTHORIZED",
    'API key is required. Include it in the Authorization header as "Bearer sk_live_..." or in the X-API-Key header.',
  ],
  invalid_api_key: [
    401,
    "UNAUTHORIZED",
    "The API key is not valid. Check it for typos or whitespace, and that it is still active on the dashboard's Keys page.",
  ],
  expired_api_key: [
    401,
    "UNAUTHORIZED",
    "This API key has expired. Generate a new key and update your integration.",
  ],
  invalid_credentials: [401, "UNAUTHORIZED", "Invalid email or password."],
  invalid_second_factor: [
    401,
    "UNAUTHORIZED",
    "That code is not valid. Enter the current code from your authenticator app, or an unused recovery code.",
  ],
  second_factor_expired: [
    401,
    "UNAUTHORIZED",
    "This sign-in step has expired or was already used. Enter your email and password again.",
  ],
  passkey_not_verified: [401, "UNAUTHORIZED", "The passkey could not be verified."],
  invalid_reset_link: [
    400,
    "BAD_REQUEST",
    "This password-reset link is invalid, expired or already used. Ask an operator for a new one.",
  ],
  reauthentication_required: [
    403,
    "FORBIDDEN",
    "Confirm it is you: this change needs a sign-in within the last 10 minutes. Enter your password again.",
  ],
  account_disabled: [
    403,
    "FORBIDDEN",
    "This account is disabled. Contact your operator to enable it again.",
  ],
  invalid_origin: [403, "FORBIDDEN", "This request must come from the dashboard's own origin."],
  api_key_not_allowed: [
    403,
    "FORBIDDEN",
    "API keys cannot manage API keys. Sign in to the dashboard and use its session.",
  ],
  insufficient_scope: [
    403,
    "FORBIDDEN",
    "This API key does not have the scope this endpoint requires.",
  ],
  ip_not_allowed: [403, "FORBIDDEN", "This API key cannot be used from this IP address."],
  signup_disabled: [403, "FORBIDDEN", "Sign-up is disabled. Ask an operator for an account."],
  key_limit_reached: [403, "FORBIDDEN", "You have reached the active key limit of your tier."],
  canary_limit_reached: [403, "FORBIDDEN", "You have reached the limit of armed canary keys."],
  webhook_limit_reached: [403, "FORBIDDEN", "You have reached the limit of webhook endpoints."],
  not_found: [404, "NOT_FOUND", "Not found."],
  key_not_found: [404, "NOT_FOUND", "API key not found."],
  canary_not_found: [404, "NOT_FOUND", "Canary key not found."],
  webhook_not_found: [404, "NOT_FOUND", "Webhook endpoint not found."],
  delivery_not_found: [404, "NOT_FOUND", "Webhook delivery not found."],
  method_not_allowed: [405, "METHOD_NOT_SUPPORTED", "Method not allowed."],
  request_timeout: [408, "TIMEOUT", "The request took too long to arrive."],
  email_taken: [409, "CONFLICT", "An account with this email already exists."],
  key_already_revoked: [409, "CONFLICT", "This API key is already revoked."],
  second_factor_already_enrolled: [
    409,
    "CONFLICT",
    "An authenticator app is already set up. Turn it off first to set up a new one.",
  ],
  second_factor_not_enrolled: [409, "CONFLICT", "No authenticator app is set up for this account."],
  canary_already_retired: [409, "CONFLICT", "This canary key is already retired."],
  key_not_active: [
    409,
    "CONFLICT",
    "This API key is revoked or expired, so it cannot be changed. Create a new key instead.",
  ],
  key_already_rotated: [
    409,
    "CONFLICT",
    "This API key was already rotated. Rotate its successor (see rotated_to) instead.",
  ],
  payload_too_large: [413, "PAYLOAD_TOO_LARGE", "The request body is too large."],
  unsupported_media_type: [
    415,
    "UNSUPPORTED_MEDIA_TYPE",
    "The request body must be application/json.",
  ],
  request_header_too_large: [
    431,
    "BAD_REQUEST",
    "The request line or headers are too large (at most 16 KiB together).",
  ],
  too_many_attempts: [429, "TOO_MANY_REQUESTS", "Too many attempts. Try again later."],
  rate_limit_exceeded: [
    429,
    "TOO_MANY_REQUESTS",
    "You have exceeded your request limit. Check the X-RateLimit-Reset header for when your quota resets.",
  ],
  internal_error: [500, "INTERNAL_SERVER_ERROR", "Something went wrong on our side."],
  upstream_unavailable: [502, "BAD_GATEWAY", "The data service did not answer. Retry shortly."],
  service_unavailable: [
    503,
    "SERVICE_UNAVAILABLE",
    "The service is temporarily unavailable. Retry shortly.",
  ],
} as const satisfies Record<string, readonly [number, TRPC_ERROR_CODE_KEY, string]>;

export type ErrorCode = keyof typeof ERRORS;

/** A documented error: thrown by services and procedures, rendered by both transports. */
export class ApiError extends TRPCError {
  readonly appCode: ErrorCode;
  readonly status: number;
  readonly details: Record<string, unknown> | undefined;
  /** Extra response headers (e.g. Retry-After). */
  readonly headers: Record<string, string> | undefined;

  constructor(
    appCode: ErrorCode,
    options: {
      message?: string;
      details?: Record<string, unknown>;
      headers?: Record<string, string>;
    } = {},
  ) {
    const [status, trpcCode, message] = ERRORS[appCode];
    super({ code: trpcCode, message: options.message ?? message });
    this.name = "ApiError";
    this.appCode = appCode;
    this.status = status;
    this.details = options.details;
    this.headers = options.headers;
  }
}

export interface ErrorBody {
  error: {
    code: string;
    message: string;
    request_id: string;
    details?: Record<string, unknown>;
  };
}

export function errorBody(
  code: ErrorCode,
  requestId: string,
  message: string = ERRORS[code][2],
  details?: Record<string, unknown>,
): ErrorBody {
  return {
    error: { code, message, request_id: requestId, ...(details ? { details } : {}) },
  };
}
