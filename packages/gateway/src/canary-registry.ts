import { canaryKeys, isNull, type Database } from "@repo/db";
import { safeError } from "@repo/core";
import type { FastifyBaseLogger, FastifyRequest } from "fastify";

/** An armed canary, as the data plane needs it to raise an alert. */
export interface CanaryRecord {
  id: string;
  ownerId: string;
  name: string;
  note: string;
  keyPrefix: string;
}

/**
 * The hashes of every armed canary, held in memory. Verification consults it only after a
 * presented key turned out unknown (same path, same I/O as any unknown key, so the answer and
 * its timing are the unknown key's). Reloaded whole on a change (NOTIFY, or this process's
 * own create/retire) and after a lost listener connection; a failed reload keeps the old set.
 */
export function createCanaryRegistry(db: Database, log: FastifyBaseLogger) {
  let byHash = new Map<string, CanaryRecord>();
  let reloading: Promise<void> | null = null;
  let again = false;

  async function loadAll() {
    const rows = await db
      .select({
        id: canaryKeys.id,
        ownerId: canaryKeys.ownerId,
        name: canaryKeys.name,
        note: canaryKeys.note,
        keyPrefix: canaryKeys.keyPrefix,
        keyHash: canaryKeys.keyHash,
      })
      .from(canaryKeys)
      .where(isNull(canaryKeys.retiredAt));
    byHash = new Map(rows.map(({ keyHash, ...record }) => [keyHash, record]));
  }

  /** Reloads; calls arriving during a reload coalesce into one more. */
  function reload(): Promise<void> {
    if (reloading) {
      again = true;
      return reloading;
    }
    reloading = (async () => {
      do {
        again = false;
        try {
          await loadAll();
        } catch (error) {
          log.warn({ error: safeError(error) }, "canary reload failed: keeping the previous set");
        }
      } while (again);
    })().finally(() => (reloading = null));
    return reloading;
  }

  return {
    get: (hash: string): CanaryRecord | undefined => byHash.get(hash),
    reload,
    /** Every armed canary's hash (for a membership filter of known keys). */
    hashes: (): Iterable<string> => byHash.keys(),
    get size() {
      return byHash.size;
    },
  };
}

export type CanaryRegistry = ReturnType<typeof createCanaryRegistry>;

/**
 * How the key was presented, for the alert (`bearer`, `x-api-key`, `query`, `basic`; several
 * joined with `+`). Only computed for canary uses, never on the hot path.
 */
export function credentialForm(request: FastifyRequest): string {
  const forms: string[] = [];
  const authorization = request.headers.authorization;
  if (typeof authorization === "string") {
    if (/^bearer[ \t]/i.test(authorization)) forms.push("bearer");
    else if (/^basic[ \t]/i.test(authorization)) forms.push("basic");
  }
  if (request.headers["x-api-key"] !== undefined) forms.push("x-api-key");
  const query = request.query as Record<string, unknown> | undefined;
  if (query?.api_key !== undefined) forms.push("query");
  return forms.join("+") || "unknown";
}
