import { randomBytes } from "node:crypto";
import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, writeSync } from "node:fs";
import { readdir, readFile, rename, unlink, writeFile } from "node:fs/promises";
import path from "node:path";
import { KEYS_PER_WRITE, rollUpDays, type KeyUsage, type UsageSink } from "./usage-meter.js";

/**
 * Usage that could not be written at shutdown (the database was unreachable) goes to a
 * spill file instead of being lost; the next start writes it to the database and deletes
 * the file. Files are JSON, one per shutdown, named so that several processes sharing the
 * directory never overwrite each other; a replay claims a file by renaming it first, so two
 * processes starting together cannot both count it.
 */

const PREFIX = "usage-";
const SUFFIX = ".json";

interface SpillFile {
  /** 2 since cells are per hour and named `cells`; version 1 named its minute cells `minutes`. */
  version: 1 | 2;
  /** The recorder's buffer as it stands: plain numbers and arrays only. */
  keys: KeyUsage[];
}

/** A key's usage as version 1 spilled it: its cells per minute, under `minutes`. */
type SpilledUsage = KeyUsage & { minutes?: KeyUsage["cells"] };

/** Requests held in some keys' usage. */
export function requestsIn(keys: readonly KeyUsage[]): number {
  let n = 0;
  for (const usage of keys) n += usage.requests;
  return n;
}

/**
 * Writes `keys` durably (temporary file, fsync, rename) and returns the file's path.
 * Synchronous: it runs at shutdown, where nothing else is left to do.
 */
export function spillUsage(dir: string, keys: readonly KeyUsage[]): string {
  const content: SpillFile = { version: 2, keys: [...keys] };
  mkdirSync(dir, { recursive: true });
  const name = `${PREFIX}${Date.now()}-${process.pid}-${randomBytes(4).toString("hex")}`;
  const temporary = path.join(dir, `${name}.tmp`);
  const file = path.join(dir, `${name}${SUFFIX}`);
  const fd = openSync(temporary, "wx", 0o600);
  try {
    writeSync(fd, JSON.stringify(content));
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  // Only a complete file ever carries the name a replay looks for.
  renameSync(temporary, file);
  return file;
}

export interface ReplayResult {
  files: number;
  requests: number;
  /** Files left for the next start (the write failed). */
  kept: string[];
}

/** Writes every spill file in `dir` to the sink and deletes it; a failed one stays. */
export async function replaySpilledUsage(dir: string, sink: UsageSink): Promise<ReplayResult> {
  const result: ReplayResult = { files: 0, requests: 0, kept: [] };
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return result; // no directory: nothing was ever spilled
  }
  for (const name of names) {
    if (!name.startsWith(PREFIX) || !name.endsWith(SUFFIX)) continue;
    const file = path.join(dir, name);
    const claimed = `${file}.replaying-${process.pid}`;
    try {
      await rename(file, claimed);
    } catch {
      continue; // another process claimed it
    }
    let keys: KeyUsage[] = [];
    let written = 0;
    try {
      keys = (JSON.parse(await readFile(claimed, "utf8")) as SpillFile).keys;
      for (const usage of keys as SpilledUsage[]) {
        // Minute cells merge into days exactly as hour cells do.
        usage.cells ??= usage.minutes ?? [];
        delete usage.minutes;
        // Files spilled before migration 0008 have no peak per minute cell: this process's own
        // quota in that minute is the best known for it.
        for (const cell of usage.cells) cell.peakMinuteQuota ??= cell.quotaUsed;
      }
      // Bounded writes, as the recorder makes them (each one all or nothing).
      while (written < keys.length) {
        const chunk = keys.slice(written, written + KEYS_PER_WRITE);
        await sink.write({ keys: chunk, days: rollUpDays(chunk) });
        written += chunk.length;
      }
      await unlink(claimed);
      result.files++;
      result.requests += requestsIn(keys);
    } catch {
      // Keep only what was not written, so the next attempt cannot count anything twice.
      if (written > 0) {
        const rest: SpillFile = { version: 1, keys: keys.slice(written) };
        await writeFile(claimed, JSON.stringify(rest)).catch(() => {});
      }
      await rename(claimed, file).catch(() => {});
      result.kept.push(file);
    }
  }
  return result;
}
