import { z } from "zod";
import { WEBHOOK_EVENT_TYPES } from "@repo/core";

/** The zod schemas of webhook endpoints and notifications (tRPC; the OpenAPI webhooks reuse the payloads). */
export const webhookEventType = z.enum(WEBHOOK_EVENT_TYPES);

const endpointUrl = z
  .string()
  .trim()
  .max(2000, "Use at most 2000 characters.")
  .refine((value) => {
    try {
      const url = new URL(value);
      return (url.protocol === "https:" || url.protocol === "http:") && url.hostname !== "";
    } catch {
      return false;
    }
  }, "Enter an https:// URL.")
  .refine((value) => {
    const url = new URL(value);
    return url.username === "" && url.password === "";
  }, "Credentials in the URL are not allowed; the signature authenticates each delivery.");

const description = z
  .string()
  .trim()
  .max(200, "Use at most 200 characters.")
  // eslint-disable-next-line no-control-regex -- matching control characters is the point
  .refine((text) => !/[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/.test(text), {
    message: "Control characters are not allowed.",
  });

const events = z
  .array(webhookEventType)
  .min(1, "Choose at least one event.")
  .refine((list) => new Set(list).size === list.length, "Events must not repeat.");

export const createWebhookInput = z.strictObject({
  url: endpointUrl,
  events,
  description: description.optional(),
});
export type CreateWebhookInput = z.infer<typeof createWebhookInput>;

export const updateWebhookInput = z.strictObject({
  id: z.string().max(100),
  url: endpointUrl.optional(),
  events: events.optional(),
  description: description.optional(),
  /** true re-enables a disabled endpoint; false disables it. */
  enabled: z.boolean().optional(),
});
export type UpdateWebhookInput = z.infer<typeof updateWebhookInput>;

export const webhookIdInput = z.strictObject({ id: z.string().max(100) });
export const redeliverInput = z.strictObject({
  id: z.string().max(100),
  delivery_id: z.number().int().positive(),
});

export const markReadInput = z.union([
  z.strictObject({ ids: z.array(z.string().max(100)).min(1).max(100) }),
  z.strictObject({ all: z.literal(true) }),
]);

export const notificationPreferenceInput = z.strictObject({
  type: z.enum([...WEBHOOK_EVENT_TYPES, "webhook.endpoint_disabled"]),
  in_app: z.boolean(),
});
