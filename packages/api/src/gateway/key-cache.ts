import { apiKeys, eq, type Database } from "@repo/db";
import ipaddr from "ipaddr.js";
import type { Limits } from "./rate-limit.js";

type Range = [ipaddr.IPv4 | ipaddr.IPv6, number];

/** What verification needs to know about a key, parsed once when it enters the cache. */
export interface KeyRecord {
  id: string;
  ownerId: string;
  keyPrefix: string;
  tier: string;
  scopes: ReadonlySet<string>;
  /** The same scopes in stored order, for responses and upstream headers. */
  scopeList: readonly string[];
  /** Requests per UTC minute and per UTC day. */
  limits: Limits;
  /** Null: any address. */
  allowedRanges: readonly Range[] | null;
  expiresAtMs: number | null;
  revoked: boolean;
}

export interface KeyCacheOptions {
  db: Database;
  ttlMs: number;
  /** Entries kept (known and unknown keys together); the oldest go first. */
  maxEntries?: number;
  now: () => number;
}

interface Entry {
  /** Null: no key has this hash (negative entry, so repeated unknown keys cost one query). */
  record: KeyRecord | null;
  expiresAt: number;
}

/**
 * Key records by SHA-256 of the key. A hit costs no I/O; a miss costs one indexed query,
 * shared by concurrent requests for the same hash. Entries expire after `ttlMs` as a safety
 * net; revocations and changes arrive much sooner through `invalidate` (this process, right
 * after commit) and NOTIFY (other processes). A lost NOTIFY connection calls `clear`.
 * Callers load only hashes of well-formed keys, so every entry stands for one (verification
 * relies on that to skip the format check on a hit).
 */
export function createKeyCache(options: KeyCacheOptions) {
  const maxEntries = options.maxEntries ?? 100_000;
  const entries = new Map<string, Entry>();
  const loading = new Map<string, Promise<KeyRecord | null>>();
  // Bumped on every invalidation: a load that started before it must not store what it read.
  let generation = 0;

  function store(hash: string, record: KeyRecord | null) {
    entries.delete(hash);
    if (entries.size >= maxEntries) entries.delete(entries.keys().next().value!);
    entries.set(hash, { record, expiresAt: options.now() + options.ttlMs });
  }

  async function load(hash: string): Promise<KeyRecord | null> {
    const started = generation;
    try {
      const [row] = await options.db
        .select()
        .from(apiKeys)
        .where(eq(apiKeys.keyHash, hash))
        .limit(1);
      const record = row ? toRecord(row) : null;
      if (generation === started) store(hash, record);
      return record;
    } finally {
      loading.delete(hash);
    }
  }

  return {
    /** The cached record at `nowMs`, or undefined when it has to be loaded (see `load`). */
    peek(hash: string, nowMs: number): KeyRecord | null | undefined {
      const entry = entries.get(hash);
      if (!entry) return undefined;
      if (entry.expiresAt <= nowMs) {
        entries.delete(hash);
        return undefined;
      }
      return entry.record;
    },
    /** Loads from the database (one query per hash however many requests wait for it). */
    load(hash: string): Promise<KeyRecord | null> {
      let pending = loading.get(hash);
      if (!pending) {
        pending = load(hash);
        loading.set(hash, pending);
      }
      return pending;
    },
    invalidate(hashes: Iterable<string>) {
      generation++;
      for (const hash of hashes) {
        entries.delete(hash);
        loading.delete(hash);
      }
    },
    clear() {
      generation++;
      entries.clear();
      loading.clear();
    },
    get size() {
      return entries.size;
    },
  };
}

export type KeyCache = ReturnType<typeof createKeyCache>;

function toRecord(row: typeof apiKeys.$inferSelect): KeyRecord {
  return {
    id: row.id,
    ownerId: row.ownerId,
    keyPrefix: row.keyPrefix,
    tier: row.tier,
    scopes: new Set(row.scopes),
    scopeList: row.scopes,
    limits: { perMinute: row.rateLimitPerMinute, perDay: row.rateLimitPerDay },
    allowedRanges: row.allowedIps ? row.allowedIps.flatMap(parseRange) : null,
    expiresAtMs: row.expiresAt ? row.expiresAt.getTime() : null,
    revoked: row.revokedAt !== null,
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
