import { describeError, isDatabaseUnavailable } from "@repo/db";
import { DataDirInUseError } from "./data-dir-lock.js";
import { ConfigError, configuredDatabaseUrl, configuredDataDir } from "./env.js";

function* causes(error: unknown): Generator<Record<string, unknown>> {
  let current = error;
  for (let depth = 0; current && typeof current === "object" && depth < 5; depth++) {
    yield current as Record<string, unknown>;
    current = (current as { cause?: unknown }).cause;
  }
}

/**
 * PGlite's file system (emscripten) reports errors as `ErrnoError` with emscripten's own errno
 * numbers, not Linux's (ENOSPC is 51 there, 28 on Linux): the ones an operator can act on.
 */
const EMSCRIPTEN_ERRNO: Record<number, string> = {
  2: "EACCES",
  51: "ENOSPC",
  63: "EPERM",
  69: "EROFS",
};

function codeOf(error: unknown): string | undefined {
  for (const cause of causes(error)) {
    if (typeof cause.code === "string") return cause.code;
    if (cause.name === "ErrnoError" && typeof cause.errno === "number") {
      const code = EMSCRIPTEN_ERRNO[cause.errno];
      if (code) return code;
    }
  }
  return undefined;
}

function pathOf(error: unknown): string | undefined {
  for (const cause of causes(error)) if (typeof cause.path === "string") return cause.path;
  return undefined;
}

/** Where the database is, without credentials (DATABASE_URL may hold a password). */
function databaseTarget(): string {
  try {
    const url = new URL(configuredDatabaseUrl() ?? "");
    return `${url.hostname}:${url.port || "5432"}${url.pathname}`;
  } catch {
    return "the configured database";
  }
}

/**
 * The one line printed when the server cannot start: the cause in words an operator acts on
 * (bad setting, directory in use, disk full, database unreachable), never a stack or SQL.
 */
export function startupFailure(error: unknown): string {
  if (error instanceof ConfigError) return error.message.replace(/\n\s*/g, " ");
  if (error instanceof DataDirInUseError) return error.message;
  const code = codeOf(error);
  // The embedded database's errors carry no path: then it is the data directory.
  const where = pathOf(error) ?? (configuredDatabaseUrl() ? undefined : configuredDataDir());
  if (code === "ENOSPC" || code === "53100") {
    return `disk full: no space left to write ${where ?? "the data directory"} (free some space and start again)`;
  }
  if (code === "EACCES" || code === "EPERM" || code === "EROFS") {
    return `cannot write ${where ?? "the data directory"} (${code}): check DATA_DIR and its permissions`;
  }
  if (isDatabaseUnavailable(error) || code === "ENOTFOUND" || code === "EAI_AGAIN") {
    return `database unreachable at ${databaseTarget()} (${code ?? "no answer"}): check DATABASE_URL and that PostgreSQL is running`;
  }
  if (code === "28P01" || code === "28000" || code === "3D000") {
    return `database refused the connection at ${databaseTarget()} (${code}): check DATABASE_URL's user, password and database name`;
  }
  const described = describeError(error);
  return `unexpected error (${[described.type, described.code, described.message].filter(Boolean).join(", ")})`;
}
