import { isDatabaseUnavailable, type DatabaseHandle } from "@repo/db";
import type { FastifyBaseLogger, FastifyReply } from "fastify";
import { Redis } from "ioredis";
import { RateLimiterMemory } from "rate-limiter-flexible";
import { ApiError } from "../errors.js";
import { KEY_CHANGES_CHANNEL } from "../keys/events.js";
import { hashKey, isWellFormedKey, KEY_LENGTH } from "../keys/format.js";
import type { Extraction } from "./extract.js";
import { safeError } from "./log.js";
import { createKeyCache, isAddressAllowed, type KeyRecord } from "./key-cache.js";
import {
  createMemoryRateLimiter,
  createRedisRateLimiter,
  type Quota,
  type RateLimiter,
} from "./rate-limit.js";
import {
  compileScopeRules,
  DEFAULT_SCOPE_RULES,
  type ScopeResolver,
  type ScopeRule,
} from "./scopes.js";
import { createPostgresUsageSink, createUsageRecorder, type UsageRecorder } from "./usage.js";

export interface GatewayOptions {
  database: DatabaseHandle;
  /** The clock (injectable for tests); the system clock when omitted. */
  now?: () => Date;
  log: FastifyBaseLogger;
  /** How long a key record is trusted without hearing about it (NOTIFY is the fast path). */
  keyCacheTtlMs?: number;
  /** Shared counters for several processes; without it limits are exact per process. */
  redisUrl?: string;
  /** Namespace for the Redis counters (tests use a unique one per run). */
  redisKeyPrefix?: string;
  usageFlushIntervalMs?: number;
  /** false: key totals only, no analytics rollups. */
  usageAnalytics?: boolean;
  scopeRules?: readonly ScopeRule[];
  /** Failed key authentications allowed per client address per minute before 429s. */
  failedAuthPerMinute?: number;
}

export type Verification =
  | { ok: true; key: KeyRecord; quota: Quota }
  | {
      ok: false;
      error: ApiError;
      /** The key the request is attributed to (known key, any state), for usage counting. */
      key?: KeyRecord;
      /** Quota state to report (authenticated keys only: never on a 401). */
      quota?: Quota;
    };

export interface VerifyInput {
  credential: Extraction;
  /** The client address (the socket's, or what a trusted proxy says). */
  clientIp: string;
  /** The scope the route needs. */
  scope: string;
  /** The request's time (epoch ms); the gateway's clock when omitted. */
  nowMs?: number;
  /** What the request takes from the quota, in requests (1 unless the route weighs more). */
  cost?: number;
}

const RETRY_AFTER_UNAVAILABLE = "5";

/**
 * The data plane's state: key cache (kept fresh by NOTIFY, subscribed here), rate limiter,
 * failed-auth limiter and usage recorder. `close` flushes usage and must run before the
 * database closes.
 */
export async function createGateway(options: GatewayOptions) {
  const injectedNow = options.now;
  // The real clock as a number: the hot path reads it without allocating a Date.
  const nowMs = injectedNow ? () => injectedNow().getTime() : Date.now;
  const keys = createKeyCache({
    db: options.database.db,
    ttlMs: options.keyCacheTtlMs ?? 60_000,
    now: nowMs,
  });
  const limiter: RateLimiter = options.redisUrl
    ? createRedisRateLimiter(
        connectRedis(options.redisUrl, options.log),
        options.redisKeyPrefix ?? "keyservice:rl:",
      )
    : createMemoryRateLimiter();
  const failedAuthLimit = options.failedAuthPerMinute ?? 60;
  const failedAuth = new RateLimiterMemory({
    points: failedAuthLimit,
    duration: 60,
    keyPrefix: "gateway_failed_auth",
  });
  const usage: UsageRecorder = createUsageRecorder({
    sink: createPostgresUsageSink(options.database.db),
    flushIntervalMs: options.usageFlushIntervalMs ?? 1_000,
    analytics: options.usageAnalytics ?? true,
    now: nowMs,
    log: options.log,
  });
  const resolveScope: ScopeResolver = compileScopeRules(options.scopeRules ?? DEFAULT_SCOPE_RULES);

  // Other processes' revocations and downgrades; a lost listener connection may have
  // missed some, so everything cached is dropped when it comes back.
  const subscription = await options.database.listen(
    KEY_CHANGES_CHANNEL,
    (hash) => keys.invalidate([hash]),
    () => {
      options.log.warn("key-change listener reconnected: key cache cleared");
      keys.clear();
    },
  );

  let closing: Promise<void> | undefined;
  return {
    keys,
    limiter,
    failedAuth,
    failedAuthLimit,
    usage,
    resolveScope,
    nowMs,
    log: options.log,
    /** Wire to `ApiDeps.onKeysChanged`: the very next request in this process sees the change. */
    keysChanged(hashes: readonly string[]) {
      keys.invalidate(hashes);
    },
    /** Idempotent: the server calls it before closing the database, Fastify again on close. */
    close() {
      closing ??= (async () => {
        await subscription.unlisten().catch(() => {});
        await usage.close();
        await limiter.close();
      })();
      return closing;
    },
  };
}

export type Gateway = Awaited<ReturnType<typeof createGateway>>;

/**
 * A Redis client that fails fast: while Redis is unreachable a data request gets 503 within
 * a second instead of queueing (limits are never skipped), and reconnection is automatic.
 */
function connectRedis(url: string, log: FastifyBaseLogger): Redis {
  const redis = new Redis(url, {
    maxRetriesPerRequest: 1,
    commandTimeout: 1_000,
    connectTimeout: 2_000,
    enableOfflineQueue: true,
  });
  let reported = false;
  redis.on("error", (error: Error & { code?: string }) => {
    if (!reported) log.warn({ error: { type: error.name, code: error.code } }, "redis error");
    reported = true;
  });
  redis.on("ready", () => (reported = false));
  return redis;
}

function refuse(code: "invalid_api_key" | "expired_api_key", key?: KeyRecord): Verification {
  return { ok: false, error: new ApiError(code), ...(key ? { key } : {}) };
}

/** No verification was possible (database or Redis): never an answer but this, with Retry-After. */
function unavailable(
  key?: KeyRecord,
  code: "service_unavailable" | "internal_error" = "service_unavailable",
): Verification {
  return {
    ok: false,
    ...(key ? { key } : {}),
    error: new ApiError(code, { headers: { "retry-after": RETRY_AFTER_UNAVAILABLE } }),
  };
}

async function isAddressBlocked(gateway: Gateway, ip: string): Promise<ApiError | null> {
  const state = await gateway.failedAuth.get(ip);
  if (!state || state.consumedPoints < gateway.failedAuthLimit) return null;
  const retryAfter = Math.max(1, Math.ceil(state.msBeforeNext / 1000));
  return new ApiError("rate_limit_exceeded", { headers: { "retry-after": String(retryAfter) } });
}

function countFailure(gateway: Gateway, ip: string) {
  // Over the limit it rejects: that is the point, nothing to handle.
  gateway.failedAuth.consume(ip).catch(() => {});
}

/**
 * Verifies a presented credential for a route needing `scope`, and takes one unit of the
 * key's quota when everything passes. In order: presence, format and checksum (no I/O),
 * SHA-256, cache (a miss costs one indexed query), revoked, expired, client address, scope,
 * rate limit. Never answers ok without a key record read from the database (or the cache of
 * one). Usage is not recorded here: the caller records it once the response status is known.
 *
 * The answer is synchronous when everything it needs is in memory (a cached key and the
 * in-process limiter: the hot path, which then allocates no promise), and a promise when it
 * has to wait for the database or Redis; `await` takes either.
 */
export function verifyApiKey(
  gateway: Gateway,
  input: VerifyInput,
): Verification | Promise<Verification> {
  const { credential } = input;
  if (credential.kind === "none") {
    return {
      ok: false,
      error: new ApiError("missing_api_key", { headers: { "www-authenticate": "Bearer" } }),
    };
  }
  if (credential.kind === "ambiguous") {
    return { ok: false, error: new ApiError("ambiguous_credentials") };
  }
  const nowMs = input.nowMs ?? gateway.nowMs();
  const presented = credential.key;
  // The length first, so nothing long is ever hashed. The full format check (alphabet,
  // checksum) guards the database, so it runs before a lookup: on a cache hit the SHA-256
  // matched one a well-formed key had when it was looked up, which already proves it.
  if (presented.length !== KEY_LENGTH) return refuseGuess(gateway, input.clientIp);
  const hash = hashKey(presented);
  const cached = gateway.keys.peek(hash, nowMs);
  if (cached !== undefined) return checkKey(gateway, cached, input, nowMs);
  if (!isWellFormedKey(presented)) return refuseGuess(gateway, input.clientIp);
  return loadAndCheck(gateway, input, hash, nowMs);
}

/** A malformed key: refused without I/O (but an address flooding guesses gets 429 first). */
async function refuseGuess(gateway: Gateway, clientIp: string): Promise<Verification> {
  const blocked = await isAddressBlocked(gateway, clientIp);
  if (blocked) return { ok: false, error: blocked };
  countFailure(gateway, clientIp);
  return refuse("invalid_api_key");
}

async function loadAndCheck(
  gateway: Gateway,
  input: VerifyInput,
  hash: string,
  nowMs: number,
): Promise<Verification> {
  // Only guesses and cache misses wait on this: a flood of unknown keys from one address is
  // stopped before it reaches the database, and cached real keys never do.
  const blocked = await isAddressBlocked(gateway, input.clientIp);
  if (blocked) return { ok: false, error: blocked };
  let key: KeyRecord | null;
  try {
    key = await gateway.keys.load(hash);
  } catch (error) {
    // Fail closed: no verification, so no answer but 503 (500 if it was no outage).
    gateway.log.warn({ error: safeError(error) }, "key lookup failed");
    return unavailable(
      undefined,
      isDatabaseUnavailable(error) ? "service_unavailable" : "internal_error",
    );
  }
  return checkKey(gateway, key, input, nowMs);
}

/** The state checks and the rate limit for a key record (null: no such key). */
function checkKey(
  gateway: Gateway,
  key: KeyRecord | null,
  input: VerifyInput,
  nowMs: number,
): Verification | Promise<Verification> {
  // Unknown and revoked keys get the same answer: nothing tells them apart.
  if (key === null) {
    countFailure(gateway, input.clientIp);
    return refuse("invalid_api_key");
  }
  if (key.revoked) {
    countFailure(gateway, input.clientIp);
    return refuse("invalid_api_key", key);
  }
  if (key.expiresAtMs !== null && key.expiresAtMs <= nowMs) {
    countFailure(gateway, input.clientIp);
    return refuse("expired_api_key", key);
  }

  let denial: ApiError | null = null;
  if (key.allowedRanges && !isAddressAllowed(input.clientIp, key.allowedRanges)) {
    denial = new ApiError("ip_not_allowed");
  } else if (!key.scopes.has(input.scope)) {
    denial = new ApiError("insufficient_scope", { details: { required_scope: input.scope } });
  }

  let taken: Quota | Promise<Quota>;
  try {
    // A refused request only reads the counters: it consumes nothing.
    taken = gateway.limiter.take(key.id, key.limits, nowMs, denial === null, input.cost);
  } catch (error) {
    return limiterFailed(gateway, key, error);
  }
  if (taken instanceof Promise) {
    return taken.then(
      (quota) => decide(key, denial, quota),
      (error: unknown) => limiterFailed(gateway, key, error),
    );
  }
  return decide(key, denial, taken);
}

function limiterFailed(gateway: Gateway, key: KeyRecord, error: unknown): Verification {
  gateway.log.warn({ error: safeError(error) }, "rate limiter unavailable");
  return unavailable(key);
}

function decide(key: KeyRecord, denial: ApiError | null, quota: Quota): Verification {
  if (denial) return { ok: false, error: denial, key, quota };
  if (!quota.allowed) {
    return {
      ok: false,
      key,
      quota,
      error: new ApiError("rate_limit_exceeded", {
        headers: { "retry-after": String(quota.retryAfter) },
        details: { policy: quota.window, retry_after: quota.retryAfter },
      }),
    };
  }
  return { ok: true, key, quota };
}

/** The documented X-RateLimit-* headers for a quota (Reset in Unix seconds). */
export function setQuotaHeaders(reply: FastifyReply, quota: Quota) {
  void reply
    .header("x-ratelimit-limit", quota.limit)
    .header("x-ratelimit-remaining", quota.remaining)
    .header("x-ratelimit-reset", quota.reset);
}
