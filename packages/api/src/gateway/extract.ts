import type { FastifyRequest } from "fastify";

export type Extraction = { kind: "none" } | { kind: "ambiguous" } | { kind: "key"; key: string };

const BEARER = /^bearer[ \t]+(.*)$/i;
const BASIC = /^basic[ \t]+(.*)$/i;
/** Longer than any key we issue: not worth trimming, hashing or comparing. */
const MAX_CANDIDATE = 256;

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value.join(",") : value;
}

/**
 * Collects every credential the request presents: `Authorization: Bearer` (scheme in any
 * case), `X-API-Key`, every `api_key` query value and, on TAXII paths, the password of HTTP
 * Basic auth (username blank or anything, as TAXII clients send). One distinct value → that
 * key; several different ones → ambiguous (never pick one: a proxy and a client disagreeing
 * about identity is an attack or a bug); none → missing. No I/O, no validation here.
 */
export function extractCredential(request: FastifyRequest, isTaxii: boolean): Extraction {
  let found: Found;
  const authorization = headerValue(request.headers.authorization);
  if (authorization !== undefined) {
    const bearer = BEARER.exec(authorization);
    const basic = isTaxii && !bearer ? BASIC.exec(authorization) : null;
    if (bearer) found = merge(found, bearer[1]);
    else if (basic) found = merge(found, basicPassword(basic[1] ?? ""));
    // Any other scheme is not a credential of ours; if nothing else is sent: missing_api_key.
  }
  found = merge(found, headerValue(request.headers["x-api-key"]));

  const fromQuery = (request.query as Record<string, unknown> | undefined)?.api_key;
  if (typeof fromQuery === "string") found = merge(found, fromQuery);
  else if (Array.isArray(fromQuery)) {
    for (const value of fromQuery) if (typeof value === "string") found = merge(found, value);
  }

  if (found === AMBIGUOUS) return { kind: "ambiguous" };
  return found === undefined ? { kind: "none" } : { kind: "key", key: found };
}

const AMBIGUOUS = Symbol("ambiguous");
type Found = string | undefined | typeof AMBIGUOUS;

/** Adds one presented value (hot path: no per-request closures or collections). */
function merge(found: Found, value: string | undefined): Found {
  if (value === undefined || found === AMBIGUOUS) return found;
  const candidate = value.length > MAX_CANDIDATE ? value : value.trim();
  return found === undefined || found === candidate ? candidate : AMBIGUOUS;
}

function basicPassword(encoded: string): string {
  const decoded = Buffer.from(encoded.trim(), "base64").toString("utf8");
  const colon = decoded.indexOf(":");
  return colon === -1 ? decoded : decoded.slice(colon + 1);
}
