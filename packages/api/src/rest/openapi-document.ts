import { z } from "zod";
import {
  DATA_ERRORS,
  DATA_ROUTES,
  ERRORS,
  MANAGEMENT_ERRORS,
  MANAGEMENT_WRITE_ERRORS,
  ROUTES,
  type ErrorCode,
  type RouteEntry,
} from "@repo/core";
import {
  createKeyInput,
  createKeyOutput,
  keyAddressesOutput,
  keyDetailOutput,
  keyListOutput,
  keyUsageOutput,
  revokeKeyInput,
  revokeKeyOutput,
  rotateKeyOutput,
  rotateKeyRequest,
  updateKeyRequest,
  whoamiOutput,
} from "../keys/schemas.js";
import { canarySchemas, webhookDefinitions } from "./openapi-alerts.js";
import { PARAMETER_EXAMPLES, SCHEMA_EXAMPLES, errorExample } from "./openapi-examples.js";

type JsonSchema = Record<string, unknown>;

/** JSON Schema 2020-12 (OpenAPI 3.1's dialect) of what a request sends or a response holds. */
function jsonSchema(schema: z.ZodType, io: "input" | "output"): JsonSchema {
  const generated: JsonSchema = z.toJSONSchema(schema, { io, unrepresentable: "any" });
  delete generated.$schema;
  return generated;
}
const request = (schema: z.ZodType) => jsonSchema(schema, "input");
const response = (schema: z.ZodType) => jsonSchema(schema, "output");

export const errorEnvelope = z.object({
  error: z.object({
    code: z.enum(Object.keys(ERRORS) as [ErrorCode, ...ErrorCode[]]),
    message: z.string(),
    request_id: z.string().regex(/^req_/),
    details: z.record(z.string(), z.unknown()).optional(),
  }),
});

/** What a data route answers while no upstream is configured (the gateway's echo). */
const echoOutput = z.object({
  data: z.object({
    authenticated: z.literal(true),
    mode: z.literal("echo"),
    message: z.string(),
    key: z.object({
      id: z.uuid(),
      key_prefix: z.string(),
      tier: z.enum(["free", "pro"]),
      scopes: z.array(z.string()),
    }),
    request: z.object({
      method: z.string(),
      path: z.string(),
      required_scope: z.string().nullable(),
      cost: z.number().nonnegative(),
    }),
    rate_limit: z.object({
      minute: z.object({
        limit: z.int().nonnegative(),
        remaining: z.int().nonnegative(),
        reset: z.int().nonnegative().describe("Unix seconds"),
      }),
      day: z.object({
        limit: z.int().nonnegative(),
        remaining: z.int().nonnegative(),
        reset: z.int().nonnegative().describe("Unix seconds"),
      }),
    }),
  }),
});

const healthOutput = z.object({ status: z.literal("ok") });
const readinessOutput = z.object({
  status: z.literal("ready"),
  database: z.enum(["postgres", "pglite"]),
  checks: z.record(z.string(), z.literal("ok")),
});

/** The schemas of each operation: request body (and whether it is required), response. */
const OPERATIONS: Record<string, { body?: [string, boolean]; response: string }> = {
  listAPIKeys: { response: "KeyList" },
  createAPIKey: { body: ["CreateKeyRequest", true], response: "CreatedKeyResponse" },
  getAPIKey: { response: "KeyDetailResponse" },
  updateAPIKey: { body: ["UpdateKeyRequest", true], response: "KeyDetailResponse" },
  revokeAPIKey: { body: ["RevokeKeyRequest", false], response: "RevokeKeyResponse" },
  getAPIKeyUsage: { response: "KeyUsageResponse" },
  rotateAPIKey: { body: ["RotateKeyRequest", false], response: "RotatedKeyResponse" },
  getAPIKeyAddresses: { response: "KeyAddressesResponse" },
  listCanaryKeys: { response: "CanaryList" },
  createCanaryKey: { body: ["CreateCanaryRequest", true], response: "CreatedCanaryResponse" },
  retireCanaryKey: { response: "RetireCanaryResponse" },
  listCanaryTriggers: { response: "CanaryTriggers" },
  whoami: { response: "WhoamiResponse" },
  getOpenApiDocument: { response: "" },
  getHealth: { response: "Health" },
  getReadiness: { response: "Readiness" },
};

const content = (ref: string) => ({
  "application/json": {
    schema: { $ref: `#/components/schemas/${ref}` },
    example: SCHEMA_EXAMPLES[ref],
  },
});

/** The documented error responses, one per status, each code with its own example. */
function errorResponses(codes: readonly ErrorCode[]) {
  const byStatus = new Map<number, ErrorCode[]>();
  for (const code of new Set(codes)) {
    const status = ERRORS[code][0];
    byStatus.set(status, [...(byStatus.get(status) ?? []), code]);
  }
  return Object.fromEntries(
    [...byStatus]
      .sort(([a], [b]) => a - b)
      .map(([status, list]) => [
        String(status),
        {
          description: list.map((code) => `\`${code}\`: ${ERRORS[code][2]}`).join("\n\n"),
          content: {
            "application/json": {
              schema: { $ref: "#/components/schemas/Error" },
              examples: Object.fromEntries(
                list.map((code) => [code, { value: errorExample(code, ERRORS[code][2]) }]),
              ),
            },
          },
        },
      ]),
  );
}

/** Refusals any route can get before it is reached (request line and headers over 16 KiB). */
const FRAMEWORK_ERRORS: readonly ErrorCode[] = ["request_header_too_large"];

/** Every error an operation can answer: its own, its plane's, and the guard's on writes. */
function operationErrors(route: RouteEntry, method: string): ErrorCode[] {
  const write = method !== "GET";
  const plane =
    route.plane === "management"
      ? [...MANAGEMENT_ERRORS, ...(write ? MANAGEMENT_WRITE_ERRORS : [])]
      : route.plane === "data"
        ? DATA_ERRORS
        : [];
  return [...plane, ...route.errors, ...FRAMEWORK_ERRORS];
}

const DATA_SECURITY = [{ bearerKey: [] }, { apiKeyHeader: [] }, { apiKeyQuery: [] }];

function parameters(route: RouteEntry) {
  const names = [...route.path.matchAll(/:([A-Za-z]+)/g)].map((match) => match[1] ?? "");
  const path = names.map((name) => ({
    name,
    in: "path",
    required: true,
    description:
      name === "keyId"
        ? "API key ID (the UUID from the list). Any other value, of any length, answers 404 key_not_found."
        : name === "id"
          ? "Canary ID (the UUID from the list)"
          : `The ${name} the data service knows it by`,
    schema: { type: "string" },
    example: PARAMETER_EXAMPLES[name],
  }));
  const dataRoute = DATA_ROUTES.find((entry) => entry.id === route.id);
  const query =
    route.id === "getAPIKeyUsage"
      ? [
          {
            name: "days",
            in: "query",
            required: false,
            description: "Lookback window in UTC days, today included (a whole number, 1–90)",
            schema: { type: "integer", minimum: 1, maximum: 90, default: 30 },
            example: PARAMETER_EXAMPLES.days,
          },
        ]
      : dataRoute?.exportScope
        ? [
            {
              name: dataRoute.exportScope.param,
              in: "query",
              required: false,
              description: `Export format; ${dataRoute.exportScope.values.join(" and ")} need the \`${dataRoute.exportScope.scope}\` scope (read case-insensitively after trimming, like an Accept header asking for them)`,
              schema: { type: "string" },
              example: dataRoute.exportScope.values[0],
            },
          ]
        : [];
  return [...path, ...query];
}

function operation(route: RouteEntry, method: string) {
  const doc = route.doc!;
  const spec = OPERATIONS[route.id];
  const success =
    route.plane === "data" && route.id !== "whoami"
      ? {
          description:
            "The data service's answer, passed through. Without an upstream (UPSTREAM_URL) the gateway answers with what it verified (the echo body below).",
          content: content("EchoResponse"),
        }
      : route.handler === "openapi"
        ? {
            description: "This document",
            content: {
              "application/json": {
                schema: { type: "object" },
                example: { openapi: "3.1.0", info: { title: "API keys", version: "1.0.0" } },
              },
            },
          }
        : { description: doc.summary, content: content(spec?.response ?? "") };
  const body = spec?.body;
  return {
    operationId: method === "POST" && route.plane === "data" ? `${route.id}Post` : route.id,
    summary: doc.summary,
    description: doc.description,
    tags: [doc.tag],
    ...(route.plane === "data"
      ? { security: route.taxii ? [...DATA_SECURITY, { taxiiBasic: [] }] : DATA_SECURITY }
      : route.plane === "public"
        ? { security: [] }
        : {}),
    parameters: parameters(route),
    ...(body
      ? {
          requestBody: {
            required: body[1],
            content: content(body[0]),
          },
        }
      : {}),
    responses: {
      [String(route.status)]: success,
      ...errorResponses(operationErrors(route, method)),
    },
  };
}

/** Route table paths (`:keyId`) as OpenAPI paths (`{keyId}`). */
const openApiPath = (path: string) => path.replace(/:([A-Za-z]+)/g, "{$1}");

function paths() {
  const result: Record<string, Record<string, unknown>> = {};
  for (const route of ROUTES) {
    if (route.doc === undefined) continue;
    const item = (result[openApiPath(route.path)] ??= {});
    for (const method of route.methods) item[method.toLowerCase()] = operation(route, method);
  }
  return result;
}

/**
 * The OpenAPI 3.1 document of every documented route: the paths and their errors from the
 * route table, the bodies from the zod schemas the endpoints validate with, so none of the
 * three can drift from the server.
 */
export function buildOpenApiDocument(cookieName: string, publicUrl = "http://localhost:3000") {
  return {
    openapi: "3.1.0",
    info: {
      title: "API keys",
      version: "1.0.0",
      description:
        "Manage the API keys of the signed-in account (cookie session only: a request carrying an API key is refused with 403 api_key_not_allowed; state-changing requests must come from the dashboard's origin and carry application/json), and use a key on the data plane (Bearer, X-API-Key, or api_key in the query; TAXII also takes HTTP Basic). Every error answers in the envelope `{error: {code, message, request_id, details?}}`.",
      contact: { name: "API key service operators", url: `${publicUrl.replace(/\/$/, "")}/` },
      license: { name: "Proprietary", identifier: "LicenseRef-Proprietary" },
    },
    // Relative: the server that serves this document (behind any proxy or port).
    servers: [{ url: "/", description: "The server this document is served from" }],
    tags: [
      { name: "Keys", description: "Your API keys (dashboard session)" },
      { name: "Canaries", description: "Decoy keys that alert on use (dashboard session)" },
      { name: "Data", description: "The data plane, authenticated by an API key" },
      { name: "TAXII", description: "TAXII 2.1, authenticated by an API key or HTTP Basic" },
      { name: "Service", description: "Health, readiness and this document (no authentication)" },
    ],
    security: [{ sessionCookie: [] }],
    paths: paths(),
    webhooks: webhookDefinitions({ request, response }),
    components: {
      securitySchemes: {
        sessionCookie: {
          type: "apiKey",
          in: "cookie",
          name: cookieName,
          description: "Session cookie set by signing in to the dashboard",
        },
        bearerKey: {
          type: "http",
          scheme: "bearer",
          description: "An API key (data plane only): Authorization: Bearer sk_live_…",
        },
        apiKeyHeader: {
          type: "apiKey",
          in: "header",
          name: "X-API-Key",
          description: "An API key (data plane only)",
        },
        apiKeyQuery: {
          type: "apiKey",
          in: "query",
          name: "api_key",
          description: "An API key (data plane only). Discouraged: URLs end up in logs",
        },
        taxiiBasic: {
          type: "http",
          scheme: "basic",
          description: "TAXII routes only: the API key as the password (any user name)",
        },
      },
      schemas: {
        KeyList: response(keyListOutput),
        CreateKeyRequest: request(createKeyInput),
        CreatedKeyResponse: response(createKeyOutput),
        KeyDetailResponse: response(keyDetailOutput),
        // The key id comes from the path; the body carries only the optional reason.
        RevokeKeyRequest: request(revokeKeyInput.omit({ id: true })),
        RevokeKeyResponse: response(revokeKeyOutput),
        KeyUsageResponse: response(keyUsageOutput),
        ...canarySchemas({ request, response }),
        UpdateKeyRequest: request(updateKeyRequest),
        RotateKeyRequest: request(rotateKeyRequest),
        RotatedKeyResponse: response(rotateKeyOutput),
        KeyAddressesResponse: response(keyAddressesOutput),
        WhoamiResponse: response(whoamiOutput),
        EchoResponse: response(echoOutput),
        Health: response(healthOutput),
        Readiness: response(readinessOutput),
        Error: response(errorEnvelope),
      },
    },
  };
}
