import { z } from "zod";
import { ALL_SCOPES } from "../config/tiers.js";

/**
 * Which scope each data route needs. A rule matches its path exactly or any sub-path
 * (segment boundary), optionally only when a query parameter has one of the listed values;
 * the most specific matching rule wins (longest path, then a query condition over none).
 * Paths are compared lower-cased and already percent-decoded (see `normalizeDataPath`), so
 * `/api/v1/iocs/%53TIX` needs the same scope as `/api/v1/iocs/stix`.
 */
export const scopeRuleSchema = z.strictObject({
  path: z.string().regex(/^\/[^?#]*$/, "must be an absolute path without query"),
  scope: z.enum(ALL_SCOPES as [string, ...string[]]),
  query: z.record(z.string(), z.array(z.string()).min(1)).optional(),
});
export type ScopeRule = z.infer<typeof scopeRuleSchema>;
export const scopeMapSchema = z.array(scopeRuleSchema).min(1);

/** CONTRACT §4 defaults. */
export const DEFAULT_SCOPE_RULES: readonly ScopeRule[] = [
  { path: "/api/v1/iocs", scope: "read:iocs" },
  { path: "/api/v1/lookup", scope: "read:iocs" },
  { path: "/api/v1/iocs/stix", scope: "read:stix" },
  { path: "/api/v1/iocs/cef", scope: "read:cef" },
  { path: "/api/v1/iocs/misp", scope: "read:misp" },
  { path: "/api/v1/iocs/openioc", scope: "read:openioc" },
  { path: "/api/v1/articles", scope: "read:articles" },
  { path: "/api/v1/articles", query: { format: ["ndjson", "csv"] }, scope: "read:articles:export" },
  { path: "/api/taxii2", scope: "read:stix" },
];

interface CompiledRule {
  path: string;
  scope: string;
  query: [string, Set<string>][] | undefined;
}

export interface ScopeResolver {
  (path: string, query: URLSearchParams): string | null;
  /** True when a rule with a query condition covers `path` (so the query must be read). */
  dependsOnQuery(path: string): boolean;
}

export function compileScopeRules(rules: readonly ScopeRule[]): ScopeResolver {
  const compiled: CompiledRule[] = rules
    .map((rule) => ({
      path: rule.path.toLowerCase().replace(/\/+$/, ""),
      scope: rule.scope,
      query: rule.query
        ? Object.entries(rule.query).map(([name, values]): [string, Set<string>] => [
            name,
            new Set(values.map((v) => v.toLowerCase())),
          ])
        : undefined,
    }))
    // Most specific first: longer paths, then conditional rules before unconditional ones.
    .sort((a, b) => b.path.length - a.path.length || Number(!!b.query) - Number(!!a.query));

  const covers = (rule: CompiledRule, lower: string) =>
    lower === rule.path || lower.startsWith(`${rule.path}/`);
  const resolve = (path: string, query: URLSearchParams) => {
    const lower = path.toLowerCase();
    for (const rule of compiled) {
      if (!covers(rule, lower)) continue;
      // Every value of a repeated parameter counts: `format=json&format=csv` is an export.
      const queryMatches =
        rule.query?.every(([name, values]) =>
          query.getAll(name).some((value) => values.has(value.toLowerCase())),
        ) ?? true;
      if (queryMatches) return rule.scope;
    }
    return null;
  };
  return Object.assign(resolve, {
    dependsOnQuery: (path: string) =>
      compiled.some((rule) => rule.query && covers(rule, path.toLowerCase())),
  });
}

/**
 * The request path as the upstream will understand it: percent-decoded once, and refused
 * (null) when decoding fails or yields something a scope check could be fooled by: dot
 * segments, empty segments, backslashes, control characters or a leftover `%`.
 */
export function normalizeDataPath(rawUrl: string): string | null {
  const queryAt = rawUrl.indexOf("?");
  const rawPath = queryAt === -1 ? rawUrl : rawUrl.slice(0, queryAt);
  let path: string;
  try {
    path = decodeURIComponent(rawPath);
  } catch {
    return null;
  }
  // eslint-disable-next-line no-control-regex
  if (/[\\%\u0000-\u001f\u007f]|\/\/|(^|\/)\.\.?(\/|$)/.test(path)) return null;
  return path;
}
