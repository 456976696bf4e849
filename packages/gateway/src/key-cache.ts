import { apiKeys, sql, type Database } from "@repo/db";
import ipaddr from "ipaddr.js";
import { LRUCache } from "lru-cache";
import type { Limits } from "./rate-limit.js";

type Range = [ipaddr.IPv4 | ipaddr.IPv6, number];

/** What verification needs to know about a key, parsed once when it enters the cache. */
export interface KeyRecord {
  id: string;
  ownerId: string;
  keyPrefix: string;
  name: string;
  tier: string;
  scopes: ReadonlySet<string>;
  /** The same scopes in stored order, for responses and upstream headers. */
  scopeList: readonly string[];
  /** Requests per UTC minute and per UTC day. */
  limits: Readonly<Limits>;
  /** Null: any address. */
  allowedRanges: readonly Range[] | null;
  /** The same, as stored (for whoami). */
  allowedIps: readonly string[] | null;
  expiresAtMs: number | null;
  revoked: boolean;
  /** The key's part of the echo answer as JSON, made on its first echo (see gateway-routes). */
  echoJson: string | undefined;
}

export interface KeyCacheOptions {
  db: Database;
  ttlMs: number;
  /**
   * How long after it was read a record may still be served while the database cannot be
   * reached (stale-if-error; see `stale`). 0: never.
   */
  maxStaleMs?: number;
  /** Key records kept; the least recently used go first. */
  maxEntries?: number;
  /**
   * Hashes known to match no key, kept apart from the records so that a stream of invented
   * keys only ever evicts other invented keys.
   */
  maxNegativeEntries?: number;
  now: () => number;
}

interface Entry {
  record: KeyRecord;
  expiresAt: number;
}

/** Hashes per lookup query: bounds the statement however many first lookups arrive at once. */
const MAX_HASHES_PER_QUERY = 1_000;
/**
 * Lookup queries in flight at once: the data plane's pool has two connections. While both
 * are busy, first lookups gather into the next batch instead of each turn's few queueing in
 * the pool as queries of their own, so under a wave of new keys the batches grow with the
 * load. A batch waits at most `MAX_BATCH_WAIT_MS` for a slot; then it goes to the pool, whose
 * own bounded wait applies (a slow database must not hold lookups past the 2 s budget).
 */
const MAX_BATCHES_IN_FLIGHT = 2;
const MAX_BATCH_WAIT_MS = 25;

interface Waiter {
  promise: Promise<KeyRecord | null>;
  resolve(record: KeyRecord | null): void;
  reject(error: unknown): void;
}

/**
 * Key records by SHA-256 of the key, in a least-recently-used cache; unknown hashes in a
 * separate one. A hit costs no I/O. First lookups arriving in the same event-loop turn are
 * coalesced into one query (`key_hash = any($1)`), and concurrent requests for one hash share
 * it. Entries expire after `ttlMs` as a safety net; revocations and changes arrive much
 * sooner through `invalidate` (this process, right after commit) and NOTIFY (other
 * processes). A lost NOTIFY connection calls `clear`. Callers load only hashes of
 * well-formed keys, so every entry stands for one (verification relies on that to skip the
 * format check on a hit).
 */
export function createKeyCache(options: KeyCacheOptions) {
  // Expiry is checked against the injectable clock here, not lru-cache's own TTL clock.
  const records = new LRUCache<string, Entry>({ max: options.maxEntries ?? 100_000 });
  const unknown = new LRUCache<string, number>({ max: options.maxNegativeEntries ?? 100_000 });
  const grantOf = grantTable();
  /** Lookups queued for the next batch or in flight, by hash. */
  const loading = new Map<string, Promise<KeyRecord | null>>();
  /** First lookups waiting for the next batch (several per hash only across an invalidation). */
  let queued: Map<string, Waiter[]> | null = null;
  let inFlight = 0;
  /** A start of the queued batch is scheduled (next turn, or when its wait runs out). */
  let scheduled = false;
  let waitTimer: NodeJS.Timeout | undefined;
  // Bumped on every invalidation: a load that started before it must not store what it read.
  let generation = 0;

  function store(hash: string, record: KeyRecord | null) {
    const expiresAt = options.now() + options.ttlMs;
    if (record) {
      unknown.delete(hash);
      records.set(hash, { record, expiresAt });
    } else {
      records.delete(hash);
      unknown.set(hash, expiresAt);
    }
  }

  function settle(hash: string, waiters: Waiter[], answer: (waiter: Waiter) => void) {
    for (const waiter of waiters) {
      // A lookup started after an invalidation is a different promise: leave it registered.
      if (loading.get(hash) === waiter.promise) loading.delete(hash);
      answer(waiter);
    }
  }

  /**
   * Starts the queued batch at the next turn if fewer than `MAX_BATCHES_IN_FLIGHT` are
   * running; otherwise when one finishes, or after `MAX_BATCH_WAIT_MS` at the latest.
   */
  function schedule() {
    if (!queued || scheduled) return;
    if (inFlight < MAX_BATCHES_IN_FLIGHT) {
      scheduled = true;
      clearTimeout(waitTimer);
      waitTimer = undefined;
      setImmediate(() => void runBatch());
    } else {
      waitTimer ??= setTimeout(() => {
        waitTimer = undefined;
        if (queued && !scheduled) void runBatch();
      }, MAX_BATCH_WAIT_MS);
    }
  }

  /** One query per chunk for everything queued since the last batch started. */
  async function runBatch() {
    scheduled = false;
    const batch = queued;
    if (!batch) return;
    queued = null;
    inFlight++;
    try {
      await queryBatch(batch);
    } finally {
      inFlight--;
      schedule();
    }
  }

  async function queryBatch(batch: Map<string, Waiter[]>) {
    const started = generation;
    const hashes = [...batch.keys()];
    for (let i = 0; i < hashes.length; i += MAX_HASHES_PER_QUERY) {
      const chunk = hashes.slice(i, i + MAX_HASHES_PER_QUERY);
      try {
        const rows = await options.db
          .select()
          .from(apiKeys)
          .where(sql`${apiKeys.keyHash} = any(${sql.param(chunk)}::text[])`);
        const found = new Map(rows.map((row) => [row.keyHash, toRecord(row, grantOf(row))]));
        const current = generation === started;
        for (const hash of chunk) {
          const record = found.get(hash) ?? null;
          if (current) store(hash, record);
          settle(hash, batch.get(hash)!, (waiter) => waiter.resolve(record));
        }
      } catch (error) {
        for (const hash of chunk) settle(hash, batch.get(hash)!, (waiter) => waiter.reject(error));
      }
    }
  }

  return {
    /** The cached answer at `nowMs` (null: no such key), or undefined when it must be loaded. */
    peek(hash: string, nowMs: number): KeyRecord | null | undefined {
      const entry = records.get(hash);
      // An expired record stays (until replaced, evicted or swept) for `stale`.
      if (entry) return entry.expiresAt > nowMs ? entry.record : undefined;
      const negativeUntil = unknown.get(hash);
      if (negativeUntil === undefined) return undefined;
      if (negativeUntil > nowMs) return null;
      unknown.delete(hash);
      return undefined;
    },
    /**
     * A known key's record past its TTL but within `maxStaleMs` of being read, for when the
     * database cannot be reached to reload it. No revocation can be committed while the
     * database is down, and the listener's reconnect clears the cache once it is back, so
     * serving it weakens nothing. Unknown keys are never served stale.
     */
    stale(hash: string, nowMs: number): KeyRecord | undefined {
      const entry = records.get(hash);
      if (!entry) return undefined;
      const readAt = entry.expiresAt - options.ttlMs;
      return nowMs - readAt <= (options.maxStaleMs ?? 0) ? entry.record : undefined;
    },
    /** A hash found to match no key without a lookup (see `refuseUnlessJustCreated`). */
    rememberUnknown(hash: string) {
      if (!records.has(hash) && !loading.has(hash)) store(hash, null);
    },
    /** Loads from the database with the other first lookups of this turn (see above). */
    load(hash: string): Promise<KeyRecord | null> {
      const pending = loading.get(hash);
      if (pending) return pending;
      if (!queued) {
        queued = new Map();
        schedule();
      }
      let waiters = queued.get(hash);
      if (!waiters) queued.set(hash, (waiters = []));
      const waiter = {} as Waiter;
      waiter.promise = new Promise<KeyRecord | null>((resolve, reject) => {
        waiter.resolve = resolve;
        waiter.reject = reject;
      });
      waiters.push(waiter);
      loading.set(hash, waiter.promise);
      return waiter.promise;
    },
    /**
     * Drops what can no longer be answered from memory: key records past their TTL and past
     * the stale window (neither `peek` nor `stale` would return them), unknown hashes past
     * their TTL. Without it a wave of keys seen once holds about 0.65 KB each until newer keys
     * evict them (65 MB for 100,000: see README, Scale-out). The walk starts at the least
     * recently used end and stops at the first entry still of use: a record in use is read
     * again once its TTL is over, so the walk costs about what it removes. An entry that was
     * used more recently than a live one but read earlier waits for a later sweep; nothing
     * dropped late is ever served, since every read checks expiry itself. At most `limit`
     * records and `limit` unknown hashes go per call (measured: 100,000 records in one call
     * held the event loop 80 ms). Returns how many entries went.
     */
    sweep(nowMs: number, limit = Infinity): number {
      const staleMs = options.maxStaleMs ?? 0;
      const deadRecords: string[] = [];
      // rkeys: least recently used first; peek: reads without making an entry recent.
      for (const hash of records.rkeys()) {
        if (deadRecords.length >= limit) break;
        const { expiresAt } = records.peek(hash)!;
        if (expiresAt > nowMs || nowMs - (expiresAt - options.ttlMs) <= staleMs) break;
        deadRecords.push(hash);
      }
      const deadUnknown: string[] = [];
      for (const hash of unknown.rkeys()) {
        if (deadUnknown.length >= limit || unknown.peek(hash)! > nowMs) break;
        deadUnknown.push(hash);
      }
      for (const hash of deadRecords) records.delete(hash);
      for (const hash of deadUnknown) unknown.delete(hash);
      return deadRecords.length + deadUnknown.length;
    },
    invalidate(hashes: Iterable<string>) {
      generation++;
      for (const hash of hashes) {
        records.delete(hash);
        unknown.delete(hash);
        loading.delete(hash);
      }
    },
    clear() {
      generation++;
      records.clear();
      unknown.clear();
      loading.clear();
    },
    /** Key records held (unknown hashes not included). */
    get size() {
      return records.size;
    },
    get negativeSize() {
      return unknown.size;
    },
  };
}

export type KeyCache = ReturnType<typeof createKeyCache>;

/** What a key may do: the same for every key of a tier that kept its tier's scopes and limits. */
type Grant = Pick<KeyRecord, "tier" | "scopes" | "scopeList" | "limits">;

/** Distinct grants shared at most; past it the table starts again (records keep theirs). */
const MAX_SHARED_GRANTS = 10_000;

/**
 * One grant object per distinct tier, scopes (in stored order) and limits, shared by every
 * record that has them: most keys have their tier's, so 100,000 records hold a handful of
 * scope sets and limits instead of 100,000 of each, and the scope check and the limiter read
 * objects that stay in the CPU's cache. Measured (`scale` bench, keys with two scopes): 646
 * bytes per cached record instead of 1,030. Safe to share because records are never changed:
 * a changed key is a new record.
 */
function grantTable() {
  let grants = new Map<string, Grant>();
  return (row: typeof apiKeys.$inferSelect): Grant => {
    const { tier, scopes, rateLimitPerMinute: perMinute, rateLimitPerDay: perDay } = row;
    const name = JSON.stringify([tier, perMinute, perDay, scopes]);
    let grant = grants.get(name);
    if (!grant) {
      if (grants.size >= MAX_SHARED_GRANTS) grants = new Map();
      grant = { tier, scopes: new Set(scopes), scopeList: scopes, limits: { perMinute, perDay } };
      grants.set(name, grant);
    }
    return grant;
  };
}

function toRecord(row: typeof apiKeys.$inferSelect, grant: Grant): KeyRecord {
  return {
    id: row.id,
    ownerId: row.ownerId,
    keyPrefix: row.keyPrefix,
    name: row.name,
    tier: grant.tier,
    scopes: grant.scopes,
    scopeList: grant.scopeList,
    limits: grant.limits,
    allowedRanges: row.allowedIps ? row.allowedIps.flatMap(parseRange) : null,
    allowedIps: row.allowedIps,
    expiresAtMs: row.expiresAt ? row.expiresAt.getTime() : null,
    revoked: row.revokedAt !== null,
    echoJson: undefined,
  };
}

/** An address or CIDR range; unparseable entries allow nothing (fail closed). */
function parseRange(entry: string): Range[] {
  try {
    if (entry.includes("/")) return [ipaddr.parseCIDR(entry)];
    const address = ipaddr.process(entry);
    return [[address, address.kind() === "ipv4" ? 32 : 128]];
  } catch {
    return [];
  }
}

/** True when `address` (as Fastify reports it) lies in one of the ranges. */
export function isAddressAllowed(address: string, ranges: readonly Range[]): boolean {
  let parsed: ipaddr.IPv4 | ipaddr.IPv6;
  try {
    // process(): an IPv4-mapped IPv6 address (::ffff:203.0.113.5) compares as IPv4.
    parsed = ipaddr.process(address);
  } catch {
    return false;
  }
  return ranges.some(([range, bits]) => {
    if (range.kind() === parsed.kind()) return parsed.match(range, bits);
    // A range written as ::ffff:a.b.c.d/n still covers the plain IPv4 form.
    if (range.kind() === "ipv6" && (range as ipaddr.IPv6).isIPv4MappedAddress() && bits >= 96) {
      return parsed.match((range as ipaddr.IPv6).toIPv4Address(), bits - 96);
    }
    return false;
  });
}
