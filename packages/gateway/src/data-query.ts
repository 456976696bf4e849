/**
 * Reads a data request's query string once, the way the gateway decides on it, and builds
 * the only query the upstream receives. Names are percent-decoded (and `+` read as a space)
 * before they are compared, so no spelling of a credential or of a scope-choosing parameter
 * reaches the upstream in a form the gateway did not read.
 */
export type QueryReading =
  | {
      ok: true;
      /** The canonical query for the upstream, with its `?` ("" when empty). */
      search: string;
      /** Every value presented as a key (`api_key` in any spelling). */
      credentials: string[] | undefined;
      /** Scope-choosing parameters: lower-cased name → trimmed, lower-cased value. */
      chosen: Map<string, string> | undefined;
    }
  | { ok: false; reason: "malformed" | "repeated" };

const EMPTY: QueryReading = { ok: true, search: "", credentials: undefined, chosen: undefined };

function decode(text: string): string | null {
  try {
    return decodeURIComponent(text.includes("+") ? text.replaceAll("+", " ") : text);
  } catch {
    return null;
  }
}

/**
 * A credential parameter: `api_key`, `API-KEY`, `apikey`, ` api_key[] ` … (bracket forms
 * are how array-aware upstream parsers read a repeat).
 */
function isCredentialName(lower: string) {
  const bracket = lower.indexOf("[");
  const base = bracket === -1 ? lower : lower.slice(0, bracket);
  return base.replace(/[\s_-]/g, "") === "apikey";
}

/**
 * `params`: the lower-cased names of the route's scope-choosing parameters. Such a parameter
 * sent twice, or in a bracket (array) form, is refused ("repeated"): one request cannot ask
 * for two scopes. Malformed percent-encoding is refused ("malformed").
 */
export function readQuery(rawQuery: string, params: ReadonlySet<string>): QueryReading {
  if (rawQuery === "") return EMPTY;
  const out = new URLSearchParams();
  let credentials: string[] | undefined;
  let chosen: Map<string, string> | undefined;
  for (const part of rawQuery.split("&")) {
    if (part === "") continue;
    const eq = part.indexOf("=");
    const name = decode(eq === -1 ? part : part.slice(0, eq));
    const value = decode(eq === -1 ? "" : part.slice(eq + 1));
    if (name === null || value === null) return { ok: false, reason: "malformed" };
    const lower = name.trim().toLowerCase();
    if (isCredentialName(lower)) {
      (credentials ??= []).push(value);
      continue;
    }
    const bracket = lower.indexOf("[");
    const base = bracket === -1 ? lower : lower.slice(0, bracket).trim();
    if (params.has(base)) {
      if (bracket !== -1 || chosen?.has(base)) return { ok: false, reason: "repeated" };
      const canonical = value.trim().toLowerCase();
      (chosen ??= new Map()).set(base, canonical);
      out.append(base, canonical);
      continue;
    }
    out.append(name, value);
  }
  const search = out.size > 0 ? `?${out.toString()}` : "";
  return { ok: true, search, credentials, chosen };
}
