import { ApiError, type ErrorCode } from "@repo/core";

/**
 * The data plane's refusals, built without a stack trace: a refusal is an answer, not a fault
 * (nothing reads its stack, and it is never logged), and a flood of them must not pay for
 * capturing one each. The ones that never vary are built once.
 */
export function refusal(
  code: ErrorCode,
  options?: ConstructorParameters<typeof ApiError>[1],
): ApiError {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    return new ApiError(code, options);
  } finally {
    Error.stackTraceLimit = limit;
  }
}

export const MISSING_API_KEY = refusal("missing_api_key", {
  headers: { "www-authenticate": "Bearer" },
});
export const INVALID_API_KEY = refusal("invalid_api_key");
export const EXPIRED_API_KEY = refusal("expired_api_key");
export const AMBIGUOUS_CREDENTIALS = refusal("ambiguous_credentials");
export const IP_NOT_ALLOWED = refusal("ip_not_allowed");
export const NOT_FOUND = refusal("not_found");

const insufficient = new Map<string, ApiError>();
/** `403 insufficient_scope` naming the scope, one instance per scope. */
export function insufficientScope(scope: string): ApiError {
  let error = insufficient.get(scope);
  if (!error) {
    error = refusal("insufficient_scope", { details: { required_scope: scope } });
    insufficient.set(scope, error);
  }
  return error;
}

/**
 * Refusals that vary only by a small number (Retry-After seconds, the window): one instance
 * per distinct value, so a client hammering past its limit costs no allocation per answer.
 */
function memoized(build: (key: string) => ApiError): (key: string) => ApiError {
  const built = new Map<string, ApiError>();
  return (key) => {
    let error = built.get(key);
    if (!error) {
      // Bounded by the values the limiters can produce (seconds of a day, two windows).
      if (built.size >= 200_000) built.clear();
      error = build(key);
      built.set(key, error);
    }
    return error;
  };
}

const tooManyAttempts = memoized((retryAfter) =>
  refusal("too_many_attempts", { headers: { "retry-after": retryAfter } }),
);
/** `429 too_many_attempts`: this address sent too many keys that failed. */
export function tooManyFailedAttempts(retryAfter: number): ApiError {
  return tooManyAttempts(String(retryAfter));
}

const rateLimited = memoized((key) => {
  const [policy, retryAfter] = key.split(" ");
  return refusal("rate_limit_exceeded", {
    headers: { "retry-after": retryAfter! },
    details: { policy, retry_after: Number(retryAfter) },
  });
});
/** `429 rate_limit_exceeded`: the key's own quota for `policy` (minute or day) is spent. */
export function rateLimitExceeded(policy: string, retryAfter: number): ApiError {
  return rateLimited(`${policy} ${retryAfter}`);
}
