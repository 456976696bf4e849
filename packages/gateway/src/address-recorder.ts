import { isDatabaseUnavailable, queryRows, sql, type Database } from "@repo/db";
import { MAX_ADDRESSES_PER_KEY, safeError, writeAlertEvents } from "@repo/core";
import ipaddr from "ipaddr.js";
import { slotAfter } from "./write-slots.js";

/** Distinct raw addresses buffered per key between writes (more in one interval are dropped). */
const MAX_BUFFERED_PER_KEY = 500;
/**
 * Keys buffered: those used within the last `KNOWN_ADDRESS_WRITE_MS` (a written address is
 * kept that long to know it is not new). 100,000 keys polled every few seconds fit.
 */
const MAX_BUFFERED_KEYS = 200_000;
/**
 * Buffered addresses per write (statement and transaction): keys are taken in order until
 * their addresses reach this many (a key's are never split), so a write holds at most
 * 2,000 + `MAX_BUFFERED_PER_KEY` rows however many keys were active.
 */
export const ADDRESSES_PER_WRITE = 2_000;
/**
 * How often an address this process has written is written again while it stays in use:
 * its count and last sighting reach the database within a minute or so, not a second, at
 * the key's slot in the minute (see write-slots.ts), so addresses first written together are
 * not all rewritten together a minute later. A new address (it may raise `key.new_address`)
 * is written at the next tick. Measured on flushes
 * of 20,000 keys, rewriting each key's address every second cost PostgreSQL 11-18 µs of CPU
 * per key, beside 20-30 µs for its usage; with 100,000 keys in rotation the two writes ran
 * back to back and the usage fell behind.
 */
export const KNOWN_ADDRESS_WRITE_MS = 60_000;
/** Raw address → recorded form, remembered for the busy addresses. */
const MAX_NORMALIZED = 10_000;

/** One raw address of a key: what was seen since it was last written. */
interface Seen {
  /** First and last request since the last write (Infinity and -Infinity: none). */
  firstMs: number;
  lastMs: number;
  /** Requests not yet written (0: nothing to write, kept only as "written recently"). */
  requests: number;
  /** When this process last wrote it (0: not yet, or its last write failed). */
  writtenMs: number;
  /** When it is written again if used meanwhile (0: at the next tick). */
  rewriteAtMs: number;
}

/** Adds what `from` saw into `into`. */
function addSeen(into: Seen, from: Seen) {
  into.requests += from.requests;
  into.firstMs = Math.min(into.firstMs, from.firstMs);
  into.lastMs = Math.max(into.lastMs, from.lastMs);
}

type Batch = Map<string, Map<string, Seen>>;

/**
 * A key's buffered addresses, as a Map would hold them. Nearly every key is used from one
 * address (a SIEM, a script's host), so the first is held in the object itself and a Map is
 * made only for a second: a key's address state went from 400 to 264 bytes (measured with
 * 100,000 keys, the address strings aside), and a request from the usual address compares
 * one string instead of probing a hash table. Deleting the first address leaves its place
 * empty for the next one; iteration, like a Map's, tolerates deletes as it goes.
 */
class KeyAddresses {
  private firstRaw: string | undefined;
  private firstSeen: Seen | undefined;
  private more: Map<string, Seen> | undefined;

  get(raw: string): Seen | undefined {
    return raw === this.firstRaw ? this.firstSeen : this.more?.get(raw);
  }

  set(raw: string, seen: Seen) {
    if (raw === this.firstRaw || (this.firstRaw === undefined && !this.more?.has(raw))) {
      this.firstRaw = raw;
      this.firstSeen = seen;
    } else (this.more ??= new Map()).set(raw, seen);
  }

  delete(raw: string) {
    if (raw === this.firstRaw) {
      this.firstRaw = undefined;
      this.firstSeen = undefined;
    } else this.more?.delete(raw);
  }

  get size() {
    return (this.firstRaw === undefined ? 0 : 1) + (this.more?.size ?? 0);
  }

  *[Symbol.iterator](): IterableIterator<[string, Seen]> {
    if (this.firstRaw !== undefined) yield [this.firstRaw, this.firstSeen!];
    if (this.more) yield* this.more;
  }
}

export interface AddressRecorderOptions {
  db: Database;
  log: { warn(obj: object, msg: string): void };
}

const normalized = new Map<string, string | null>();

/**
 * How an address is recorded: IPv4 exactly (an IPv4-mapped IPv6 address as IPv4), IPv6 as
 * its /64 (one host's privacy addresses rotate within it), e.g. `2001:db8:1:2::/64`.
 */
export function recordedAddress(raw: string): string | null {
  let result = normalized.get(raw);
  if (result !== undefined) return result;
  try {
    const address = ipaddr.process(raw);
    if (address.kind() === "ipv4") result = address.toString();
    else {
      const parts = (address as ipaddr.IPv6).parts.slice(0, 4).concat([0, 0, 0, 0]);
      result = `${new ipaddr.IPv6(parts).toString()}/64`;
    }
  } catch {
    result = null;
  }
  if (normalized.size >= MAX_NORMALIZED) normalized.clear();
  normalized.set(raw, result);
  return result;
}

/**
 * Where each key is used from: per key and client address, first seen, last seen and a
 * request count, aggregated in memory per request (no I/O) and written with the usage
 * flushes. A new address is written at the next tick; one this process wrote less than
 * `KNOWN_ADDRESS_WRITE_MS` ago keeps counting in memory until then (an explicit `flush`
 * writes everything). A key keeps its 100 most recently seen addresses; older ones are
 * deleted when a write adds new ones. A failed write is kept and retried with the next.
 */
export function createAddressRecorder(options: AddressRecorderOptions) {
  const buffer = new Map<string, KeyAddresses>();
  let dropped = 0;
  let failures = 0;
  /**
   * When each tracked key is looked at next, by UTC second: once a minute at its slot (see
   * write-slots.ts), with its address map (a key forgotten and tracked again has a new one,
   * so an entry left from before is recognised and skipped). A tick looks at the keys whose
   * second has passed and at `fresh`, not at every key it holds: at 100,000 tracked keys the
   * walk of all of them each tick cost about 0.9 µs a request (profiled).
   */
  const wheel = new Map<number, [string, KeyAddresses][]>();
  /** Keys with an address not yet written (new, or its write failed): due at the next tick. */
  let fresh: string[] = [];

  /** Books `keyId`'s next look at its first slot after `afterMs`. */
  function schedule(keyId: string, byAddress: KeyAddresses, afterMs: number) {
    const second = Math.floor(slotAfter(keyId, afterMs, KNOWN_ADDRESS_WRITE_MS) / 1000);
    const booked = wheel.get(second);
    if (booked) booked.push([keyId, byAddress]);
    else wheel.set(second, [[keyId, byAddress]]);
  }

  function track(keyId: string, atMs: number): KeyAddresses {
    const byAddress = new KeyAddresses();
    buffer.set(keyId, byAddress);
    schedule(keyId, byAddress, atMs);
    return byAddress;
  }

  function record(keyId: string, rawAddress: string, atMs: number) {
    let byAddress = buffer.get(keyId);
    if (!byAddress) {
      if (buffer.size >= MAX_BUFFERED_KEYS) return void dropped++;
      byAddress = track(keyId, atMs);
    }
    const seen = byAddress.get(rawAddress);
    if (seen) {
      seen.requests++;
      if (atMs > seen.lastMs) seen.lastMs = atMs;
      if (atMs < seen.firstMs) seen.firstMs = atMs;
      return;
    }
    // Full: the addresses kept only as written recently make room (rewritten when seen again).
    if (byAddress.size >= MAX_BUFFERED_PER_KEY) {
      for (const [raw, old] of byAddress) if (old.requests === 0) byAddress.delete(raw);
    }
    if (byAddress.size < MAX_BUFFERED_PER_KEY) {
      byAddress.set(rawAddress, {
        firstMs: atMs,
        lastMs: atMs,
        requests: 1,
        writtenMs: 0,
        rewriteAtMs: 0,
      });
      fresh.push(keyId);
    } else dropped++;
  }

  /**
   * Takes what is due out of the buffer, as copies: every unwritten count, or (`due`) only
   * new addresses and those whose rewrite is due, of the keys in `fresh` and those the wheel
   * books for a second that has passed.
   * The entries taken are marked written now, with their next rewrite at the key's first
   * slot at least half a period away (so a key used all along is rewritten once a period);
   * those with nothing new since a write `KNOWN_ADDRESS_WRITE_MS` ago are dropped, and a key
   * left with none is forgotten.
   */
  function take(nowMs: number, scope: "due" | "everything"): Batch {
    const out: Batch = new Map();
    if (scope === "everything") {
      for (const [keyId, byAddress] of buffer) visit(keyId, byAddress, nowMs, true, out);
      fresh = [];
      return out;
    }
    const keys = fresh;
    fresh = [];
    for (const keyId of keys) {
      const byAddress = buffer.get(keyId);
      if (byAddress && !out.has(keyId)) visit(keyId, byAddress, nowMs, false, out);
    }
    // A second is looked at once it has passed, so every slot in it has come.
    for (const [second, booked] of wheel) {
      if ((second + 1) * 1000 > nowMs) continue;
      wheel.delete(second);
      for (const [keyId, byAddress] of booked) {
        if (buffer.get(keyId) !== byAddress) continue; // forgotten since
        if (!out.has(keyId)) visit(keyId, byAddress, nowMs, false, out);
        if (buffer.get(keyId) === byAddress) schedule(keyId, byAddress, nowMs);
      }
    }
    return out;
  }

  function visit(
    keyId: string,
    byAddress: KeyAddresses,
    nowMs: number,
    everything: boolean,
    out: Batch,
  ) {
    let taken: Map<string, Seen> | undefined;
    let rewriteAtMs = 0;
    for (const [raw, seen] of byAddress) {
      if (seen.requests === 0) {
        const recent = seen.writtenMs > 0 && nowMs - seen.writtenMs < KNOWN_ADDRESS_WRITE_MS;
        if (!recent) byAddress.delete(raw);
      } else if (nowMs >= seen.rewriteAtMs || everything) {
        (taken ??= new Map()).set(raw, { ...seen });
        rewriteAtMs ||= slotAfter(
          keyId,
          nowMs + KNOWN_ADDRESS_WRITE_MS / 2,
          KNOWN_ADDRESS_WRITE_MS,
        );
        seen.requests = 0;
        seen.firstMs = Infinity;
        seen.lastMs = -Infinity;
        seen.writtenMs = nowMs;
        seen.rewriteAtMs = rewriteAtMs;
      }
    }
    if (taken) out.set(keyId, taken);
    if (byAddress.size === 0) buffer.delete(keyId);
  }

  /** Puts counts whose write failed back, to be written at the next tick. */
  function restore(failed: Batch, nowMs: number) {
    for (const [keyId, byAddress] of failed) {
      const into = buffer.get(keyId) ?? track(keyId, nowMs);
      fresh.push(keyId);
      for (const [raw, seen] of byAddress) {
        const now = into.get(raw);
        if (!now) into.set(raw, { ...seen, writtenMs: 0, rewriteAtMs: 0 });
        else {
          addSeen(now, seen);
          now.writtenMs = 0;
          now.rewriteAtMs = 0;
        }
      }
    }
  }

  /** Raw addresses folded into their recorded form (several IPv6 hosts share a /64). */
  function rows(batch: Batch) {
    const out: {
      key_id: string;
      address: string;
      first_seen: string;
      last_seen: string;
      requests: number;
    }[] = [];
    for (const [keyId, byAddress] of batch) {
      const merged = new Map<string, Seen>();
      for (const [raw, seen] of byAddress) {
        const address = recordedAddress(raw);
        if (address === null) continue;
        const into = merged.get(address);
        if (!into) merged.set(address, { ...seen });
        else addSeen(into, seen);
      }
      for (const [address, seen] of merged) {
        out.push({
          key_id: keyId,
          address,
          first_seen: new Date(seen.firstMs).toISOString(),
          last_seen: new Date(seen.lastMs).toISOString(),
          requests: seen.requests,
        });
      }
    }
    return out;
  }

  /** Consecutive slices of `batch` of about `ADDRESSES_PER_WRITE` addresses each. */
  function slices(batch: Batch): Batch[] {
    const out: Batch[] = [];
    let slice: Batch = new Map();
    let addresses = 0;
    for (const [keyId, byAddress] of batch) {
      if (addresses > 0 && addresses + byAddress.size > ADDRESSES_PER_WRITE) {
        out.push(slice);
        slice = new Map();
        addresses = 0;
      }
      slice.set(keyId, byAddress);
      addresses += byAddress.size;
    }
    if (slice.size > 0) out.push(slice);
    return out;
  }

  /** Upserts the batch; resolves to how many addresses were new (alerts raised). */
  async function write(batch: Batch): Promise<number> {
    const input = rows(batch);
    if (input.length === 0) return 0;
    return options.db.transaction(async (tx) => {
      // (xmax = 0): the row was inserted by this statement, not updated. Every part of the
      // statement reads the table as it stood before the write, so `known` is each key's
      // addresses before it: a new address is compared with the key's first use then, and a
      // key is pruned only when what it had and what it gained pass the limit. Only those
      // rows come back: a wave of new keys (each one's first address) needs nothing more
      // than the insert. Measured on 100,000 first lookups: PostgreSQL's CPU fell from 46-60
      // to 33-37 µs a key once the prune and the rows coming back went (docs/measurements.md).
      const flagged = await queryRows<{
        key_id: string;
        address: string;
        first_seen_at: string | Date;
        is_new: boolean;
        over_limit: boolean;
        owner_id: string;
        key_prefix: string;
      }>(
        tx,
        sql`
          with input as (
            select * from jsonb_to_recordset(${JSON.stringify(input)}::jsonb)
              as t(key_id uuid, address text, first_seen timestamptz, last_seen timestamptz,
                   requests bigint)
          ), upserted as (
            insert into api_key_addresses as a
              (key_id, address, first_seen_at, last_seen_at, requests)
            select i.key_id, i.address, i.first_seen, i.last_seen, i.requests
              from input i
             where exists (select 1 from api_keys k where k.id = i.key_id)
            on conflict (key_id, address) do update set
              first_seen_at = least(a.first_seen_at, excluded.first_seen_at),
              last_seen_at = greatest(a.last_seen_at, excluded.last_seen_at),
              requests = a.requests + excluded.requests
            returning a.key_id, a.address, a.first_seen_at, (a.xmax = 0) as inserted
          ), added as (
            select key_id, count(*) as n from upserted where inserted group by key_id
          ), known as (
            select d.key_id, d.n + k.n > ${MAX_ADDRESSES_PER_KEY} as over_limit, k.first_seen_at
              from added d
              cross join lateral (select count(*) as n, min(b.first_seen_at) as first_seen_at
                                    from api_key_addresses b
                                   where b.key_id = d.key_id) k
          ), flagged as (
            select u.key_id, u.address, u.first_seen_at, n.over_limit,
                   coalesce(u.first_seen_at > n.first_seen_at + interval '1 day', false) as is_new
              from upserted u
              join known n on n.key_id = u.key_id
             where u.inserted
          )
          select f.*, k.owner_id, k.key_prefix
            from flagged f
            join api_keys k on k.id = f.key_id
           where f.is_new or f.over_limit`,
      );
      // Pruned in a statement of its own, which also sees what other processes committed
      // meanwhile. Two processes adding a key's 100th address at once can leave it 101 rows
      // until its next new address: the limit bounds storage, not a count anyone relies on.
      const grown = [...new Set(flagged.filter((row) => row.over_limit).map((row) => row.key_id))];
      if (grown.length > 0) {
        await tx.execute(sql`
          delete from api_key_addresses a
           using (select key_id, address,
                         row_number() over (partition by key_id
                                            order by last_seen_at desc, address) as rank
                    from api_key_addresses
                   where key_id = any(${`{${grown.join(",")}}`}::uuid[])) r
           where a.key_id = r.key_id and a.address = r.address
             and r.rank > ${MAX_ADDRESSES_PER_KEY}`);
      }
      const fresh = flagged.filter((row) => row.is_new);
      // `key.new_address`, committed with the address rows (a retried batch finds them
      // recorded and raises nothing twice).
      await writeAlertEvents(
        tx,
        fresh.map((row) => {
          const firstSeenAt = new Date(row.first_seen_at);
          return {
            ownerId: row.owner_id,
            type: "key.new_address" as const,
            atMs: firstSeenAt.getTime(),
            data: {
              key_id: row.key_id,
              key_prefix: row.key_prefix,
              address: row.address,
              first_seen_at: firstSeenAt.toISOString().replace(/\.\d{3}Z$/, "Z"),
            },
          };
        }),
      );
      return fresh.length;
    });
  }

  return {
    record,
    /** Keys with counts not yet written. */
    get pending() {
      let keys = 0;
      for (const byAddress of buffer.values()) {
        for (const [, seen] of byAddress) {
          if (seen.requests > 0) {
            keys++;
            break;
          }
        }
      }
      return keys;
    },
    /** Keys held in memory: with counts not yet written, or written in the last minute. */
    get tracked() {
      return buffer.size;
    },
    /**
     * Writes what is due (see `take`; `nowMs` on the recorder's clock) in bounded slices, one
     * after the other; never throws. A failed slice and the ones after it are kept for the
     * next flush (the ones before are written).
     */
    async flush(nowMs = Date.now(), scope: "due" | "everything" = "everything"): Promise<boolean> {
      if (dropped > 0) {
        options.log.warn({ dropped }, "address buffer full: some client addresses not recorded");
        dropped = 0;
      }
      const pending = slices(take(nowMs, scope));
      for (let i = 0; i < pending.length; i++) {
        try {
          await write(pending[i]!);
          failures = 0;
        } catch (error) {
          failures++;
          const givenUp = !isDatabaseUnavailable(error) && failures >= 3;
          if (givenUp) {
            // Not an outage and not going away by retrying (as for usage): say what is given up.
            options.log.warn(
              { error: safeError(error), keys: pending[i]!.size },
              "addresses dropped",
            );
            failures = 0;
          } else {
            options.log.warn(
              { error: safeError(error), attempt: failures },
              "address write failed: kept in memory, retrying",
            );
          }
          for (const slice of pending.slice(givenUp ? i + 1 : i)) restore(slice, nowMs);
          return false;
        }
      }
      return true;
    },
  };
}

export type AddressRecorder = ReturnType<typeof createAddressRecorder>;
