import path from "node:path";
import { fileURLToPath } from "node:url";
import { buildApp, loggerOptions } from "./app.js";
import { openConfiguredDatabase } from "./database.js";
import { describeError } from "@repo/db";
import { ConfigError, loadEnv } from "./env.js";

const DAY = 24 * 60 * 60;

async function main() {
  const env = loadEnv();
  const database = await openConfiguredDatabase(env);
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
    trustProxy: env.trustProxy,
    // src/ in development, dist/ when built: the SPA build sits at apps/web/dist either way.
    webDistDir: env.WEB_DIST_DIR ?? path.resolve(here, "../../web/dist"),
    logger: loggerOptions(env.LOG_LEVEL),
    gateway: {
      redisUrl: env.REDIS_URL,
      redisKeyPrefix: env.REDIS_KEY_PREFIX,
      upstreamUrl: env.UPSTREAM_URL,
      scopeRules: env.SCOPE_MAP,
      keyCacheTtlSeconds: env.KEY_CACHE_TTL_SECONDS,
      usageFlushIntervalMs: env.USAGE_FLUSH_INTERVAL_MS,
      usageAnalytics: env.USAGE_ANALYTICS,
      failedAuthPerMinute: env.FAILED_AUTH_PER_MINUTE,
    },
  });
  // Buffered usage is written before the database goes away (the gateway's close is
  // idempotent, so its own onClose hook, whichever order Fastify runs it in, is harmless).
  app.addHook("onClose", async () => {
    await app.gateway.close();
    await database.close();
  });

  installShutdown(app, env.SHUTDOWN_GRACE_SECONDS);
  await app.listen({ host: env.HOST, port: env.PORT });
  app.log.info(
    { url: env.publicUrl.origin, database: database.kind },
    `Keyservice is ready at ${env.publicUrl.origin} (database: ${database.kind === "pglite" ? `embedded, ${env.dataDir}` : "postgres"})`,
  );
}

/**
 * SIGTERM/SIGINT: stop accepting connections, let in-flight requests finish, close the
 * database, exit 0. A second signal or an overrun of the grace period forces exit 1.
 */
function installShutdown(app: Awaited<ReturnType<typeof buildApp>>, graceSeconds: number) {
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
      process.exit(1);
    }, graceSeconds * 1000);
    timer.unref();
    app.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on("SIGTERM", onSignal);
  process.on("SIGINT", onSignal);
}

main().catch((error: unknown) => {
  // Configuration errors are written for people; anything else is reported by its codes only.
  const message =
    error instanceof ConfigError ? error.message : JSON.stringify(describeError(error));
  process.stderr.write(`keyservice failed to start: ${message}\n`);
  process.exit(1);
});
