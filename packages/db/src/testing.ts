import { randomBytes } from "node:crypto";
import postgres from "postgres";
import { openDatabase, type DatabaseHandle } from "./client.js";

export * from "./private-postgres.js";

export interface TestDatabase extends DatabaseHandle {
  /** Connection string of the created database (Postgres only), for extra processes. */
  url: string | undefined;
  /** Closes the handle and drops the database it created. */
  dispose(): Promise<void>;
}

/**
 * A fresh, migrated database for one test file: a new Postgres database on the server
 * named by `adminUrl` (dropped again by `dispose`), or an in-memory PGlite without it.
 */
export async function createTestDatabase(adminUrl: string | undefined): Promise<TestDatabase> {
  if (!adminUrl) {
    const handle = await openDatabase({ kind: "pglite" });
    return { ...handle, url: undefined, dispose: () => handle.close() };
  }
  const name = `keyservice_test_${randomBytes(6).toString("hex")}`;
  const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
  try {
    await admin.unsafe(`create database ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  const handle = await openDatabase({ kind: "postgres", url: url.toString(), poolSize: 10 });
  return {
    ...handle,
    url: url.toString(),
    async dispose() {
      await handle.close();
      const dropper = postgres(adminUrl, { max: 1, onnotice: () => {} });
      try {
        await dropper.unsafe(`drop database if exists ${name} with (force)`);
      } finally {
        await dropper.end();
      }
    },
  };
}
