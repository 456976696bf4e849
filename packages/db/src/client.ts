import { mkdirSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { PGlite } from "@electric-sql/pglite";
import { sql, type SQL } from "drizzle-orm";
import type { PgDatabase, PgQueryResultHKT } from "drizzle-orm/pg-core";
import { drizzle as drizzlePglite } from "drizzle-orm/pglite";
import { migrate as migratePglite } from "drizzle-orm/pglite/migrator";
import { drizzle as drizzlePostgres } from "drizzle-orm/postgres-js";
import { migrate as migratePostgres } from "drizzle-orm/postgres-js/migrator";
import postgres from "postgres";
import { createAvailability, readArrayTypes, type ArrayTypes } from "./availability.js";
import * as schema from "./schema/index.js";

export type Schema = typeof schema;
/** The one database type services take: Postgres and PGlite both satisfy it. */
export type Database = PgDatabase<PgQueryResultHKT, Schema>;
export type Transaction = Parameters<Parameters<Database["transaction"]>[0]>[0];
/** Either the database or an open transaction on it. */
export type Executor = Database | Transaction;

/**
 * Runs a raw SQL query and returns its rows, whichever driver answers (postgres.js returns
 * the rows themselves, PGlite an object holding them).
 */
export async function queryRows<T>(db: Executor, query: SQL): Promise<T[]> {
  const result: unknown = await db.execute(query);
  return (Array.isArray(result) ? result : (result as { rows: unknown[] }).rows) as T[];
}

/**
 * First statement of a transaction that writes a batch of rows by primary key (the usage
 * flush): plan its reads as the rows' pages are, in memory or on SSD, where a random read
 * costs about what a sequential one does (1.1 instead of Postgres's default 4, the usual
 * setting for SSDs). With the default, the planner joined a 2,000-key batch by hashing all of
 * `api_keys` (100 ms for 100,000 keys, against 10 ms for 2,000 index lookups), so the cost
 * of a flush grew with the keys stored, not the keys written. It now scans the table only
 * while it holds fewer than about 30 rows per key in the batch, where a scan costs about
 * what the lookups do.
 */
export const RANDOM_READS_ARE_CHEAP = sql`set local random_page_cost = 1.1`;

export type DatabaseOptions =
  | {
      kind: "postgres";
      url: string;
      /** Connections in this process's pool. */
      poolSize?: number;
      /** Seconds to wait for a connection before failing (requests then get 503). */
      connectTimeoutSeconds?: number;
      /** Server-side cap on any one statement, in milliseconds. */
      statementTimeoutMs?: number;
      /** Told when the database becomes unreachable and when it answers again. */
      onAvailabilityChange?: (state: "down" | "up", error?: unknown) => void;
    }
  | {
      kind: "pglite";
      /** Directory to persist to; omitted = in memory (tests). */
      dataDir?: string;
    };

export interface DatabaseHandle {
  db: Database;
  /**
   * The data plane's key lookups, on connections of their own (Postgres), so a management
   * request stuck behind a row lock cannot starve key verification.
   */
  dataPlaneDb: Database;
  /** The usage writer's own connection, for the same reason. */
  usageDb: Database;
  kind: "postgres" | "pglite";
  /** False while the database is known to be unreachable (requests then fail at once). */
  readonly available: boolean;
  /** Cheap round trip for readiness checks. */
  ping(): Promise<void>;
  /**
   * Subscribes to a Postgres NOTIFY channel. `onReconnect` runs whenever the listening
   * connection was lost and re-established, since notifications may have been missed.
   */
  listen(
    channel: string,
    onNotify: (payload: string) => void,
    onReconnect?: () => void,
  ): Promise<{ unlisten(): Promise<void> }>;
  notify(channel: string, payload: string): Promise<void>;
  close(): Promise<void>;
}

const migrationsFolder = path.join(
  path.dirname(createRequire(import.meta.url).resolve("@repo/db/package.json")),
  "migrations",
);

/** Serializes migrations when several server processes start against one database. */
const MIGRATION_LOCK_ID = 727_274_001;

export async function openDatabase(options: DatabaseOptions): Promise<DatabaseHandle> {
  return options.kind === "postgres" ? openPostgres(options) : openPglite(options);
}

/** Longest wait for a free connection before a query fails with 503. */
const ACQUIRE_TIMEOUT_MS = 1_500;
/** How often an unreachable database is tried again (recovery within this plus a connect). */
const PROBE_INTERVAL_MS = 250;
/** How long closing a subscription may wait for the database to confirm it. */
const UNLISTEN_TIMEOUT_MS = 1_000;

/** Waits for `work` at most `ms` (its failure is ignored: it only tidies up a connection). */
async function withTimeout(work: Promise<unknown> | undefined, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    Promise.resolve(work).catch(() => {}),
    new Promise<void>((resolve) => (timer = setTimeout(resolve, ms))),
  ]);
  clearTimeout(timer);
}

async function openPostgres(
  options: Extract<DatabaseOptions, { kind: "postgres" }>,
): Promise<DatabaseHandle> {
  const connectTimeout = options.connectTimeoutSeconds ?? 1.5;
  // Migrations run on their own single connection under an advisory lock; it also reads the
  // array types every later connection starts with.
  let arrayTypes: ArrayTypes;
  const migrator = postgres(options.url, {
    max: 1,
    connect_timeout: connectTimeout,
    onnotice: () => {},
  });
  try {
    await migrator`select pg_advisory_lock(${MIGRATION_LOCK_ID})`;
    await migratePostgres(drizzlePostgres(migrator, { casing: "snake_case" }), {
      migrationsFolder,
    });
    await migrator`select pg_advisory_unlock(${MIGRATION_LOCK_ID})`;
    arrayTypes = readArrayTypes(migrator);
  } finally {
    await migrator.end({ timeout: 5 });
  }

  const listeners: {
    channel: string;
    onNotify: (payload: string) => void;
    onReconnect?: (() => void) | undefined;
    unlisten?: () => Promise<void>;
  }[] = [];
  const makeListener = () =>
    postgres(options.url, { max: 1, connect_timeout: connectTimeout, onnotice: () => {} });
  let listenerClient = makeListener();
  async function subscribe(entry: (typeof listeners)[number]) {
    // postgres.js re-issues LISTEN on a new connection after a drop and calls onlisten again.
    let first = true;
    const sub = await listenerClient.listen(entry.channel, entry.onNotify, () => {
      if (!first) {
        availability.reachable();
        entry.onReconnect?.();
      }
      first = false;
    });
    entry.unlisten = () => sub.unlisten();
  }
  /**
   * After an outage the listening connection may sit in postgres.js's reconnect backoff for
   * many seconds, missing notifications: it is replaced at once, and every subscriber is told
   * that it may have missed some.
   */
  async function resubscribe() {
    const old = listenerClient;
    listenerClient = makeListener();
    void old.end({ timeout: 0 }).catch(() => {});
    for (const entry of listeners) {
      await subscribe(entry).catch(() => {});
      entry.onReconnect?.();
    }
  }

  const availability = createAvailability({
    url: options.url,
    arrayTypes,
    connectTimeoutSeconds: connectTimeout,
    acquireTimeoutMs: ACQUIRE_TIMEOUT_MS,
    probeIntervalMs: PROBE_INTERVAL_MS,
    onChange(state, error) {
      options.onAvailabilityChange?.(state, error);
      if (state === "up") void resubscribe();
    },
  });
  const settings = (statementTimeoutMs: number, lockTimeoutMs: number) => ({
    statement_timeout: statementTimeoutMs,
    lock_timeout: lockTimeoutMs,
    idle_in_transaction_session_timeout: 10_000,
  });
  const drizzleOn = (client: postgres.Sql): Database =>
    drizzlePostgres(client, { schema, casing: "snake_case" });
  // Row-lock waits fail fast (55P03 → 503, the transaction rolled back) rather than holding
  // a connection that other accounts' requests need.
  const main = availability.pool(
    options.poolSize ?? 10,
    settings(options.statementTimeoutMs ?? 5_000, 1_500),
  );
  const db = drizzleOn(main);
  const dataPlaneDb = drizzleOn(availability.pool(2, settings(1_500, 1_000)));
  const usageDb = drizzleOn(availability.pool(1, settings(5_000, 1_000)));
  return {
    db,
    dataPlaneDb,
    usageDb,
    kind: "postgres",
    get available() {
      return availability.available;
    },
    async ping() {
      await main.unsafe("select 1");
    },
    async listen(channel, onNotify, onReconnect) {
      const entry: (typeof listeners)[number] = { channel, onNotify, onReconnect };
      await subscribe(entry);
      listeners.push(entry);
      return {
        unlisten: async () => {
          listeners.splice(listeners.indexOf(entry), 1);
          // UNLISTEN is a query on the listening connection: while the database is down it
          // would wait on postgres.js's reconnect (a shutdown then hung past its grace period
          // before the usage buffer could be spilled). The connection is ended at close anyway.
          if (!availability.available) return;
          await withTimeout(entry.unlisten?.(), UNLISTEN_TIMEOUT_MS);
        },
      };
    },
    async notify(channel, payload) {
      await main.unsafe("select pg_notify($1, $2)", [channel, payload]);
    },
    async close() {
      await Promise.all([
        availability.close(),
        listenerClient.end({ timeout: availability.available ? 2 : 0 }).catch(() => {}),
      ]);
    },
  };
}

async function openPglite(
  options: Extract<DatabaseOptions, { kind: "pglite" }>,
): Promise<DatabaseHandle> {
  if (options.dataDir) mkdirSync(options.dataDir, { recursive: true });
  const client = options.dataDir ? new PGlite(options.dataDir) : new PGlite();
  const db: Database = drizzlePglite(client, { schema, casing: "snake_case" });
  await migratePglite(drizzlePglite(client, { casing: "snake_case" }), { migrationsFolder });
  return {
    db,
    dataPlaneDb: db,
    usageDb: db,
    kind: "pglite",
    available: true,
    async ping() {
      await db.execute(sql`select 1`);
    },
    async listen(channel, onNotify) {
      // One in-process database: the connection cannot be lost, so no reconnect callback.
      const unsub = await client.listen(channel, onNotify);
      return { unlisten: unsub };
    },
    async notify(channel, payload) {
      await client.query("select pg_notify($1, $2)", [channel, payload]);
    },
    async close() {
      await client.close();
    },
  };
}
