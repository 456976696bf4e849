import { apiKeys, type Database } from "@repo/db";

/**
 * Which key hashes exist, without a query per request: a Bloom filter over every stored key's
 * SHA-256 (revoked ones too: their refusal needs the record). A hash it does not contain was
 * never issued, so a forged key, well-formed checksum and all, is refused with no I/O. A false
 * positive (about 1 in 1,000 at the sized capacity) only costs the lookup every hash cost
 * before. Kept current by the key-change NOTIFY (an insert trigger sends new keys' hashes) and
 * by this process's own changes; reloaded when the listener reconnects or the filter outgrows
 * its size.
 */
const BITS_PER_KEY = 15;
const PROBES = 10;
const MIN_CAPACITY = 16_384;

export class BloomFilter {
  readonly bits: Uint32Array;
  readonly size: number;
  count = 0;
  constructor(readonly capacity: number) {
    this.size = Math.ceil((capacity * BITS_PER_KEY) / 32) * 32;
    this.bits = new Uint32Array(this.size / 32);
  }
  /** Probe positions from the hash itself (already uniform: SHA-256 hex), double hashing. */
  private probe(hash: string, visit: (bit: number) => boolean): boolean {
    const h1 = Number.parseInt(hash.slice(0, 8), 16);
    // Odd (so the probes never repeat) and unsigned: `|` alone yields a signed 32-bit value.
    const h2 = (Number.parseInt(hash.slice(8, 16), 16) | 1) >>> 0;
    if (Number.isNaN(h1) || Number.isNaN(h2)) return false;
    for (let i = 0; i < PROBES; i++) {
      if (!visit((h1 + i * h2) % this.size)) return false;
    }
    return true;
  }
  add(hash: string) {
    this.count++;
    this.probe(hash, (bit) => {
      this.bits[bit >>> 5]! |= 1 << (bit & 31);
      return true;
    });
  }
  has(hash: string): boolean {
    return this.probe(hash, (bit) => (this.bits[bit >>> 5]! & (1 << (bit & 31))) !== 0);
  }
}

export interface KeyFilter {
  /** False: no key has this hash (certain). True: one probably does. */
  mightExist(hash: string): boolean;
  add(hash: string): void;
  /** Rebuilds from the database (at start, after a lost listener, when grown too full). */
  reload(): Promise<void>;
  readonly count: number;
}

export function createKeyFilter(db: Database, onReloadFailed: (error: unknown) => void): KeyFilter {
  let filter = new BloomFilter(MIN_CAPACITY);
  /** Hashes added while a reload reads the table: they may be missing from what it read. */
  let duringReload: string[] | null = null;
  let reloading: Promise<void> | null = null;

  async function rebuild() {
    duringReload = [];
    try {
      const rows = await db.select({ hash: apiKeys.keyHash }).from(apiKeys);
      const next = new BloomFilter(Math.max(MIN_CAPACITY, rows.length * 2));
      for (const row of rows) next.add(row.hash);
      for (const hash of duringReload) next.add(hash);
      filter = next;
    } finally {
      duringReload = null;
    }
  }

  const self: KeyFilter = {
    mightExist: (hash) => filter.has(hash),
    add(hash) {
      filter.add(hash);
      duringReload?.push(hash);
      if (filter.count > filter.capacity && !reloading) {
        void self.reload().catch(onReloadFailed);
      }
    },
    reload() {
      reloading ??= rebuild().finally(() => (reloading = null));
      return reloading;
    },
    get count() {
      return filter.count;
    },
  };
  return self;
}
