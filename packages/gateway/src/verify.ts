import { randomBytes } from "node:crypto";
import { isDatabaseUnavailable, type DatabaseHandle } from "@repo/db";
import type { FastifyBaseLogger, FastifyReply } from "fastify";
import { Redis } from "ioredis";
import type { ApiError } from "@repo/core";
import { CANARY_CHANGES_CHANNEL, KEY_CHANGES_CHANNEL } from "@repo/core";
import { createNotifyBarrier } from "./notify-barrier.js";
import { hashKey, isWellFormedKey, KEY_LENGTH } from "@repo/core";
import type { Extraction } from "./extract-credential.js";
import { safeError } from "@repo/core";
import { createCanaryRegistry, type CanaryRecord } from "./canary-registry.js";
import { createDataPlaneAlerts } from "./data-plane-alerts.js";
import { createKeyCache, isAddressAllowed, type KeyRecord } from "./key-cache.js";
import {
  createMemoryRateLimiter,
  createRedisRateLimiter,
  type Quota,
  type RateLimiter,
} from "./rate-limit.js";
import { compileScopeRules, DEFAULT_SCOPE_RULES, type ScopeRule } from "./scopes.js";
import { createFailedAuthLimiter } from "./failed-auth-limiter.js";
import {
  AMBIGUOUS_CREDENTIALS,
  EXPIRED_API_KEY,
  INVALID_API_KEY,
  insufficientScope,
  IP_NOT_ALLOWED,
  MISSING_API_KEY,
  rateLimitExceeded,
  refusal,
  tooManyFailedAttempts,
} from "./refusals.js";
import { createKeyFilter } from "./key-filter.js";
import { createAddressRecorder } from "./address-recorder.js";
import { createPostgresUsageSink, createUsageRecorder, type UsageRecorder } from "./usage-meter.js";
import { replaySpilledUsage, spillUsage } from "./usage-spill.js";

export interface GatewayOptions {
  database: DatabaseHandle;
  /** The clock (injectable for tests); the system clock when omitted. */
  now?: () => Date;
  log: FastifyBaseLogger;
  /** How long a key record is trusted without hearing about it (NOTIFY is the fast path). */
  keyCacheTtlMs?: number;
  /** How long a cached key record may be served past its TTL while the database is down. */
  keyCacheMaxStaleMs?: number;
  /** Shared counters for several processes; without it limits are exact per process. */
  redisUrl?: string;
  /** Namespace for the Redis counters (tests use a unique one per run). */
  redisKeyPrefix?: string;
  usageFlushIntervalMs?: number;
  /** Keys waiting beyond which each key's usage is written once a minute (`coalesceAboveKeys`). */
  usageCoalesceAboveKeys?: number;
  /**
   * Directory for usage that cannot be written at shutdown (replayed from it at start).
   * Unset: such counts are logged as lost.
   */
  usageSpillDir?: string;
  /** How long `close` keeps retrying the usage write before spilling (default 5 s). */
  usageCloseDeadlineMs?: number;
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
      /** The key was an armed canary (answered exactly as an unknown key; the caller alerts). */
      canary?: CanaryRecord;
    };

export interface VerifyInput {
  credential: Extraction;
  /** The client address (the socket's, or what a trusted proxy says). */
  clientIp: string;
  /** The scope the route needs; null: none (whoami). */
  scope: string | null;
  /** The request's time (epoch ms); the gateway's clock when omitted. */
  nowMs?: number;
  /**
   * What the request takes from the quota, in requests (1 unless the route weighs more; 0:
   * it only reads the quota, as whoami does).
   */
  cost?: number;
}

const RETRY_AFTER_UNAVAILABLE = "5";

const KEY_SWEEP_INTERVAL_MS = 60_000;
/**
 * Entries a sweep removes per turn of the event loop; requests wait while a slice runs. With
 * 100,000 records cached a removal costs 3–6.5 µs, not the 0.8 µs once measured here: the
 * `scale` bench's longest slice was 15–33 ms with 5,000 a slice, and 10.9–11.4 ms with 1,000
 * (runs Q and R).
 */
export const KEY_SWEEP_SLICE = 1_000;

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
    db: options.database.dataPlaneDb,
    ttlMs: options.keyCacheTtlMs ?? 60_000,
    maxStaleMs: options.keyCacheMaxStaleMs ?? 15 * 60_000,
    now: nowMs,
  });
  let limiter: RateLimiter;
  let redis: Redis | undefined;
  if (options.redisUrl) {
    redis = connectRedis(options.redisUrl, options.log);
    limiter = createRedisRateLimiter(redis, options.redisKeyPrefix ?? "keyservice:rl:", (error) =>
      options.log.warn({ error: safeError(error) }, "rate-limit windows not restored"),
    );
    // Commands are not queued, so the first requests need a connection: wait briefly for one
    // (an unreachable Redis does not stop the start; /readyz reports it, requests get 503).
    await limiter.ready(2_000);
  } else limiter = createMemoryRateLimiter();
  const failedAuthLimit = options.failedAuthPerMinute ?? 60;
  const failedAuth = createFailedAuthLimiter({
    perMinute: failedAuthLimit,
    redis,
    now: nowMs,
    keyPrefix: options.redisKeyPrefix,
  });
  const sink = createPostgresUsageSink(options.database.usageDb);
  const spillDir = options.usageSpillDir;
  if (spillDir) {
    const replayed = await replaySpilledUsage(spillDir, sink);
    if (replayed.files > 0) {
      options.log.info(
        { files: replayed.files, requests: replayed.requests },
        "usage spilled at an earlier shutdown written to the database",
      );
    }
    if (replayed.kept.length > 0) {
      options.log.warn({ files: replayed.kept }, "spilled usage not replayed: kept for next start");
    }
  }
  const usage: UsageRecorder = createUsageRecorder({
    sink,
    spill: spillDir ? (buffer) => spillUsage(spillDir, buffer) : undefined,
    flushIntervalMs: options.usageFlushIntervalMs ?? 1_000,
    coalesceAboveKeys: options.usageCoalesceAboveKeys,
    analytics: options.usageAnalytics ?? true,
    now: nowMs,
    log: options.log,
    alertsDb: options.database.db,
    addresses: createAddressRecorder({ db: options.database.db, log: options.log }),
  });
  const routeScopes = compileScopeRules(options.scopeRules ?? DEFAULT_SCOPE_RULES);
  const canaries = createCanaryRegistry(options.database.db, options.log);
  await canaries.reload();
  const canarySubscription = await options.database.listen(
    CANARY_CHANGES_CHANNEL,
    () => void canaries.reload(),
    () => void canaries.reload(),
  );

  // Other processes' revocations and downgrades; a lost listener connection may have
  // missed some, so everything cached is dropped when it comes back.
  // The same channel carries new keys' hashes (an insert trigger): they join the filter.
  // Subscribed before the filter is loaded, so a key created meanwhile is not missed.
  // Read through the main pool: a large table takes longer than the data plane's 1.5 s
  // statement budget, which is sized for single-key lookups.
  const keyFilter = createKeyFilter(options.database.db, (error) =>
    options.log.warn({ error: safeError(error) }, "key filter not reloaded"),
  );
  // "Heard everything committed so far?" for a key-filter miss (see notify-barrier.ts): on
  // this process's own channel, so no other process receives its round trips, and on the
  // same listening connection as the key changes, so Postgres delivers both in commit order.
  const syncChannel = `${KEY_CHANGES_CHANNEL}_sync_${randomBytes(8).toString("hex")}`;
  const keyFilterSync = createNotifyBarrier({
    send: (token) => options.database.notify(syncChannel, token),
  });
  const subscription = await options.database.listen(
    KEY_CHANGES_CHANNEL,
    (hash) => {
      keyFilter.add(hash);
      keys.invalidate([hash]);
    },
    () => {
      options.log.warn("key-change listener reconnected: key cache cleared");
      keys.clear();
      void keyFilter.reload().catch(() => {});
    },
  );
  const syncSubscription = await options.database.listen(syncChannel, (token) =>
    keyFilterSync.received(token),
  );
  await keyFilter.reload();

  // Once a minute, records no longer of use leave memory (see sweep): the stale window is
  // minutes long, so a finer schedule would free nothing sooner that matters. In slices, one
  // per turn of the event loop, so requests are served between them.
  const sweepSlice = () => {
    if (keys.sweep(nowMs(), KEY_SWEEP_SLICE) >= KEY_SWEEP_SLICE) setImmediate(sweepSlice);
  };
  const keySweeper = setInterval(sweepSlice, KEY_SWEEP_INTERVAL_MS);
  keySweeper.unref();
  let closing: Promise<number> | undefined;
  return {
    keys,
    limiter,
    failedAuth,
    failedAuthLimit,
    usage,
    canaries,
    alerts: createDataPlaneAlerts(usage),
    routeScopes,
    keyFilter,
    keyFilterSync,
    /** Key lookups sent to the database (first lookups of hashes the filter may contain). */
    lookups: 0,
    nowMs,
    log: options.log,
    /** Wire to `ApiDeps.onKeysChanged`: the very next request in this process sees the change. */
    keysChanged(hashes: readonly string[]) {
      for (const hash of hashes) keyFilter.add(hash);
      keys.invalidate(hashes);
    },
    /** Whether Redis (when configured) answers: for readiness. */
    limiterReady: () => limiter.ready(),
    /** Last resort when shutdown overran its grace period: spills what is still buffered. */
    spillPendingUsage: () => usage.spillPending(),
    /**
     * Idempotent: the server calls it before closing the database, Fastify again on close.
     * Resolves to the number of requests whose usage was lost (neither written nor spilled).
     */
    close() {
      closing ??= (async () => {
        clearInterval(keySweeper);
        await subscription.unlisten().catch(() => {});
        await syncSubscription.unlisten().catch(() => {});
        await canarySubscription.unlisten().catch(() => {});
        const lost = await usage.close(options.usageCloseDeadlineMs);
        await limiter.close();
        return lost;
      })();
      return closing;
    },
  };
}

export type Gateway = Awaited<ReturnType<typeof createGateway>>;

/**
 * A Redis client that fails fast: while Redis is unreachable a data request gets 503 at once
 * instead of queueing (limits are never skipped), and reconnection is automatic.
 */
function connectRedis(url: string, log: FastifyBaseLogger): Redis {
  const redis = new Redis(url, {
    // A command is sent while connected or fails at once: nothing is queued during an outage
    // or re-sent after a reconnect, so a request answered 503 never takes quota later.
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    commandTimeout: 1_000,
    connectTimeout: 1_000,
    // Reconnect quickly (a Redis restart is seconds): 50 ms, growing to 500 ms.
    retryStrategy: (attempt) => Math.min(attempt * 50, 500),
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
  const error = code === "expired_api_key" ? EXPIRED_API_KEY : INVALID_API_KEY;
  return { ok: false, error, ...(key ? { key } : {}) };
}

/** No verification was possible (database or Redis): never an answer but this, with Retry-After. */
function unavailable(
  key?: KeyRecord,
  code: "service_unavailable" | "internal_error" = "service_unavailable",
): Verification {
  return {
    ok: false,
    ...(key ? { key } : {}),
    error: refusal(code, { headers: { "retry-after": RETRY_AFTER_UNAVAILABLE } }),
  };
}

/** Failed authentications from this address are over the limit: not the key's request limit. */
function tooManyFailures(retryAfter: number): Verification {
  return {
    ok: false,
    error: tooManyFailedAttempts(retryAfter),
  };
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
    return { ok: false, error: MISSING_API_KEY };
  }
  if (credential.kind === "ambiguous") {
    return { ok: false, error: AMBIGUOUS_CREDENTIALS };
  }
  const nowMs = input.nowMs ?? gateway.nowMs();
  const presented = credential.key;
  // The length first, so nothing long is ever hashed. The full format check (alphabet,
  // checksum) guards the database, so it runs before a lookup: on a cache hit the SHA-256
  // matched one a well-formed key had when it was looked up, which already proves it.
  if (presented.length !== KEY_LENGTH) return refuseGuess(gateway, input.clientIp);
  const hash = hashKey(presented);
  const cached = gateway.keys.peek(hash, nowMs);
  // Known to match no key: counted and answered as any guess is (a canary is found there).
  if (cached === null) return refuseGuess(gateway, input.clientIp, hash);
  if (cached !== undefined) return checkKey(gateway, cached, input, nowMs, hash);
  if (!isWellFormedKey(presented)) return refuseGuess(gateway, input.clientIp);
  // A hash no key has (a forged key with a valid checksum): refused without a key lookup. A
  // canary is not a key, so it is looked for here too, in memory.
  if (!gateway.keyFilter.mightExist(hash)) return refuseUnlessJustCreated(gateway, input, hash);
  return loadAndCheck(gateway, input, hash, nowMs);
}

/**
 * The filter has not heard of this hash. It may be a key another process minted a moment ago
 * whose insert notification is still on the way: wait until this process has heard everything
 * committed so far (one shared round trip, see notify-barrier.ts), then decide. Canaries and
 * addresses already flooding are answered at once. When the round trip fails (the database
 * is down or too slow) the key could not be checked: 503 with Retry-After, as for any key
 * that needs the database then, rather than a 401 that would tell the owner of a key minted
 * just before an outage that it is invalid.
 */
async function refuseUnlessJustCreated(
  gateway: Gateway,
  input: VerifyInput,
  hash: string,
): Promise<Verification> {
  if (!gateway.canaries.get(hash) && !gateway.failedAuth.blockedLocally(input.clientIp)) {
    if (!(await gateway.keyFilterSync.sync())) return unavailable();
    if (gateway.keyFilter.mightExist(hash)) {
      const nowMs = input.nowMs ?? gateway.nowMs();
      return loadAndCheck(gateway, input, hash, nowMs);
    }
    // Heard everything committed up to now, and no key has it: the same key presented again
    // (a client retrying a mistyped or deleted key) is refused from memory, without another
    // round trip. A key inserted later drops the entry when its NOTIFY arrives (see
    // createGateway's listener), in the same turn as the filter learns it.
    gateway.keys.rememberUnknown(hash);
  }
  return refuseGuess(gateway, input.clientIp, hash);
}

/**
 * A key that cannot exist (malformed, or a hash no key has): refused without any I/O (its
 * failure is counted in this process: it never reaches the database the shared count guards);
 * a flooding address gets 429 too_many_attempts.
 */
function refuseGuess(gateway: Gateway, clientIp: string, hash?: string): Verification {
  const canary = hash === undefined ? undefined : gateway.canaries.get(hash);
  const { blocked, retryAfter } = gateway.failedAuth.takeLocal(clientIp);
  if (canary) return { ok: false, error: INVALID_API_KEY, canary };
  if (blocked) return tooManyFailures(retryAfter);
  return refuse("invalid_api_key");
}

async function loadAndCheck(
  gateway: Gateway,
  input: VerifyInput,
  hash: string,
  nowMs: number,
): Promise<Verification> {
  // The point is taken before the lookup (atomically: concurrent requests cannot all slip
  // under the limit) and given back if the key verifies. A blocked address is still looked
  // up: only hashes the filter holds get here, and a key that verifies must be served.
  const { blocked, retryAfter } = await gateway.failedAuth.take(input.clientIp);
  let key: KeyRecord | null;
  try {
    gateway.lookups++;
    key = await gateway.keys.load(hash);
  } catch (error) {
    const outage = isDatabaseUnavailable(error);
    // Stale-if-error: a key read from the database a little earlier keeps working.
    const stale = outage ? gateway.keys.stale(hash, nowMs) : undefined;
    if (stale) return verified(gateway, input, checkKey(gateway, stale, input, nowMs, hash));
    // Fail closed: no verification, so no answer but 503 (500 if it was no outage).
    gateway.log.warn({ error: safeError(error) }, "key lookup failed");
    return unavailable(undefined, outage ? "service_unavailable" : "internal_error");
  }
  const usable = key !== null && !key.revoked && (key.expiresAtMs ?? Infinity) > nowMs;
  if (!usable && blocked) return tooManyFailures(retryAfter);
  return verified(gateway, input, checkKey(gateway, key, input, nowMs, hash));
}

/** A key that was looked up and is usable gives the failure point back. */
async function verified(
  gateway: Gateway,
  input: VerifyInput,
  result: Verification | Promise<Verification>,
): Promise<Verification> {
  const settled = await result;
  if (settled.key && (settled.ok || settled.error.status !== 401)) {
    gateway.failedAuth.refund(input.clientIp);
  }
  return settled;
}

/** The state checks and the rate limit for a key record (null: no such key). */
function checkKey(
  gateway: Gateway,
  key: KeyRecord | null,
  input: VerifyInput,
  nowMs: number,
  hash: string,
): Verification | Promise<Verification> {
  // Unknown, revoked and canary keys get the same answer: nothing tells them apart. A canary
  // is only looked for here, once the key proved unknown by the same path as any other.
  if (key === null) {
    const canary = gateway.canaries.get(hash);
    if (canary) return { ok: false, error: INVALID_API_KEY, canary };
    return refuse("invalid_api_key");
  }
  if (key.revoked) {
    return refuse("invalid_api_key", key);
  }
  if (key.expiresAtMs !== null && key.expiresAtMs <= nowMs) {
    return refuse("expired_api_key", key);
  }

  let denial: ApiError | null = null;
  if (key.allowedRanges && !isAddressAllowed(input.clientIp, key.allowedRanges)) {
    denial = IP_NOT_ALLOWED;
  } else if (input.scope !== null && !key.scopes.has(input.scope)) {
    denial = insufficientScope(input.scope);
  }

  let taken: Quota | Promise<Quota>;
  try {
    // A refused request only reads the counters: it consumes nothing.
    const consume = denial === null && input.cost !== 0;
    taken = gateway.limiter.take(key.id, key.limits, nowMs, consume, input.cost);
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
      error: rateLimitExceeded(quota.window, quota.retryAfter),
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
