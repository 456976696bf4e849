import type { ErrorCode } from "@repo/core";

type Headers = Record<string, string | string[] | undefined>;

const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

/** `https://App.Example:443` → `https://app.example`; null for anything that is not an origin. */
export function normalizeOrigin(value: string): string | null {
  try {
    const url = new URL(value);
    if (url.protocol !== "http:" && url.protocol !== "https:") return null;
    return url.origin;
  } catch {
    return null;
  }
}

function header(headers: Headers, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/**
 * True when a request presents an API key in any of the places the data plane accepts one.
 * Keys must never be able to manage keys, so these requests are refused on the management
 * plane even when they also carry a valid session.
 */
export function presentsApiKey(headers: Headers, query: Record<string, unknown>): boolean {
  return (
    headers.authorization !== undefined ||
    headers["x-api-key"] !== undefined ||
    Object.hasOwn(query, "api_key")
  );
}

/**
 * CSRF defence for every cookie-authenticated, state-changing request: the browser must say
 * the request is same-origin (Sec-Fetch-Site), or, from browsers that do not send that
 * header, the Origin must be exactly one we serve. No Referer fallback: absent means refused.
 */
export function checkOrigin(
  method: string,
  headers: Headers,
  allowedOrigins: ReadonlySet<string>,
): ErrorCode | null {
  if (SAFE_METHODS.has(method)) return null;
  const fetchSite = header(headers, "sec-fetch-site");
  if (fetchSite !== undefined) return fetchSite === "same-origin" ? null : "invalid_origin";
  const origin = header(headers, "origin");
  const normalized = origin ? normalizeOrigin(origin) : null;
  return normalized && allowedOrigins.has(normalized) ? null : "invalid_origin";
}

/**
 * State-changing requests carry JSON or nothing. Refusing form and multipart bodies closes
 * the "simple request" CSRF path even if an origin check were ever misconfigured.
 */
export function checkContentType(method: string, headers: Headers): ErrorCode | null {
  if (SAFE_METHODS.has(method)) return null;
  const contentType = header(headers, "content-type");
  const length = header(headers, "content-length");
  const hasBody =
    headers["transfer-encoding"] !== undefined || (length !== undefined && length !== "0");
  if (contentType === undefined) return hasBody ? "unsupported_media_type" : null;
  const mediaType = contentType.split(";")[0]?.trim().toLowerCase();
  return mediaType === "application/json" ? null : "unsupported_media_type";
}
