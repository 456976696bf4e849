import { z } from "zod";
import {
  canaryListOutput,
  canaryTriggersOutput,
  createCanaryInput,
  createCanaryOutput,
  retireCanaryOutput,
} from "../canaries/schemas.js";
import { EVENT_PAYLOADS } from "../webhooks/event-payloads.js";

type JsonSchema = Record<string, unknown>;
type Helpers = {
  request: (schema: z.ZodType) => JsonSchema;
  response: (schema: z.ZodType) => JsonSchema;
};

/** The canary routes' component schemas (their paths come from the route table). */
export function canarySchemas(h: Helpers) {
  return {
    CanaryList: h.response(canaryListOutput),
    CreateCanaryRequest: h.request(createCanaryInput),
    CreatedCanaryResponse: h.response(createCanaryOutput),
    RetireCanaryResponse: h.response(retireCanaryOutput),
    CanaryTriggers: h.response(canaryTriggersOutput),
  };
}

const signatureHeaders = [
  {
    name: "webhook-id",
    in: "header",
    required: true,
    schema: { type: "string", pattern: "^msg_" },
    description: "Stable across retries: deduplicate on it",
  },
  {
    name: "webhook-timestamp",
    in: "header",
    required: true,
    schema: { type: "string" },
    description: "Unix seconds of this attempt",
  },
  {
    name: "webhook-signature",
    in: "header",
    required: true,
    schema: { type: "string" },
    description:
      'Space-separated `v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`; two during the 24 h after a secret rotation',
  },
];

/** The OpenAPI `webhooks` section: one entry per event type (Standard Webhooks v1 bodies). */
export function webhookDefinitions(h: Helpers) {
  return Object.fromEntries(
    Object.entries(EVENT_PAYLOADS).map(([type, data]) => [
      type,
      {
        post: {
          operationId: `on${type
            .split(/[._]/)
            .map((word) => word.charAt(0).toUpperCase() + word.slice(1))
            .join("")}`,
          summary: `${type} event`,
          description:
            "Signed per Standard Webhooks v1. Answer 2xx within 10 s; otherwise it is retried with exponential backoff for 3 days. 410 disables the endpoint.",
          parameters: signatureHeaders,
          requestBody: {
            required: true,
            content: {
              "application/json": {
                schema: h.response(
                  z.object({
                    type: z.literal(type),
                    timestamp: z.iso.datetime(),
                    data: data as z.ZodType,
                  }),
                ),
              },
            },
          },
          responses: { "2XX": { description: "Received" } },
        },
      },
    ]),
  );
}
