// First: holds a nextTick entry before anything else can queue ticks or collect garbage.
import "./keep-tick-shape.js";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { logDestination, loggerOptions } from "./access-log.js";
import { buildApp } from "./app.js";
import { openConfiguredDatabase } from "./database.js";
import { loadEnv } from "./env.js";
import { startupFailure } from "./startup-failure.js";

const DAY = 24 * 60 * 60;

async function main() {
  const env = loadEnv();
  // The app's logger once it exists (the database opens first).
  const log: { to?: Pick<Console, "warn" | "info"> } = {};
  const database = await openConfiguredDatabase(env, (state) => {
    if (state === "down") log.to?.warn("database unreachable: requests that need it get 503");
    else log.to?.info("database reachable again");
  });
  const here = path.dirname(fileURLToPath(import.meta.url));
  const app = await buildApp({
    database,
    publicUrl: env.publicUrl,
    allowedOrigins: env.allowedOrigins,
    sessionCookieName: env.SESSION_COOKIE_NAME,
    secureCookies: env.secureCookies,
    sessionIdleSeconds: env.SESSION_IDLE_DAYS * DAY,
    sessionAbsoluteSeconds: env.SESSION_ABSOLUTE_DAYS * DAY,
    signUpEnabled: env.SIGNUP_ENABLED,
    // Half the management pool: an account whose rows are locked leaves the other half free.
    changesInFlightPerAccount:
      database.kind === "postgres"
        ? Math.max(1, Math.floor(env.DATABASE_POOL_SIZE / 2))
        : undefined,
    trustProxy: env.trustProxy,
    // src/ in development, dist/ when built: the SPA build sits at apps/web/dist either way.
    webDistDir: env.WEB_DIST_DIR ?? path.resolve(here, "../../web/dist"),
    logger: { ...loggerOptions(env.LOG_LEVEL), stream: logDestination() },
    accessLogSuccessLinesPerSecond: env.ACCESS_LOG_SUCCESS_LINES_PER_SECOND,
    gateway: {
      redisUrl: env.REDIS_URL,
      redisKeyPrefix: env.REDIS_KEY_PREFIX,
      upstreamUrl: env.UPSTREAM_URL,
      dataApiOrigin: env.DATA_API_ORIGIN,
      scopeRules: env.SCOPE_MAP,
      keyCacheTtlSeconds: env.KEY_CACHE_TTL_SECONDS,
      keyCacheStaleSeconds: env.KEY_CACHE_STALE_SECONDS,
      usageFlushIntervalMs: env.USAGE_FLUSH_INTERVAL_MS,
      usageCoalesceAboveKeys: env.USAGE_COALESCE_ABOVE_KEYS,
      usageSpillDir: env.usageSpillDir,
      // Retry the last usage write for a third of the grace period, then spill it to a file.
      usageCloseDeadlineMs: Math.min(5_000, (env.SHUTDOWN_GRACE_SECONDS * 1000) / 3),
      usageAnalytics: env.USAGE_ANALYTICS,
      failedAuthPerMinute: env.FAILED_AUTH_PER_MINUTE,
    },
    webhooks: { allowedCidrs: env.WEBHOOK_ALLOWED_CIDRS },
  });
  // Buffered usage is written before the database goes away (the gateway's close is
  // idempotent, so its own onClose hook, whichever order Fastify runs it in, is harmless).
  log.to = { warn: (m: string) => app.log.warn(m), info: (m: string) => app.log.info(m) };
  let lostRequests = 0;
  app.addHook("onClose", async () => {
    lostRequests = await app.gateway.close();
    await database.close();
  });

  installShutdown(app, env.SHUTDOWN_GRACE_SECONDS, () => lostRequests);
  await app.listen({ host: env.HOST, port: env.PORT });
  app.log.info(
    { url: env.publicUrl.origin, database: database.kind },
    `Keyservice is ready at ${env.publicUrl.origin} (database: ${database.kind === "pglite" ? `embedded, ${env.dataDir}` : "postgres"})`,
  );
}

/**
 * SIGTERM/SIGINT: stop accepting connections, let in-flight requests finish, close the
 * database, exit 0 (1 if usage counts were lost: neither written nor spilled). A second
 * signal or an overrun of the grace period forces exit 1.
 */
function installShutdown(
  app: Awaited<ReturnType<typeof buildApp>>,
  graceSeconds: number,
  lostRequests: () => number,
) {
  let closing = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (closing) {
      app.log.warn({ signal }, "second signal: exiting immediately");
      process.exit(1);
    }
    closing = true;
    app.log.info({ signal }, "shutting down");
    const timer = setTimeout(() => {
      app.log.error("shutdown grace period exceeded: exiting");
      app.gateway.spillPendingUsage();
      process.exit(1);
    }, graceSeconds * 1000);
    timer.unref();
    app.close().then(
      () => process.exit(lostRequests() > 0 ? 1 : 0),
      () => process.exit(1),
    );
  };
  process.on("SIGTERM", onSignal);
  process.on("SIGINT", onSignal);
}

main().catch((error: unknown) => {
  process.stderr.write(`keyservice failed to start: ${startupFailure(error)}\n`);
  process.exit(1);
});
