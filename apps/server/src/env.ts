import { isIP } from "node:net";
import path from "node:path";
import { isCidr } from "@repo/api";
import { KEYS_PER_WRITE, scopeMapSchema } from "@repo/gateway";
import { z } from "zod";
import { resolveDataDir } from "./paths.js";

const boolean = z
  .enum(["true", "false", "1", "0", "yes", "no"])
  .transform((value) => ["true", "1", "yes"].includes(value));

/** What each variable must hold: the start-up failure names the variable and this. */
const EXPECTED: Record<string, string> = {
  NODE_ENV: "development, production or test",
  LOG_LEVEL: "fatal, error, warn, info, debug, trace or silent",
  ACCESS_LOG_SUCCESS_LINES_PER_SECOND: "a whole number from 0, or all",
  HOST: "an IP address or host name to listen on, e.g. 127.0.0.1 or 0.0.0.0",
  PORT: "a port number from 0 to 65535",
  PUBLIC_URL: "the absolute http:// or https:// URL users open, e.g. https://keys.example.com",
  ALLOWED_ORIGINS: "comma-separated origins such as https://admin.example.com (scheme, host, port)",
  DATABASE_URL: "a postgres:// or postgresql:// connection string",
  DATABASE_POOL_SIZE: "a whole number from 1 to 200",
  DATA_DIR: "a directory path",
  SESSION_COOKIE_NAME: "a cookie name of letters, digits, '_', '.' and '-'",
  SESSION_IDLE_DAYS: "a positive number of days",
  SESSION_ABSOLUTE_DAYS: "a positive number of days, at least SESSION_IDLE_DAYS",
  SIGNUP_ENABLED: "true or false",
  TRUST_PROXY:
    "false, or the trusted proxies' addresses or CIDR ranges, comma-separated (e.g. 10.0.0.5,10.1.0.0/16); trusting every address or a hop count is refused: either lets clients choose their own address",
  WEB_DIST_DIR: "a directory path",
  SHUTDOWN_GRACE_SECONDS: "a positive number of seconds",
  REDIS_URL: "a redis:// or rediss:// URL",
  REDIS_KEY_PREFIX: "a key prefix without spaces, e.g. keyservice:rl:",
  UPSTREAM_URL: "an absolute http:// or https:// URL",
  DATA_API_ORIGIN: "an origin (scheme, host, port), e.g. https://data.example.com",
  SCOPE_MAP: "a JSON array of scope rules (see README, Using a key)",
  KEY_CACHE_TTL_SECONDS: "a number of seconds above 0, at most 3600",
  KEY_CACHE_STALE_SECONDS: "a number of seconds from 0 to 86400",
  USAGE_SPILL_DIR: "a directory path",
  USAGE_FLUSH_INTERVAL_MS: "a whole number of milliseconds from 50 to 1000",
  USAGE_COALESCE_ABOVE_KEYS: "a whole number of keys from 0 to 10000000",
  USAGE_ANALYTICS: "true or false",
  FAILED_AUTH_PER_MINUTE: "a whole number above 0",
  WEBHOOK_ALLOWED_CIDRS: "comma-separated CIDR ranges, e.g. 10.0.0.0/8",
};

/** A path: not blank, no control characters. */
const directory = z
  .string()
  // eslint-disable-next-line no-control-regex -- refusing control characters is the point
  .refine((value) => value.trim() !== "" && !/[\u0000-\u001f]/.test(value));

/** An absolute http(s) URL (`localhost:3000` parses as a URL whose scheme is `localhost:`). */
const httpUrl = z.string().refine((value) => {
  try {
    const url = new URL(value);
    return (url.protocol === "http:" || url.protocol === "https:") && url.hostname !== "";
  } catch {
    return false;
  }
});

/** An IP address, or a host name (dotted digits must be a valid IPv4 address). */
const listenHost = z
  .string()
  .refine(
    (value) =>
      isIP(value) !== 0 ||
      (!/^[\d.]+$/.test(value) &&
        /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/.test(
          value,
        )),
  );

/** Comma-separated origins, each exactly `scheme://host[:port]`. */
const origins = z.string().refine((text) =>
  text
    .split(",")
    .map((entry) => entry.trim())
    .filter(Boolean)
    .every((entry) => {
      try {
        const url = new URL(entry);
        return (
          (url.protocol === "http:" || url.protocol === "https:") &&
          url.origin === entry.replace(/\/$/, "").toLowerCase()
        );
      } catch {
        return false;
      }
    }),
);

const schema = z
  .object({
    NODE_ENV: z.enum(["development", "production", "test"]).default("production"),
    LOG_LEVEL: z
      .enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"])
      .default("info"),
    ACCESS_LOG_SUCCESS_LINES_PER_SECOND: z
      .string()
      .regex(/^(all|0|[1-9][0-9]{0,8})$/)
      .default("1000")
      .transform((value) => (value === "all" ? Number.POSITIVE_INFINITY : Number(value))),
    HOST: listenHost.default("127.0.0.1"),
    PORT: z.coerce.number().int().min(0).max(65_535).default(3000),
    PUBLIC_URL: httpUrl.optional(),
    ALLOWED_ORIGINS: origins.default(""),
    DATABASE_URL: z
      .string()
      .regex(/^postgres(ql)?:\/\//, "must be a postgres:// connection string")
      .optional(),
    DATABASE_POOL_SIZE: z.coerce.number().int().min(1).max(200).default(10),
    DATA_DIR: directory.default(".data"),
    SESSION_COOKIE_NAME: z
      .string()
      .regex(/^[A-Za-z0-9_.-]+$/, "letters, digits, '_', '.' and '-' only")
      .default("sb-access-token"),
    SESSION_IDLE_DAYS: z.coerce.number().positive().default(7),
    SESSION_ABSOLUTE_DAYS: z.coerce.number().positive().default(30),
    SIGNUP_ENABLED: boolean.default(true),
    TRUST_PROXY: z
      .string()
      .default("false")
      .transform((value, ctx) => {
        const proxies = parseTrustProxy(value);
        if (proxies === null) {
          // The message is EXPECTED's, like every variable's.
          ctx.addIssue({ code: "custom", message: "invalid" });
          return z.NEVER;
        }
        return proxies;
      }),
    WEB_DIST_DIR: directory.optional(),
    SHUTDOWN_GRACE_SECONDS: z.coerce.number().positive().default(25),
    REDIS_URL: z
      .string()
      .regex(/^rediss?:\/\//, "must be a redis:// or rediss:// URL")
      .optional(),
    REDIS_KEY_PREFIX: z.string().regex(/^\S+$/).default("keyservice:rl:"),
    DATA_API_ORIGIN: z
      .url()
      .regex(/^https?:\/\/[^/]+\/?$/, "must be an origin, e.g. https://data.example.com")
      .optional(),
    UPSTREAM_URL: httpUrl.optional(),
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
    KEY_CACHE_STALE_SECONDS: z.coerce.number().min(0).max(86_400).default(900),
    USAGE_SPILL_DIR: directory.optional(),
    USAGE_FLUSH_INTERVAL_MS: z.coerce.number().int().min(50).max(1_000).default(1_000),
    USAGE_COALESCE_ABOVE_KEYS: z.coerce
      .number()
      .int()
      .min(0)
      .max(10_000_000)
      .default(KEYS_PER_WRITE),
    USAGE_ANALYTICS: boolean.default(true),
    FAILED_AUTH_PER_MINUTE: z.coerce.number().int().positive().default(60),
    WEBHOOK_ALLOWED_CIDRS: z
      .string()
      .default("")
      .transform((text) =>
        text
          .split(",")
          .map((entry) => entry.trim())
          .filter(Boolean),
      )
      .refine((list) => list.every(isCidr), "must be comma-separated CIDR ranges, e.g. 10.0.0.0/8"),
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
 * naming every offending variable and what it must hold (never the value: DATABASE_URL and
 * REDIS_URL may carry passwords), and the process stops before doing anything.
 */
export function loadEnv(source: NodeJS.ProcessEnv = process.env) {
  const parsed = schema.safeParse(
    Object.fromEntries(Object.entries(source).filter(([, value]) => value !== "")),
  );
  if (!parsed.success) {
    const named = new Map<string, string>();
    for (const issue of parsed.error.issues) {
      const name = String(issue.path[0] ?? "(env)");
      named.set(name, `${name} must be ${EXPECTED[name] ?? "valid"}`);
    }
    throw new ConfigError(`Invalid configuration: ${[...named.values()].join("; ")}`);
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
    dataDir: resolveDataDir(env.DATA_DIR),
    /** Where usage that could not be written at shutdown waits for the next start. */
    usageSpillDir: resolveDataDir(env.USAGE_SPILL_DIR ?? path.join(env.DATA_DIR, "usage-spill")),
    /** The proxies whose X-Forwarded-For is believed (none: false). */
    trustProxy: env.TRUST_PROXY.length > 0 ? env.TRUST_PROXY : (false as const),
  };
}

/**
 * DATABASE_URL as given, unvalidated: for naming the database in a start-up failure, which
 * may be the validation itself failing.
 */
export function configuredDatabaseUrl(): string | undefined {
  return process.env.DATABASE_URL;
}

/** DATA_DIR as the server resolves it, for messages when the settings themselves failed. */
export function configuredDataDir(): string {
  return resolveDataDir(process.env.DATA_DIR || ".data");
}

/**
 * `false` (or `0`) | a comma list of proxy addresses/CIDRs; null for anything else. Only
 * addresses: with them the client address is the right-most X-Forwarded-For entry that is
 * not a trusted proxy, so nothing a client writes to the left is believed. `true` and hop
 * counts would believe the client (Fastify's left-most entry, or a guessed depth).
 */
export function parseTrustProxy(value: string): string[] | null {
  const trimmed = value.trim();
  if (trimmed === "false" || trimmed === "0") return [];
  const entries = trimmed
    .split(",")
    .map((entry) => entry.trim())
    .filter(Boolean);
  if (entries.length === 0) return [];
  return entries.every(isProxyAddress) ? entries : null;
}

function isProxyAddress(entry: string): boolean {
  if (entry.includes("/")) return isCidr(entry);
  return isIP(entry) !== 0;
}
