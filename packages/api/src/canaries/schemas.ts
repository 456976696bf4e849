import { z } from "zod";
import { keyName } from "../keys/schemas.js";

// Control characters other than newline and tab (a note may span lines).
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const UNSAFE_NOTE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/;

/** The zod schemas of canary keys: tRPC validates with them, REST and OpenAPI reuse them. */
export const createCanaryInput = z.strictObject({
  name: keyName,
  note: z
    .string()
    .trim()
    .max(500, "Use at most 500 characters.")
    .refine((note) => !UNSAFE_NOTE.test(note), "Control characters are not allowed.")
    .default("")
    .describe(
      "Where the decoy is planted. Trimmed; at most 500 characters; newlines and tabs allowed, other control characters and bidirectional overrides refused.",
    ),
});
export type CreateCanaryInput = z.infer<typeof createCanaryInput>;

export const canaryIdInput = z.strictObject({ id: z.string().max(100) });

const timestamp = z.iso.datetime().describe("ISO-8601, UTC");

export const canaryListItem = z.object({
  id: z.uuid(),
  name: z.string(),
  note: z.string(),
  key_prefix: z.string(),
  created_at: timestamp,
  retired_at: timestamp.nullable(),
  last_triggered_at: timestamp.nullable(),
  trigger_count: z.int().nonnegative(),
});

export const canaryListOutput = z.object({
  data: z.array(canaryListItem),
  meta: z.object({ total: z.int().nonnegative() }),
});

export const createCanaryOutput = z.object({
  data: z.object({
    id: z.uuid(),
    name: z.string(),
    note: z.string(),
    key_prefix: z.string(),
    created_at: timestamp,
    key: z.string().describe("The decoy itself: shown once, never again"),
    full_key: z.string().describe("Same as `key`"),
  }),
  meta: z.object({ warning: z.string() }),
});

export const canaryTrigger = z.object({
  at: timestamp,
  address: z.string(),
  user_agent: z.string().nullable(),
  method: z.string(),
  path: z.string(),
  credential: z.string().describe("How the key was presented: bearer, x-api-key, query, basic"),
});

export const canaryTriggersOutput = z.object({
  data: z.array(canaryTrigger),
  meta: z.object({ total: z.int().nonnegative(), canary: canaryListItem }),
});

export const retireCanaryOutput = z.object({
  success: z.literal(true),
  message: z.string(),
});
