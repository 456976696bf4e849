/** Connection-level and overload failures: the request may succeed if retried shortly. */
const UNAVAILABLE_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "EPIPE",
  "CONNECT_TIMEOUT",
  "CONNECTION_CLOSED",
  "CONNECTION_ENDED",
  "CONNECTION_DESTROYED",
  "DATABASE_UNAVAILABLE", // the availability breaker is open (availability.ts)
  "POOL_TIMEOUT", // no connection became free within the wait bound
  "EHOSTUNREACH",
  "ENETUNREACH",
  "57P01", // admin_shutdown
  "57P02", // crash_shutdown
  "57P03", // cannot_connect_now
  "57014", // query_canceled (statement_timeout)
  "55P03", // lock_not_available (lock_timeout)
  "53300", // too_many_connections
  "53000", // insufficient_resources
  "53100", // disk_full
  "53200", // out_of_memory
  "55000", // object_not_in_prerequisite_state: "database … is not currently accepting connections"
  "08000",
  "08001",
  "08003",
  "08004",
  "08006",
]);

function* causes(error: unknown): Generator<unknown> {
  let current = error;
  for (let depth = 0; current && depth < 5; depth++) {
    yield current;
    current = (current as { cause?: unknown }).cause;
  }
}

export function isDatabaseUnavailable(error: unknown): boolean {
  for (const cause of causes(error)) {
    const code = (cause as { code?: unknown }).code;
    if (typeof code === "string" && UNAVAILABLE_CODES.has(code)) return true;
  }
  return false;
}

/** The Postgres SQLSTATE of a failed query (e.g. 23505), if any. */
export function databaseErrorCode(error: unknown): string | undefined {
  for (const cause of causes(error)) {
    const code = (cause as { code?: unknown }).code;
    if (typeof code === "string") return code;
  }
  return undefined;
}

/**
 * Errors whose messages quote SQL text, parameters or row values: drizzle's query wrapper
 * (which keeps the default `name` "Error", so it is known by its fields) and the drivers'
 * server errors (which carry a severity).
 */
function isQueryError(error: unknown): boolean {
  if (typeof error !== "object" || error === null) return false;
  return (
    "query" in error ||
    "params" in error ||
    "severity" in error ||
    (error as { name?: unknown }).name === "PostgresError"
  );
}

/**
 * What may be logged about an error: its class and codes, and its message only when it is not
 * a query error (driver messages carry SQL text and parameters, which can include key hashes
 * or emails). Credentials in URLs are masked; stacks are never included.
 */
export function describeError(error: unknown): Record<string, string> {
  const described: Record<string, string> = {};
  let queryError = false;
  for (const cause of causes(error)) {
    const name = (cause as { name?: unknown }).name;
    const code = (cause as { code?: unknown }).code;
    const constraint = (cause as { constraint_name?: unknown }).constraint_name;
    if (isQueryError(cause)) queryError = true;
    if (typeof name === "string" && !described.type) described.type = name;
    if (typeof code === "string" && !described.code) described.code = code;
    if (typeof constraint === "string") described.constraint = constraint;
  }
  const message = (error as { message?: unknown } | null)?.message;
  if (!queryError && typeof message === "string") {
    described.message = message.replace(/\/\/[^/@\s]*@/g, "//***@").slice(0, 300);
  }
  return described;
}
