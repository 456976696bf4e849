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
    }
  | {
      kind: "pglite";
      /** Directory to persist to; omitted = in memory (tests). */
      dataDir?: string;
    };

export interface DatabaseHandle {
  db: Database;
  kind: "postgres" | "pglite";
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

async function openPostgres(
  options: Extract<DatabaseOptions, { kind: "postgres" }>,
): Promise<DatabaseHandle> {
  const connection = {
    statement_timeout: options.statementTimeoutMs ?? 5_000,
    lock_timeout: 3_000,
    idle_in_transaction_session_timeout: 10_000,
  };
  const common = {
    connect_timeout: options.connectTimeoutSeconds ?? 5,
    idle_timeout: 30,
    max_lifetime: 60 * 30,
    onnotice: () => {},
    connection,
  };

  // Migrations run on their own single connection under an advisory lock.
  const migrator = postgres(options.url, { ...common, max: 1 });
  try {
    await migrator`select pg_advisory_lock(${MIGRATION_LOCK_ID})`;
    await migratePostgres(drizzlePostgres(migrator, { casing: "snake_case" }), {
      migrationsFolder,
    });
    await migrator`select pg_advisory_unlock(${MIGRATION_LOCK_ID})`;
  } finally {
    await migrator.end({ timeout: 5 });
  }

  const client = postgres(options.url, { ...common, max: options.poolSize ?? 10 });
  const db: Database = drizzlePostgres(client, { schema, casing: "snake_case" });
  return {
    db,
    kind: "postgres",
    async ping() {
      await client`select 1`;
    },
    async listen(channel, onNotify, onReconnect) {
      // postgres.js re-issues LISTEN on a new connection after a drop and calls onlisten again.
      let first = true;
      const sub = await client.listen(channel, onNotify, () => {
        if (!first) onReconnect?.();
        first = false;
      });
      return { unlisten: () => sub.unlisten() };
    },
    async notify(channel, payload) {
      await client.notify(channel, payload);
    },
    async close() {
      await client.end({ timeout: 5 });
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
    kind: "pglite",
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
