import { Buffer } from "node:buffer";
import type { IncomingMessage } from "node:http";

export type Extraction = { kind: "none" } | { kind: "ambiguous" } | { kind: "key"; key: string };

const BEARER = /^bearer[ \t]+(.*)$/i;
const BASIC = /^basic[ \t]+(.*)$/i;
/** Longer than any key we issue: not worth trimming, hashing or comparing. */
const MAX_CANDIDATE = 256;

/**
 * Request headers that carry a key, by their name lower-cased with `_` read as `-` (CGI-style
 * stacks fold both spellings into one variable, so `X_API_Key` is the same header).
 */
export function credentialHeaderKind(name: string): "authorization" | "x-api-key" | undefined {
  // Only a name of either length can be either (measured: folding every header's name cost
  // about 1% of a data request's CPU).
  if (name.length !== 13 && name.length !== 9) return undefined;
  const folded = name.toLowerCase().replaceAll("_", "-");
  if (folded === "authorization") return "authorization";
  if (folded === "x-api-key") return "x-api-key";
  return undefined;
}

/**
 * Collects every credential the request presents: `Authorization: Bearer` (scheme in any
 * case), `X-API-Key` (either spelling), every `api_key` query value in any spelling (read by
 * `readQuery`) and, on TAXII paths, the password of HTTP Basic auth (username blank or
 * anything, as TAXII clients send). One distinct value → that key; several different ones,
 * or the same credential header sent twice → ambiguous (never pick one: a proxy and a client
 * disagreeing about identity is an attack or a bug); none → missing. No I/O, no validation.
 *
 * Raw headers are read because Node keeps only the first of two `Authorization` headers.
 */
export function extractCredential(
  request: { raw: Pick<IncomingMessage, "rawHeaders"> },
  isTaxii: boolean,
  fromQuery?: readonly string[],
): Extraction {
  let found: Found;
  let authorizations = 0;
  let apiKeys = 0;
  const raw = request.raw.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    const kind = credentialHeaderKind(raw[i]!);
    if (kind === undefined) continue;
    const value = raw[i + 1]!;
    if (kind === "x-api-key") {
      apiKeys++;
      found = merge(found, value);
      continue;
    }
    authorizations++;
    const bearer = BEARER.exec(value);
    const basic = isTaxii && !bearer ? BASIC.exec(value) : null;
    if (bearer) found = merge(found, bearer[1]);
    else if (basic) found = merge(found, basicPassword(basic[1] ?? ""));
    // Any other scheme is not a credential of ours; if nothing else is sent: missing_api_key.
  }
  if (authorizations > 1 || apiKeys > 1) return { kind: "ambiguous" };
  if (fromQuery) for (const value of fromQuery) found = merge(found, value);

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
