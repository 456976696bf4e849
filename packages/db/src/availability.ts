import postgres from "postgres";

/**
 * Bounded waits in front of postgres.js. Left alone, postgres.js queues a query while it
 * reconnects with an exponential backoff (up to 20 s per attempt), and runs it whenever a
 * connection comes back, long after the request that made it was answered. Here:
 *
 * - a circuit breaker: the first connection-level failure marks the database down, fails every
 *   query made while it is down at once (no queueing), and destroys the pools' queues, so
 *   nothing queued before the failure runs later either. A probe on a fresh connection every
 *   `probeIntervalMs` marks it up again as soon as it answers;
 * - a queue deadline: a query (or a transaction) that has not been sent to the server within
 *   `acquireTimeoutMs` is withdrawn and fails (pool exhausted, e.g. by lock waits);
 * - once sent, a statement is bounded by the server's statement_timeout and lock_timeout.
 *
 * Every failure it produces carries a code `isDatabaseUnavailable` knows: requests get 503.
 */

/** What postgres.js's `unsafe` returns, as far as drizzle uses it: a thenable with values(). */
interface PendingLike<T> extends PromiseLike<T> {
  values(): PendingLike<T>;
  catch(onRejected: (error: unknown) => unknown): Promise<unknown>;
}

export class DatabaseUnavailableError extends Error {
  override name = "DatabaseUnavailableError";
  constructor(
    /** DATABASE_UNAVAILABLE: the breaker is open; POOL_TIMEOUT: no connection in time. */
    readonly code: "DATABASE_UNAVAILABLE" | "POOL_TIMEOUT",
  ) {
    super(
      code === "POOL_TIMEOUT"
        ? "no database connection became free in time"
        : "the database is unreachable",
    );
  }
}

/** Failures that say the server (not one statement) is unreachable: they open the breaker. */
const CONNECTION_FAILURES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "EPIPE",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENOTFOUND",
  "EAI_AGAIN",
  "CONNECT_TIMEOUT",
  "CONNECTION_CLOSED",
  "57P01", // admin_shutdown
  "57P02", // crash_shutdown
  "57P03", // cannot_connect_now
  "53300", // too_many_connections
  "55000", // "database … is not currently accepting connections"
  "08000",
  "08001",
  "08003",
  "08004",
  "08006",
]);

function isConnectionFailure(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" && CONNECTION_FAILURES.has(code);
}

export interface AvailabilityOptions {
  url: string;
  /** Seconds a new connection may take (postgres.js `connect_timeout`). */
  connectTimeoutSeconds: number;
  /** Longest wait for a connection before a query fails. */
  acquireTimeoutMs: number;
  /** How often an open breaker tries the database again. */
  probeIntervalMs: number;
  /** Told when the database goes down and comes back (for logs and the key listener). */
  onChange?: (state: "down" | "up", error?: unknown) => void;
  /** Array types read once at start (see `readArrayTypes`): pool connections skip the query. */
  arrayTypes: ArrayTypes;
}

/**
 * postgres.js runs an array-types query on every new connection unless `fetch_types` is off,
 * and drops that query's promise (porsager/postgres#1192, #1205, #1223, open): a connection
 * ended or cut while it starts up — exactly what the breaker does to its pools during an
 * outage — then raises an unhandled rejection, which ends a Node process. So the types are
 * read once, on the start-up connection, and every pool connection starts with them and
 * `fetch_types: false`. These are postgres.js's own tables (`options.parsers`,
 * `options.serializers`, `options.shared.typeArrayMap`), the ones its query would fill.
 */
export interface ArrayTypes {
  parsers: Record<number, unknown>;
  serializers: Record<number, unknown>;
  typeArrayMap: Record<number, number>;
}

interface ClientInternals {
  parsers: Record<number, unknown>;
  serializers: Record<number, unknown>;
  shared: { typeArrayMap: Record<number, number> };
}

/** The array types `client` has read (call after it ran a query with `fetch_types` on). */
export function readArrayTypes(client: postgres.Sql): ArrayTypes {
  const internals = client.options as unknown as ClientInternals;
  return {
    parsers: { ...internals.parsers },
    serializers: { ...internals.serializers },
    typeArrayMap: { ...internals.shared.typeArrayMap },
  };
}

function withArrayTypes(client: postgres.Sql, types: ArrayTypes): postgres.Sql {
  const internals = client.options as unknown as ClientInternals;
  Object.assign(internals.parsers, types.parsers);
  Object.assign(internals.serializers, types.serializers);
  Object.assign(internals.shared.typeArrayMap, types.typeArrayMap);
  return client;
}

type Settings = Record<string, string | number>;

interface Pool {
  current: postgres.Sql;
  make(): postgres.Sql;
}

export function createAvailability(options: AvailabilityOptions) {
  let down = false;
  let closed = false;
  let probeTimer: NodeJS.Timeout | undefined;
  const pools: Pool[] = [];

  function trip(error: unknown) {
    if (down || closed) return;
    down = true;
    // Every query waiting in a pool fails now (CONNECTION_DESTROYED) instead of running
    // after a reconnect; the pool is replaced by a fresh one used once the database is back.
    for (const pool of pools) {
      const old = pool.current;
      pool.current = pool.make();
      void old.end({ timeout: 0 }).catch(() => {});
    }
    options.onChange?.("down", error);
    scheduleProbe();
  }

  function scheduleProbe() {
    probeTimer = setTimeout(() => void probe(), options.probeIntervalMs);
    probeTimer.unref();
  }

  async function probe() {
    if (closed) return;
    // A fresh client each time: no backoff state carried over from earlier failures.
    const client = postgres(options.url, {
      max: 1,
      connect_timeout: Math.min(1, options.connectTimeoutSeconds),
      fetch_types: false, // `select 1` needs none, and see ArrayTypes for why not
      onnotice: () => {},
      connection: { statement_timeout: 1_000 },
    });
    try {
      await client`select 1`;
      markUp();
    } catch {
      if (!closed) scheduleProbe();
    } finally {
      void client.end({ timeout: 0 }).catch(() => {});
    }
  }

  function markUp() {
    if (!down || closed) return;
    down = false;
    clearTimeout(probeTimer);
    options.onChange?.("up");
  }

  function observe(error: unknown) {
    if (isConnectionFailure(error)) trip(error);
  }

  function rejected<T>(error: Error): PendingLike<T> {
    const failure = Promise.reject(error);
    failure.catch(() => {});
    const pending: PendingLike<T> = {
      values: () => pending,
      then: (ok, fail) => failure.then(ok, fail),
      catch: (fail) => failure.catch(fail),
    };
    return pending;
  }

  /** Runs `pending` unless it is still unsent at the deadline; then withdraws it. */
  function bounded<T>(pending: { cancel(): unknown }): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        // Sent queries are the server's to bound (statement_timeout): cancelling one that
        // may already have committed would answer a failure for work that was done.
        if ((pending as unknown as { state?: unknown }).state) return;
        void pending.cancel();
        reject(new DatabaseUnavailableError("POOL_TIMEOUT"));
      }, options.acquireTimeoutMs);
      relay(pending as unknown as Promise<T>, timer, resolve, reject);
    });
  }

  /** Settles a caller's promise from the driver's, stopping its deadline, watching for outages. */
  function relay<T>(
    from: PromiseLike<T>,
    timer: NodeJS.Timeout,
    resolve: (value: T) => void,
    reject: (error: Error) => void,
  ) {
    from.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        observe(error);
        reject(error instanceof Error ? error : new Error(String(error)));
      },
    );
  }

  /**
   * A pool of `max` connections with its own session settings, as the subset of a
   * postgres.js client that drizzle uses (`unsafe`, `begin`, `options`).
   */
  function pool(max: number, settings: Settings): postgres.Sql {
    const lockTimeoutMs =
      typeof settings.lock_timeout === "number" ? settings.lock_timeout : undefined;
    const make = () =>
      withArrayTypes(
        postgres(options.url, {
          max,
          connect_timeout: options.connectTimeoutSeconds,
          idle_timeout: 30,
          max_lifetime: 60 * 30,
          fetch_types: false,
          onnotice: () => {},
          connection: settings,
        }),
        options.arrayTypes,
      );
    const first = make();
    const entry: Pool = {
      current: first,
      make() {
        // drizzle installed its type parsers on the first client: the replacement needs them.
        const fresh = make();
        Object.assign(fresh.options.parsers, first.options.parsers);
        Object.assign(fresh.options.serializers, first.options.serializers);
        return fresh;
      },
    };
    pools.push(entry);

    function unsafe(text: string, params?: unknown[], queryOptions?: object) {
      if (down) return rejected(new DatabaseUnavailableError("DATABASE_UNAVAILABLE"));
      const pending = entry.current.unsafe(
        text,
        params as postgres.ParameterOrJSON<never>[],
        queryOptions,
      );
      let run: Promise<unknown> | undefined;
      const wrapper: PendingLike<unknown> = {
        values() {
          void pending.values();
          return wrapper;
        },
        then: (ok, fail) => (run ??= bounded(pending)).then(ok, fail),
        catch: (fail) => (run ??= bounded(pending)).catch(fail),
      };
      return wrapper;
    }

    function begin(...args: unknown[]) {
      if (down) return Promise.reject(new DatabaseUnavailableError("DATABASE_UNAVAILABLE"));
      const fn = args[args.length - 1] as (tx: postgres.TransactionSql) => unknown;
      const mode = args.length > 1 ? (args[0] as string) : "";
      let started = false;
      let abandoned = false;
      const requested = performance.now();
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          if (started) return;
          // The BEGIN may still be queued: when it runs, the body refuses and it rolls back.
          abandoned = true;
          reject(new DatabaseUnavailableError("POOL_TIMEOUT"));
        }, options.acquireTimeoutMs);
        const transaction = entry.current.begin(mode, async (tx) => {
          if (abandoned) throw new DatabaseUnavailableError("POOL_TIMEOUT");
          started = true;
          clearTimeout(timer);
          // Time spent waiting for the connection comes out of the lock wait, so queue and
          // lock together stay within lock_timeout (a late start does not get it afresh).
          const waited = Math.round(performance.now() - requested);
          if (lockTimeoutMs !== undefined && waited > 50) {
            await tx.unsafe(`set local lock_timeout = ${Math.max(50, lockTimeoutMs - waited)}`);
          }
          return fn(tx);
        });
        relay(transaction, timer, resolve, reject);
      });
    }

    return {
      unsafe,
      begin,
      get options() {
        return entry.current.options;
      },
    } as unknown as postgres.Sql;
  }

  return {
    pool,
    /**
     * Another connection just reached the database (the listener reconnected): close the
     * breaker at once rather than at the next probe, since the listener's subscribers now
     * drop what they cached and must be able to reload it.
     */
    reachable: markUp,
    /** False while the breaker is open. */
    get available() {
      return !down;
    },
    async close() {
      closed = true;
      clearTimeout(probeTimer);
      await Promise.all(pools.map((p) => p.current.end({ timeout: down ? 0 : 2 }).catch(() => {})));
    },
  };
}
