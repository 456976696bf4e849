import { z } from "zod";
import { ALL_SCOPES, DATA_ROUTES, type DataRoute } from "@repo/core";

/**
 * Which scope each declared data route needs (DATA_ROUTES). A rule names a path and covers
 * the declared routes at that path or below it (segment boundary), optionally only when a
 * query parameter has one of the listed values. Rules are resolved against the declared
 * routes once, at start: a request path is never matched against a rule, so no suffix,
 * encoding or dot-segment variant of a path can pick a rule with a lower scope.
 */
const coversDeclaredRoute = (path: string) =>
  DATA_ROUTES.some((route) => covers(trimPath(path), route));

export const scopeRuleSchema = z.strictObject({
  path: z
    .string()
    .regex(/^\/[^?#]*$/, "must be an absolute path without query")
    .refine(coversDeclaredRoute, "must be a data route's path (or a prefix of some)"),
  scope: z.enum(ALL_SCOPES as [string, ...string[]]),
  query: z.record(z.string(), z.array(z.string()).min(1)).optional(),
});
export type ScopeRule = z.infer<typeof scopeRuleSchema>;
export const scopeMapSchema = z.array(scopeRuleSchema).min(1);

/** The declared routes' scopes (CONTRACT §4), as rules. */
export const DEFAULT_SCOPE_RULES: readonly ScopeRule[] = DATA_ROUTES.flatMap((route) =>
  route.scope === null
    ? []
    : [
        { path: route.path, scope: route.scope },
        ...(route.exportScope
          ? [
              {
                path: route.path,
                scope: route.exportScope.scope,
                query: { [route.exportScope.param]: [...route.exportScope.values] },
              },
            ]
          : []),
      ],
);

/** A conditional rule for one route: `param` (lower case) with one of `values` → `scope`. */
export interface ScopeCondition {
  param: string;
  values: ReadonlySet<string>;
  scope: string;
}

/** What one declared route needs, resolved from the rules at start. */
export interface RouteScope {
  /** Without a matching condition; null: any valid key (whoami). */
  base: string | null;
  conditions: readonly ScopeCondition[];
  /** Lower-cased names of the parameters that choose the scope (read strictly). */
  params: ReadonlySet<string>;
  /** Accept media type → the value of `negotiatedParam` it stands for. */
  mediaTypes: ReadonlyMap<string, string>;
  negotiatedParam: string | undefined;
}

function trimPath(path: string) {
  return path.toLowerCase().replace(/\/+$/, "");
}

function covers(rulePath: string, route: DataRoute) {
  const routePath = trimPath(route.path);
  // A route anyone's key may call (whoami) is only changed by a rule naming it exactly.
  if (route.scope === null) return routePath === rulePath;
  return routePath === rulePath || routePath.startsWith(`${rulePath}/`);
}

/**
 * Resolves the rules against the declared routes: for each route, the most specific rules
 * covering it (longest path) give its scope and conditions. A route no rule covers keeps its
 * declared scope. Keyed by route id.
 */
export function compileScopeRules(
  rules: readonly ScopeRule[],
  routes: readonly DataRoute[] = DATA_ROUTES,
): Map<string, RouteScope> {
  const compiled = new Map<string, RouteScope>();
  for (const route of routes) {
    const matching = rules.filter((rule) => covers(trimPath(rule.path), route));
    const longest = Math.max(-1, ...matching.map((rule) => trimPath(rule.path).length));
    const specific = matching.filter((rule) => trimPath(rule.path).length === longest);
    const plain = specific.find((rule) => !rule.query);
    const conditions = specific.flatMap((rule) =>
      Object.entries(rule.query ?? {}).map(([param, values]) => ({
        param: param.trim().toLowerCase(),
        values: new Set(values.map((value) => value.trim().toLowerCase())),
        scope: rule.scope,
      })),
    );
    const negotiated = route.exportScope;
    compiled.set(route.id, {
      base: plain ? plain.scope : route.scope,
      conditions,
      params: new Set([
        ...conditions.map((condition) => condition.param),
        ...(negotiated ? [negotiated.param.toLowerCase()] : []),
      ]),
      mediaTypes: new Map(Object.entries(negotiated?.mediaTypes ?? {})),
      negotiatedParam: negotiated?.param.toLowerCase(),
    });
  }
  return compiled;
}

/**
 * The scope a request needs, given the scope-choosing parameters it sent (lower-cased names
 * and trimmed, lower-cased values) and its Accept header. A media type standing for a value
 * counts as if the parameter had it; when both are sent, any value matching a condition wins
 * (the strictest reading).
 */
export function resolveScope(
  route: RouteScope,
  chosen: ReadonlyMap<string, string> | undefined,
  accept: string | undefined,
): string | null {
  if (route.conditions.length === 0) return route.base;
  let negotiated: string | undefined;
  if (accept !== undefined && route.mediaTypes.size > 0) {
    const lower = accept.toLowerCase();
    for (const [mediaType, value] of route.mediaTypes) {
      if (lower.includes(mediaType)) negotiated = value;
    }
  }
  for (const condition of route.conditions) {
    const value = chosen?.get(condition.param);
    if (value !== undefined && condition.values.has(value)) return condition.scope;
    if (
      negotiated !== undefined &&
      condition.param === route.negotiatedParam &&
      condition.values.has(negotiated)
    ) {
      return condition.scope;
    }
  }
  return route.base;
}
