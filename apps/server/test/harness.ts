import { Writable } from "node:stream";
import { DEFAULT_THROTTLE_POLICY } from "@repo/api";
import { onTestKeyInserted, waitUntilKnown } from "@repo/api/testing";
import { createTestDatabase, type TestDatabase } from "@repo/db/testing";
import type { LightMyRequestResponse } from "fastify";
import { flushAccessLines, loggerOptions } from "../src/access-log.js";
import { buildApp, type AppOptions } from "../src/app.js";

export const ORIGIN = "http://localhost:3000";
export const EVIL = "https://evil.test";

/** Headers a same-origin browser sends with a dashboard mutation. */
export const SAME_ORIGIN = {
  origin: ORIGIN,
  "sec-fetch-site": "same-origin",
  "content-type": "application/json",
};

export type TestApp = Awaited<ReturnType<typeof startTestApp>>;

/**
 * The real server app on a fresh database (Postgres when TEST_DATABASE_URL is set, else
 * PGlite), with every log line captured so tests can check what was written. With
 * `overrides.database`, a second server instance on that database (closed, not dropped).
 */
export async function startTestApp(
  overrides: Partial<AppOptions> = {},
  /** Runs on the built app before it is ready (extra hooks or routes under test). */
  beforeReady?: (app: Awaited<ReturnType<typeof buildApp>>) => void,
) {
  const shared = overrides.database;
  const database: TestDatabase = shared
    ? { ...shared, url: undefined, dispose: () => shared.close() }
    : await createTestDatabase(process.env.TEST_DATABASE_URL);
  const logs: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      logs.push(chunk.toString());
      done();
    },
  });
  const app = await buildApp({
    database,
    publicUrl: new URL(ORIGIN),
    allowedOrigins: [ORIGIN],
    sessionCookieName: "sb-access-token",
    secureCookies: false,
    sessionIdleSeconds: 7 * 86_400,
    sessionAbsoluteSeconds: 30 * 86_400,
    signUpEnabled: true,
    trustProxy: false,
    webDistDir: undefined,
    logger: { ...loggerOptions("info"), stream },
    // Test files sign up many accounts from one address; throttles are tested with their own.
    throttlePolicy: {
      ...DEFAULT_THROTTLE_POLICY,
      signUpsPerAddress: 10_000,
      keyCreatesPerMinute: 10_000,
    },
    ...overrides,
  });
  beforeReady?.(app);
  await app.ready();
  // Keys tests insert straight into the database are usable once this gateway has them.
  const stopWaiting = onTestKeyInserted(
    waitUntilKnown(database.db, (hash) => app.gateway.keyFilter.mightExist(hash)),
  );
  return {
    app,
    database,
    db: database.db,
    /** Every line written so far, access lines still held for their batched write included. */
    get logs() {
      flushAccessLines();
      return logs;
    },
    async close() {
      stopWaiting();
      await app.close();
      await database.dispose();
    },
  };
}

export interface SetCookie {
  name: string;
  value: string;
  attributes: Record<string, string | true>;
}

export function parseSetCookies(response: LightMyRequestResponse): SetCookie[] {
  const header = response.headers["set-cookie"];
  const lines = header === undefined ? [] : Array.isArray(header) ? header : [header];
  return lines.map((line) => {
    const [pair = "", ...attrs] = line.split(";").map((part) => part.trim());
    const eq = pair.indexOf("=");
    const attributes: Record<string, string | true> = {};
    for (const attr of attrs) {
      const i = attr.indexOf("=");
      if (i === -1) attributes[attr.toLowerCase()] = true;
      else attributes[attr.slice(0, i).toLowerCase()] = attr.slice(i + 1);
    }
    return { name: pair.slice(0, eq), value: pair.slice(eq + 1), attributes };
  });
}

/** Calls a tRPC mutation the way the SPA does. */
export function mutate(
  test: TestApp,
  path: string,
  input: unknown,
  options: { cookie?: string; headers?: Record<string, string> } = {},
) {
  return test.app.inject({
    method: "POST",
    url: `/trpc/${path}`,
    headers: {
      ...SAME_ORIGIN,
      ...(options.cookie ? { cookie: options.cookie } : {}),
      ...options.headers,
    },
    payload: input === undefined ? undefined : JSON.stringify(input),
  });
}

export function query(
  test: TestApp,
  path: string,
  options: { cookie?: string; input?: unknown } = {},
) {
  const search =
    options.input === undefined
      ? ""
      : `?input=${encodeURIComponent(JSON.stringify(options.input))}`;
  return test.app.inject({
    method: "GET",
    url: `/trpc/${path}${search}`,
    headers: options.cookie ? { cookie: options.cookie } : {},
  });
}

/** Signs up a fresh account and returns its cookie header value. */
export async function signUp(
  test: TestApp,
  email = uniqueEmail(),
  password = "correct horse battery",
) {
  const response = await mutate(test, "auth.signUp", { email, password });
  if (response.statusCode !== 200) throw new Error(`sign-up failed: ${response.body}`);
  const cookie = parseSetCookies(response).find((c) => c.name === "sb-access-token");
  if (!cookie) throw new Error("no session cookie");
  return { email, password, cookie: `sb-access-token=${cookie.value}`, token: cookie.value };
}

let counter = 0;
export function uniqueEmail(): string {
  counter += 1;
  return `analyst${counter}.${Date.now()}@example.com`;
}

/** Calls the REST management API the way the documentation's browser snippets do. */
export function rest(
  test: TestApp,
  method: "GET" | "POST" | "DELETE" | "PUT" | "PATCH" | "OPTIONS" | "TRACE",
  url: string,
  options: { cookie?: string; body?: unknown; headers?: Record<string, string> } = {},
) {
  const hasBody = options.body !== undefined;
  return test.app.inject({
    method,
    url,
    headers: {
      ...(method === "GET" ? {} : { origin: ORIGIN, "sec-fetch-site": "same-origin" }),
      ...(hasBody ? { "content-type": "application/json" } : {}),
      ...(options.cookie ? { cookie: options.cookie } : {}),
      ...options.headers,
    },
    payload: hasBody ? JSON.stringify(options.body) : undefined,
  });
}
