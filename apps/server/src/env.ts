import path from "node:path";
import { scopeMapSchema } from "@repo/api";
import { z } from "zod";

const boolean = z
  .enum(["true", "false", "1", "0", "yes", "no"])
  .transform((value) => ["true", "1", "yes"].includes(value));

const schema = z
  .object({
    NODE_ENV: z.enum(["development", "production", "test"]).default("production"),
    LOG_LEVEL: z
      .enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"])
      .default("info"),
    HOST: z.string().min(1).default("127.0.0.1"),
    PORT: z.coerce.number().int().min(0).max(65_535).default(3000),
    PUBLIC_URL: z.url().optional(),
    ALLOWED_ORIGINS: z.string().default(""),
    DATABASE_URL: z
      .string()
      .regex(/^postgres(ql)?:\/\//, "must be a postgres:// connection string")
      .optional(),
    DATABASE_POOL_SIZE: z.coerce.number().int().min(1).max(200).default(10),
    DATA_DIR: z.string().min(1).default(".data"),
    SESSION_COOKIE_NAME: z
      .string()
      .regex(/^[A-Za-z0-9_.-]+$/, "letters, digits, '_', '.' and '-' only")
      .default("sb-access-token"),
    SESSION_IDLE_DAYS: z.coerce.number().positive().default(7),
    SESSION_ABSOLUTE_DAYS: z.coerce.number().positive().default(30),
    SIGNUP_ENABLED: boolean.default(true),
    TRUST_PROXY: z.string().default("false"),
    WEB_DIST_DIR: z.string().optional(),
    SHUTDOWN_GRACE_SECONDS: z.coerce.number().positive().default(25),
    REDIS_URL: z
      .string()
      .regex(/^rediss?:\/\//, "must be a redis:// or rediss:// URL")
      .optional(),
    REDIS_KEY_PREFIX: z.string().min(1).default("keyservice:rl:"),
    UPSTREAM_URL: z
      .url()
      .regex(/^https?:\/\//, "must be an http:// or https:// URL")
      .optional(),
    SCOPE_MAP: z
      .string()
      .transform((text, ctx) => {
        try {
          return JSON.parse(text) as unknown;
        } catch {
          ctx.addIssue({ code: "custom", message: "must be a JSON array of scope rules" });
          return z.NEVER;
        }
      })
      .pipe(scopeMapSchema)
      .optional(),
    KEY_CACHE_TTL_SECONDS: z.coerce.number().positive().max(3_600).default(60),
    USAGE_FLUSH_INTERVAL_MS: z.coerce.number().int().min(50).max(1_000).default(1_000),
    USAGE_ANALYTICS: boolean.default(true),
    FAILED_AUTH_PER_MINUTE: z.coerce.number().int().positive().default(60),
  })
  .refine((env) => env.SESSION_ABSOLUTE_DAYS >= env.SESSION_IDLE_DAYS, {
    message: "must be at least SESSION_IDLE_DAYS",
    path: ["SESSION_ABSOLUTE_DAYS"],
  });

export type Env = ReturnType<typeof loadEnv>;

/** A configuration mistake: its message is written for the operator and safe to print. */
export class ConfigError extends Error {
  override name = "ConfigError";
}

/**
 * Reads and validates the configuration once. On a bad value it throws one readable message
 * naming every offending variable, and the process stops before doing anything.
 */
export function loadEnv(source: NodeJS.ProcessEnv = process.env) {
  const parsed = schema.safeParse(
    Object.fromEntries(Object.entries(source).filter(([, value]) => value !== "")),
  );
  if (!parsed.success) {
    const lines = parsed.error.issues.map(
      (issue) => `  ${issue.path.join(".") || "(env)"}: ${issue.message}`,
    );
    throw new ConfigError(`Invalid configuration:\n${lines.join("\n")}`);
  }
  const env = parsed.data;
  const publicUrl = new URL(env.PUBLIC_URL ?? `http://localhost:${env.PORT}`);
  return {
    ...env,
    publicUrl,
    /** Cookies get `Secure` whenever the service is reached over https. */
    secureCookies: publicUrl.protocol === "https:",
    allowedOrigins: [
      publicUrl.origin,
      ...env.ALLOWED_ORIGINS.split(",")
        .map((origin) => origin.trim())
        .filter(Boolean),
    ],
    dataDir: path.resolve(env.DATA_DIR),
    trustProxy: parseTrustProxy(env.TRUST_PROXY),
  };
}

/** `false` | `true` | a hop count | a comma list of proxy addresses/CIDRs (Fastify's forms). */
function parseTrustProxy(value: string): boolean | number | string[] {
  if (value === "false" || value === "0") return false;
  if (value === "true") return true;
  if (/^\d+$/.test(value)) return Number(value);
  return value
    .split(",")
    .map((entry) => entry.trim())
    .filter(Boolean);
}
