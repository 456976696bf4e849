import type { ErrorCode } from "./errors.js";
import type { Scope } from "./tiers.js";

/**
 * Every HTTP route the server answers, declared once. The Fastify registration of the
 * management REST routes, the management guard, the 405 answers, the SPA fallback, the 404
 * for unknown API paths and the OpenAPI paths all read this table; a route under an API
 * prefix that is not in it is refused when the server starts (see `assertDeclared`).
 *
 * Planes: `management` — authenticated by the dashboard's session cookie, always behind the
 * guard (API keys refused, origin check and JSON-only bodies on state-changing requests);
 * `data` — authenticated by an API key (the gateway, from DATA_ROUTES); `public` — no
 * authentication.
 */
export type Plane = "management" | "data" | "public";
export type HttpMethod = "GET" | "POST" | "PUT" | "PATCH" | "DELETE";

/** OpenAPI metadata of one operation; absent on routes the document does not describe. */
export interface RouteDoc {
  summary: string;
  description: string;
  tag: "Keys" | "Canaries" | "Data" | "TAXII" | "Service";
}

export interface RouteEntry {
  /** Stable name; the OpenAPI operationId (data routes answering POST add a `Post` suffix). */
  id: string;
  methods: readonly HttpMethod[];
  /** Fastify syntax (`:param`). */
  path: string;
  plane: Plane;
  /**
   * What answers: for management REST routes the tRPC procedure they call (`keys.list`), for
   * data routes `gateway`, for public routes a name the server binds a handler to.
   */
  handler: string;
  status: number;
  /** The documented errors besides those every route of its plane can answer (see below). */
  errors: readonly ErrorCode[];
  doc?: RouteDoc;
  /** A TAXII route: the key may also come as the password of HTTP Basic authentication. */
  taxii?: boolean;
  /** Errors are answered in tRPC's shape (its client reads them), not the REST envelope. */
  trpc?: boolean;
}

/** Errors every management route can answer. */
export const MANAGEMENT_ERRORS: readonly ErrorCode[] = [
  "not_authenticated",
  "api_key_not_allowed",
  "internal_error",
  "service_unavailable",
];
/** Errors every state-changing management route can answer besides those. */
export const MANAGEMENT_WRITE_ERRORS: readonly ErrorCode[] = [
  "invalid_origin",
  "unsupported_media_type",
  "payload_too_large",
  "invalid_json",
];
/** Errors every data-plane route can answer. */
export const DATA_ERRORS: readonly ErrorCode[] = [
  "ambiguous_credentials",
  "missing_api_key",
  "invalid_api_key",
  "expired_api_key",
  "ip_not_allowed",
  "rate_limit_exceeded",
  "service_unavailable",
];

/** A management REST route (`tag`: its group in the OpenAPI document). */
const management =
  (tag: "Keys" | "Canaries") =>
  (
    id: string,
    method: HttpMethod,
    path: string,
    handler: string,
    status: number,
    errors: readonly ErrorCode[],
    summary: string,
    description: string,
  ): RouteEntry => ({
    id,
    methods: [method],
    path,
    plane: "management",
    handler,
    status,
    errors,
    doc: { summary, description, tag },
  });
const keys = management("Keys");
const canaries = management("Canaries");

/**
 * The data plane's routes: the only paths an API key reaches, each with the scope it needs
 * and what it costs from the key's quota (CONTRACT §4, §5; the published docs' routes). The
 * gateway registers exactly these and never forwards anything else; they join ROUTES below,
 * which the OpenAPI document reads.
 *
 * Paths use Fastify's `:param` syntax. TAXII paths keep their documented trailing slash.
 */
export interface DataRoute {
  /** Stable name, also the OpenAPI operationId. */
  id: string;
  path: string;
  methods: readonly ("GET" | "POST")[];
  /** The scope a key needs; null: any valid key (it asks about itself). */
  scope: Scope | null;
  /**
   * A query parameter whose values need a stricter scope (article exports). Read
   * case-insensitively after trimming; content negotiation (`Accept`) counts like it.
   */
  exportScope?: {
    param: string;
    values: readonly string[];
    scope: Scope;
    /**
     * Accept media types that ask for the same thing as `param=<value>` (content
     * negotiation must not be a cheaper way to an export).
     */
    mediaTypes?: Readonly<Record<string, string>>;
  };
  /** Requests taken from the key's quota (TAXII objects build a whole bundle: 2.5). */
  cost: number;
  /** TAXII routes also accept the key as the password of HTTP Basic auth. */
  taxii: boolean;
  summary: string;
}

const read = (
  id: string,
  path: string,
  scope: Scope,
  summary: string,
  extra: Partial<DataRoute> = {},
): DataRoute => ({
  id,
  path,
  methods: ["GET", "POST"],
  scope,
  cost: 1,
  taxii: path.startsWith("/api/taxii2/"),
  summary,
  ...extra,
});

export const DATA_ROUTES: readonly DataRoute[] = [
  read("listIocs", "/api/v1/iocs", "read:iocs", "List indicators of compromise"),
  read("searchIocs", "/api/v1/iocs/search", "read:iocs", "Search for a specific IOC value"),
  read("iocStats", "/api/v1/iocs/stats", "read:iocs", "Aggregated IOC statistics"),
  read("iocsStix", "/api/v1/iocs/stix", "read:stix", "IOCs as a STIX 2.1 bundle"),
  read("iocsCef", "/api/v1/iocs/cef", "read:cef", "IOCs as CEF or syslog lines"),
  read("iocsMisp", "/api/v1/iocs/misp", "read:misp", "IOCs as a MISP event"),
  read("iocsOpenioc", "/api/v1/iocs/openioc", "read:openioc", "IOCs as OpenIOC 1.0 XML"),
  read("iocsSigma", "/api/v1/iocs/sigma", "read:iocs", "IOCs as Sigma rules"),
  read("lookupIoc", "/api/v1/lookup", "read:iocs", "Single-IOC enrichment"),
  read("listArticles", "/api/v1/articles", "read:articles", "List, search and export articles", {
    exportScope: {
      param: "format",
      values: ["ndjson", "csv"],
      scope: "read:articles:export",
      mediaTypes: {
        "application/x-ndjson": "ndjson",
        "application/ndjson": "ndjson",
        "text/csv": "csv",
      },
    },
  }),
  read("getArticle", "/api/v1/articles/:articleId", "read:articles", "One article"),
  read("taxiiDiscovery", "/api/taxii2/", "read:stix", "TAXII 2.1 discovery"),
  read("taxiiApiRoot", "/api/taxii2/api/", "read:stix", "TAXII 2.1 API root"),
  read("taxiiCollections", "/api/taxii2/api/collections/", "read:stix", "TAXII collections"),
  read(
    "taxiiCollection",
    "/api/taxii2/api/collections/:collectionId/",
    "read:stix",
    "One TAXII collection",
  ),
  read(
    "taxiiObjects",
    "/api/taxii2/api/collections/:collectionId/objects/",
    "read:stix",
    "STIX objects of a TAXII collection (costs 2.5 requests)",
    { cost: 2.5 },
  ),
  {
    id: "whoami",
    path: "/api/v1/whoami",
    methods: ["GET"],
    scope: null,
    cost: 0,
    taxii: false,
    summary: "The key presenting the request, about itself (no scope needed, no quota taken)",
  },
];

function fromDataRoute(route: DataRoute): RouteEntry {
  return {
    id: route.id,
    methods: route.methods,
    path: route.path,
    plane: "data",
    handler: "gateway",
    status: 200,
    taxii: route.taxii,
    errors: route.scope === null ? [] : ["insufficient_scope", "upstream_unavailable"],
    doc: {
      summary: route.summary,
      description:
        route.scope === null
          ? "Authenticated by the API key itself (any accepted form). Needs no scope and takes nothing from the key's quota."
          : `Needs the \`${route.scope}\` scope${route.exportScope ? ` (\`${route.exportScope.scope}\` when \`${route.exportScope.param}\` is ${route.exportScope.values.map((v) => `\`${v}\``).join(" or ")})` : ""}. Takes ${route.cost} request${route.cost === 1 ? "" : "s"} from the key's quota.${route.taxii ? " TAXII clients may also send the key as the password of HTTP Basic authentication." : ""}`,
      tag: route.taxii ? "TAXII" : "Data",
    },
  };
}

export const ROUTES: readonly RouteEntry[] = [
  keys(
    "listAPIKeys",
    "GET",
    "/api/v1/keys",
    "keys.list",
    200,
    [],
    "List your API keys",
    "Every key of the signed-in account, newest first, revoked and expired ones included. Secrets are never returned.",
  ),
  keys(
    "createAPIKey",
    "POST",
    "/api/v1/keys",
    "keys.create",
    201,
    ["validation_error", "key_limit_reached", "too_many_attempts"],
    "Mint a new API key",
    "Creates a key with the given name, scopes, expiry and allowed addresses. The secret is returned once, in `key` and `full_key`.",
  ),
  keys(
    "getAPIKey",
    "GET",
    "/api/v1/keys/:keyId",
    "keys.byId",
    200,
    ["key_not_found"],
    "Get full details for one API key",
    "One key of the signed-in account. Any id that is not one of the caller's keys, of any length or shape, answers 404 key_not_found.",
  ),
  keys(
    "updateAPIKey",
    "PATCH",
    "/api/v1/keys/:keyId",
    "keys.update",
    200,
    ["validation_error", "key_not_found", "key_not_active"],
    "Edit an API key",
    "Changes the name or allowed addresses, removes scopes or brings the expiry sooner. The change applies to the very next request made with the key.",
  ),
  keys(
    "revokeAPIKey",
    "DELETE",
    "/api/v1/keys/:keyId",
    "keys.revoke",
    200,
    ["validation_error", "key_not_found", "key_already_revoked"],
    "Revoke an API key",
    "Irreversible: the key is refused from the next request on. An optional JSON body may give a reason.",
  ),
  keys(
    "getAPIKeyUsage",
    "GET",
    "/api/v1/keys/:keyId/usage",
    "keys.usage",
    200,
    ["validation_error", "key_not_found"],
    "Usage analytics and rate-limit budget for an API key",
    "Requests per day and per endpoint over the last `days` UTC days, and what is left of the key's per-minute and daily quota.",
  ),
  keys(
    "rotateAPIKey",
    "POST",
    "/api/v1/keys/:keyId/rotate",
    "keys.rotate",
    201,
    [
      "validation_error",
      "key_not_found",
      "key_not_active",
      "key_already_rotated",
      "too_many_attempts",
    ],
    "Rotate an API key",
    "Mints a successor with the same name, scopes and addresses; the old key keeps working for the grace period given (`meta.previous_key.expires_at`).",
  ),
  keys(
    "getAPIKeyAddresses",
    "GET",
    "/api/v1/keys/:keyId/addresses",
    "keys.addresses",
    200,
    ["key_not_found"],
    "Client addresses an API key is used from",
    "Most recently seen first, at most 100. IPv4 addresses exactly, IPv6 addresses per /64.",
  ),
  canaries(
    "listCanaryKeys",
    "GET",
    "/api/v1/canaries",
    "canaries.list",
    200,
    [],
    "List your canary keys",
    "Every canary of the signed-in account, newest first, retired ones included.",
  ),
  canaries(
    "createCanaryKey",
    "POST",
    "/api/v1/canaries",
    "canaries.create",
    201,
    ["validation_error", "canary_limit_reached", "too_many_attempts"],
    "Mint a canary key",
    "A decoy that looks like a live key and raises an alert on any use. Returned once, in `key` and `full_key`.",
  ),
  canaries(
    "retireCanaryKey",
    "DELETE",
    "/api/v1/canaries/:id",
    "canaries.retire",
    200,
    ["canary_not_found", "canary_already_retired"],
    "Retire a canary key",
    "The decoy becomes an unknown key and its alerts stop; its trigger history is kept.",
  ),
  canaries(
    "listCanaryTriggers",
    "GET",
    "/api/v1/canaries/:id/triggers",
    "canaries.triggers",
    200,
    ["canary_not_found"],
    "Uses of a canary key",
    "Every recorded use of the decoy, newest first.",
  ),
  {
    // The dashboard's procedures; documented by their tRPC router, not by OpenAPI.
    id: "trpc",
    methods: ["GET", "POST"],
    path: "/trpc/:path",
    plane: "management",
    handler: "trpc",
    status: 200,
    errors: [],
    trpc: true,
  },
  ...DATA_ROUTES.map(fromDataRoute),
  {
    id: "getOpenApiDocument",
    methods: ["GET"],
    path: "/api/v1/openapi.json",
    plane: "public",
    handler: "openapi",
    status: 200,
    errors: [],
    doc: {
      summary: "This OpenAPI document",
      description: "The OpenAPI 3.1 description of every documented route, as JSON.",
      tag: "Service",
    },
  },
  {
    id: "getHealth",
    methods: ["GET"],
    path: "/healthz",
    plane: "public",
    handler: "healthz",
    status: 200,
    errors: [],
    doc: {
      summary: "Liveness",
      description: "200 while the process serves requests; checks no dependency.",
      tag: "Service",
    },
  },
  {
    id: "getReadiness",
    methods: ["GET"],
    path: "/readyz",
    plane: "public",
    handler: "readyz",
    status: 200,
    errors: ["service_unavailable"],
    doc: {
      summary: "Readiness",
      description:
        "200 when every dependency a request needs answers (the database, and Redis when the limits live there); 503 naming the failing ones otherwise.",
      tag: "Service",
    },
  },
  // The dashboard's page (and its built files, served by @fastify/static outside any API prefix).
  {
    id: "dashboard",
    methods: ["GET"],
    path: "/",
    plane: "public",
    handler: "spa",
    status: 200,
    errors: [],
  },
];

/** The first path segments that belong to the API: never the SPA's, never an unlisted route. */
const API_PREFIXES: readonly string[] = [
  ...new Set(
    ROUTES.filter((route) => route.plane !== "public").map(
      (route) => `/${route.path.split("/")[1] ?? ""}`,
    ),
  ),
];

/**
 * True when a request path begins with an API prefix. Deliberately a plain prefix (`/trpc-x`,
 * `/apis` count too): such paths get the JSON 404, never the SPA's page, and no route may be
 * registered at one without being declared.
 */
export function isApiPath(url: string): boolean {
  const lower = url.toLowerCase();
  return API_PREFIXES.some((prefix) => lower.startsWith(prefix));
}

const byPath = new Map<string, RouteEntry[]>();
for (const route of ROUTES) byPath.set(route.path, [...(byPath.get(route.path) ?? []), route]);

/** The table's entries at a Fastify route pattern (empty when it declares none). */
function routesAt(path: string): readonly RouteEntry[] {
  return byPath.get(path) ?? [];
}

/** Every declared path with the methods it answers (HEAD wherever GET is). */
export function allowedMethods(path: string): string[] {
  const methods = new Set<string>(routesAt(path).flatMap((route) => route.methods));
  if (methods.has("GET")) methods.add("HEAD");
  return ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"].filter((m) => methods.has(m));
}

/** The declared paths, each once, in table order. */
export const ROUTE_PATHS: readonly string[] = [...byPath.keys()];

export const MANAGEMENT_REST_ROUTES: readonly RouteEntry[] = ROUTES.filter(
  (route) => route.plane === "management" && !route.trpc,
);

/** The plane of a matched Fastify route pattern; undefined when the table does not declare it. */
export function planeOf(path: string | undefined): Plane | undefined {
  return path === undefined ? undefined : routesAt(path)[0]?.plane;
}

/** True for the route patterns whose errors are answered in tRPC's shape. */
export function isTrpcRoute(path: string | undefined): boolean {
  return path !== undefined && routesAt(path).some((route) => route.trpc === true);
}

const patterns = ROUTES.map(
  (route) => [new RegExp(`^${route.path.replace(/:[A-Za-z]+/g, "[^/]+")}$`), route] as const,
);

/**
 * The 404 a request path gets when it cannot reach its handler (its parameter does not
 * decode): the route's own "not found" (`key_not_found` on `/api/v1/keys/{keyId}`, as for
 * any other id that is not the caller's), else `not_found`.
 */
export function notFoundCodeFor(url: string): ErrorCode {
  const path = url.split("?")[0] ?? "";
  const route = patterns.find(([pattern]) => pattern.test(path))?.[1];
  return route?.errors.find((code) => code.endsWith("_not_found")) ?? "not_found";
}

/** The path of the route a handler name answers (public routes, tRPC): throws when undeclared. */
export function pathOf(handler: string): string {
  const route = ROUTES.find((entry) => entry.handler === handler);
  if (route === undefined) throw new Error(`The route table declares no route for ${handler}`);
  return route.path;
}

/**
 * Throws when a route under an API prefix is registered without being declared here, so a
 * route cannot reach the server while skipping the guard or the document.
 */
export function assertDeclared(path: string) {
  if (!isApiPath(path)) return;
  if (byPath.has(path)) return;
  throw new Error(
    `Route ${path} is under an API prefix but not declared in packages/core/src/route-table.ts`,
  );
}
