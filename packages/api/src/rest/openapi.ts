import { z } from "zod";
import { ERRORS } from "../errors.js";
import {
  createKeyInput,
  createKeyOutput,
  keyDetailOutput,
  keyListOutput,
  keyUsageOutput,
  revokeKeyInput,
  revokeKeyOutput,
} from "../keys/schemas.js";

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
    code: z.enum(Object.keys(ERRORS) as [keyof typeof ERRORS, ...(keyof typeof ERRORS)[]]),
    message: z.string(),
    request_id: z.string().regex(/^req_/),
    details: z.record(z.string(), z.unknown()).optional(),
  }),
});

const json = (ref: string) => ({
  "application/json": { schema: { $ref: `#/components/schemas/${ref}` } },
});

function errors(...codes: (keyof typeof ERRORS)[]) {
  const byStatus = new Map<number, string[]>();
  for (const code of codes) {
    const status = ERRORS[code][0];
    byStatus.set(status, [...(byStatus.get(status) ?? []), code]);
  }
  return Object.fromEntries(
    [...byStatus].map(([status, list]) => [
      String(status),
      { description: list.join(", "), content: json("Error") },
    ]),
  );
}

const common = [
  "not_authenticated",
  "api_key_not_allowed",
  "internal_error",
  "service_unavailable",
] as const;
const mutating = [
  "invalid_origin",
  "unsupported_media_type",
  "payload_too_large",
  "invalid_json",
] as const;

const keyIdParameter = {
  name: "keyId",
  in: "path",
  required: true,
  description: "API key ID (UUID)",
  schema: { type: "string", format: "uuid" },
};

/**
 * The OpenAPI 3.1 document of `/api/v1/keys*`, generated from the zod schemas the endpoints
 * validate with, so the two cannot drift.
 */
export function buildOpenApiDocument(cookieName: string) {
  return {
    openapi: "3.1.0",
    info: {
      title: "API key management",
      version: "1.0.0",
      description:
        "Manage the API keys of the signed-in account. Authenticated by the dashboard's session cookie only: requests carrying an API key are refused (403 api_key_not_allowed). State-changing requests must come from the dashboard's origin (Sec-Fetch-Site: same-origin, or an allowed Origin) and carry application/json.",
    },
    security: [{ sessionCookie: [] }],
    paths: {
      "/api/v1/keys": {
        get: {
          operationId: "listAPIKeys",
          summary: "List your API keys",
          responses: {
            "200": {
              description: "All of the caller's keys, newest first, revoked and expired included.",
              content: json("KeyList"),
            },
            ...errors(...common),
          },
        },
        post: {
          operationId: "createAPIKey",
          summary: "Mint a new API key",
          requestBody: { required: true, content: json("CreateKeyRequest") },
          responses: {
            "201": {
              description:
                "API key created. The secret is in `key` and `full_key`, shown this once.",
              content: json("CreatedKeyResponse"),
            },
            ...errors(
              ...common,
              ...mutating,
              "validation_error",
              "key_limit_reached",
              "too_many_attempts",
            ),
          },
        },
      },
      "/api/v1/keys/{keyId}": {
        get: {
          operationId: "getAPIKey",
          summary: "Get full details for one API key",
          parameters: [keyIdParameter],
          responses: {
            "200": {
              description: "API key details. The secret is never returned.",
              content: json("KeyDetailResponse"),
            },
            ...errors(...common, "key_not_found"),
          },
        },
        delete: {
          operationId: "revokeAPIKey",
          summary: "Revoke an API key",
          parameters: [keyIdParameter],
          requestBody: { required: false, content: json("RevokeKeyRequest") },
          responses: {
            "200": {
              description: "API key revoked. Irreversible.",
              content: json("RevokeKeyResponse"),
            },
            ...errors(
              ...common,
              ...mutating,
              "validation_error",
              "key_not_found",
              "key_already_revoked",
            ),
          },
        },
      },
      "/api/v1/keys/{keyId}/usage": {
        get: {
          operationId: "getAPIKeyUsage",
          summary: "Usage analytics and rate-limit budget for an API key",
          parameters: [
            keyIdParameter,
            {
              name: "days",
              in: "query",
              required: false,
              description: "Lookback window in UTC days, today included",
              schema: { type: "integer", minimum: 1, maximum: 90, default: 30 },
            },
          ],
          responses: {
            "200": {
              description: "Usage statistics for the requested key",
              content: json("KeyUsageResponse"),
            },
            ...errors(...common, "validation_error", "key_not_found"),
          },
        },
      },
    },
    components: {
      securitySchemes: {
        sessionCookie: {
          type: "apiKey",
          in: "cookie",
          name: cookieName,
          description: "Session cookie set by signing in to the dashboard",
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
        Error: response(errorEnvelope),
      },
    },
  };
}
