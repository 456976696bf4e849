import {
  closeSync,
  mkdirSync,
  openSync,
  readFileSync,
  rmdirSync,
  statSync,
  unlinkSync,
  writeSync,
} from "node:fs";
import path from "node:path";

/**
 * One process per embedded database. PGlite has no lock of its own: two processes opening
 * one directory both accept writes and corrupt it. The first process to start writes
 * `DATA_DIR/keyservice.lock` (created exclusively: exactly one creator wins) holding its PID;
 * any other is refused before it opens the database. A lock whose process is gone (killed,
 * crashed, the machine restarted) is taken over.
 */

const LOCK_FILE = "keyservice.lock";
/** A takeover in progress older than this was abandoned by a process that died in it. */
const TAKEOVER_STALE_MS = 10_000;

/** The directory is held by a live process: the message says by whom and what to do. */
export class DataDirInUseError extends Error {
  override name = "DataDirInUseError";
  constructor(
    readonly dataDir: string,
    readonly pid: number,
  ) {
    super(
      `DATA_DIR ${dataDir} is in use by process ${pid} (the embedded database allows one process). ` +
        `Stop that process first, or set DATABASE_URL to use PostgreSQL, which allows several.`,
    );
  }
}

interface Holder {
  pid: number;
  /** The process's start time (Linux /proc), so a reused PID is not mistaken for the holder. */
  started: string | null;
}

/** The kernel's start time of a process, or null where /proc is not available. */
function startTimeOf(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Field 22, counted after the command name (which is in parentheses and may hold spaces).
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19] ?? null;
  } catch {
    return null;
  }
}

function isAlive(holder: Holder): boolean {
  try {
    process.kill(holder.pid, 0);
  } catch (error) {
    // EPERM: it exists but belongs to another user; it is alive.
    if ((error as NodeJS.ErrnoException).code !== "EPERM") return false;
  }
  // A PID reused since (a container's PID 1 after a restart, say) has another start time.
  const started = startTimeOf(holder.pid);
  return holder.started === null || started === null || started === holder.started;
}

function readHolder(file: string): Holder | null {
  try {
    const parsed = JSON.parse(readFileSync(file, "utf8")) as Partial<Holder>;
    if (typeof parsed.pid !== "number") return null;
    return { pid: parsed.pid, started: typeof parsed.started === "string" ? parsed.started : null };
  } catch {
    return null;
  }
}

function tryCreate(file: string): boolean {
  let fd: number;
  try {
    fd = openSync(file, "wx", 0o644);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw error;
  }
  try {
    const holder: Holder = { pid: process.pid, started: startTimeOf(process.pid) };
    writeSync(fd, JSON.stringify(holder));
  } finally {
    closeSync(fd);
  }
  return true;
}

/**
 * Removes a dead holder's lock. Takeovers are serialized by an exclusive directory, and the
 * lock is re-read inside it, so two processes finding the same stale lock cannot both remove
 * it (the second would otherwise remove the first one's fresh lock).
 */
function removeStaleLock(file: string, stale: Holder): void {
  const takeover = `${file}.takeover`;
  try {
    mkdirSync(takeover);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
    try {
      if (Date.now() - statSync(takeover).mtimeMs > TAKEOVER_STALE_MS) rmdirSync(takeover);
    } catch {
      // someone else finished it meanwhile
    }
    return;
  }
  try {
    const current = readHolder(file);
    const unchanged =
      stale.pid === -1
        ? current === null
        : current?.pid === stale.pid && current.started === stale.started;
    if (unchanged) unlinkSync(file);
  } finally {
    rmdirSync(takeover);
  }
}

export interface DataDirLock {
  readonly file: string;
  /** Removes the lock (only if it is still ours). Idempotent. */
  release(): void;
}

/**
 * Takes the lock on `dataDir` (created if missing) or throws `DataDirInUseError`. Nothing
 * in the directory but the lock file is touched. Released on `release` and at process exit.
 */
export function lockDataDir(dataDir: string): DataDirLock {
  mkdirSync(dataDir, { recursive: true });
  const file = path.join(dataDir, LOCK_FILE);
  for (let attempt = 0; ; attempt++) {
    if (tryCreate(file)) break;
    const holder = readHolder(file);
    if (holder === null) {
      // Being written this very moment, or garbage left by a crash mid-write.
      let modified: number;
      try {
        modified = statSync(file).mtimeMs;
      } catch {
        continue; // gone meanwhile: try again
      }
      if (Date.now() - modified > TAKEOVER_STALE_MS) {
        removeStaleLock(file, { pid: -1, started: null });
      }
    } else if (isAlive(holder)) {
      throw new DataDirInUseError(dataDir, holder.pid);
    } else {
      removeStaleLock(file, holder);
    }
    if (attempt >= 50) throw new DataDirInUseError(dataDir, holder?.pid ?? -1);
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
  }

  let released = false;
  const release = () => {
    if (released) return;
    released = true;
    process.off("exit", release);
    if (readHolder(file)?.pid === process.pid) {
      try {
        unlinkSync(file);
      } catch {
        // already gone
      }
    }
  };
  process.on("exit", release);
  return { file, release };
}
