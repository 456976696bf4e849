/**
 * A benchmark server process: the real app (buildApp) on a fresh database (PostgreSQL when
 * TEST_DATABASE_URL is set, else in-memory PGlite), plus `/bench/bare`, a plain route on the
 * same Fastify instance returning the echo body, so a comparison isolates the data plane.
 * Prints one JSON line ({url, apiKey}) when ready; stops on SIGTERM.
 */
import { randomBytes } from "node:crypto";
import { createUser, DEFAULT_THROTTLE_POLICY } from "@repo/api";
import { insertTestKey } from "@repo/api/testing";
import { and, apiKeys, eq, isNull, usageDays, users } from "@repo/db";
import { createTestDatabase } from "@repo/db/testing";
import { buildApp } from "../../apps/server/src/app.js";

const database = await createTestDatabase(process.env.TEST_DATABASE_URL);
const appOptions = (usageAnalytics: boolean): Parameters<typeof buildApp>[0] => ({
  database,
  publicUrl: new URL("http://127.0.0.1"),
  allowedOrigins: [],
  sessionCookieName: "sb-access-token",
  secureCookies: false,
  sessionIdleSeconds: 86_400,
  sessionAbsoluteSeconds: 86_400,
  signUpEnabled: false,
  trustProxy: false,
  webDistDir: undefined,
  logger: false,
  // Key churn at benchmark rates is the point of one scenario: no per-account create throttle.
  throttlePolicy: { ...DEFAULT_THROTTLE_POLICY, keyCreatesPerMinute: 1_000_000_000 },
  gateway: {
    redisUrl: process.env.REDIS_URL,
    redisKeyPrefix: `keyservice:bench:${randomBytes(6).toString("hex")}:`,
    usageAnalytics,
  },
});
const app = await buildApp(appOptions(true));

// A Pro key whose limits a run can never reach, so every request is a 200.
const key = await insertTestKey(database.db, {
  tier: "pro",
  perMinute: 2_000_000_000,
  perDay: 2_000_000_000,
});

// Server CPU time, so runs can report CPU per request (steadier than req/s on a busy machine).
app.get("/bench/cpu", () => process.cpuUsage());
let indexedUserId = "";
// The key-management baseline: one indexed query through the same driver, no auth.
app.get("/bench/indexed-query", async () => {
  const [row] = await database.db
    .select({ id: users.id, tier: users.tier })
    .from(users)
    .where(eq(users.id, indexedUserId));
  return { data: row };
});

let body: unknown = null;
app.get("/bench/bare", (_request, reply) => {
  void reply.header("cache-control", "no-store");
  return body;
});

let churnUserId = "";
app.post("/bench/revoke-churn-keys", async () => {
  await database.db
    .update(apiKeys)
    .set({ revokedAt: new Date() })
    .where(and(eq(apiKeys.ownerId, churnUserId), isNull(apiKeys.revokedAt)));
  return { ok: true };
});

// Key management: a Pro account with 10 keys (one with 90 days of Pro-level usage rollups)
// and an empty Pro account for create + revoke, each with a real session.
async function signedInProAccount(name: string): Promise<{ id: string; cookie: string }> {
  const email = `${name}-${randomBytes(4).toString("hex")}@bench.test`;
  const password = "bench passphrase";
  const user = await createUser(database.db, { email, password, tier: "pro" });
  const response = await app.inject({
    method: "POST",
    url: "/trpc/auth.signIn",
    headers: { "content-type": "application/json", "sec-fetch-site": "same-origin" },
    payload: JSON.stringify({ email, password }),
  });
  const cookie = String(response.headers["set-cookie"]).split(";")[0]!;
  return { id: user.id, cookie };
}
const listAccount = await signedInProAccount("list");
indexedUserId = listAccount.id;
const churnAccount = await signedInProAccount("churn");
churnUserId = churnAccount.id;
const listKeyIds: string[] = [];
for (let i = 0; i < 10; i++) {
  const created = await app.inject({
    method: "POST",
    url: "/api/v1/keys",
    headers: {
      cookie: listAccount.cookie,
      "content-type": "application/json",
      "sec-fetch-site": "same-origin",
    },
    payload: JSON.stringify({ name: `prod-siem-${i}`, expires_in_days: 90 }),
  });
  listKeyIds.push(created.json<{ data: { id: string } }>().data.id);
}
const usageKeyId = listKeyIds[0]!;
await database.db.insert(usageDays).values(proLevelRollups(usageKeyId, 90));

/** 90 days of rollups as a busy Pro key would leave them (~800k requests a day). */
function proLevelRollups(keyId: string, days: number) {
  const today = Date.UTC(
    new Date().getUTCFullYear(),
    new Date().getUTCMonth(),
    new Date().getUTCDate(),
  );
  const routes = [
    "/api/v1/articles",
    "/api/v1/iocs",
    "/api/v1/lookup",
    "/api/v1/iocs/stix",
    "/api/v1/iocs/cef",
    "/api/v1/iocs/misp",
    "/api/v1/articles/:id",
    "/api/v1/iocs/search",
    "/api/taxii2/api/collections",
    "/api/v1/iocs/openioc",
    "/api/v1/iocs/stats",
    "/api/v1/iocs/sigma",
  ];
  return Array.from({ length: days }, (_, d) => {
    const requests = 700_000 + ((d * 7919) % 200_000);
    const buckets = Array.from({ length: 140 }, (_, i) =>
      Math.round((requests * Math.exp(-((i - 70) ** 2) / 300)) / 30),
    );
    return {
      keyId,
      day: new Date(today - d * 86_400_000).toISOString().slice(0, 10),
      requests,
      byStatus: {
        "200": requests - 9_000,
        "304": 2_000,
        "400": 1_500,
        "401": 100,
        "403": 400,
        "404": 3_000,
        "429": 1_800,
        "500": 200,
      },
      routes: Object.fromEntries(routes.map((route, i) => [route, Math.floor(requests / (i + 2))])),
      latencySumMs: requests * 180,
      latencyBuckets: buckets,
      peakMinuteRequests: 990,
      rateLimitedByHour: Array.from({ length: 24 }, (_, h) => (h % 5 === 0 ? 75 : 0)),
    };
  });
}

const sample = await app.inject({ url: "/api/v1/iocs", headers: { "x-api-key": key.key } });
if (sample.statusCode !== 200) throw new Error(`echo failed: ${sample.statusCode}`);
body = sample.json();

const url = await app.listen({ host: "127.0.0.1", port: 0 });

// A second app on the same database with usage analytics off, for the recording-cost scenario.
const analyticsOff = await buildApp(appOptions(false));
analyticsOff.get("/bench/cpu", () => process.cpuUsage());
const analyticsOffUrl = await analyticsOff.listen({ host: "127.0.0.1", port: 0 });

process.stdout.write(
  `${JSON.stringify({
    url,
    analyticsOffUrl,
    apiKey: key.key,
    listCookie: listAccount.cookie,
    churnCookie: churnAccount.cookie,
    usageKeyId,
  })}\n`,
);

process.once("SIGTERM", () => {
  void Promise.all([app.close(), analyticsOff.close()])
    .then(() => database.dispose())
    .then(() => process.exit(0));
});
