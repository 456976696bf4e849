// The per-account bound on changes in flight (trpc.ts): one account's stuck changes cannot
// hold the whole connection pool. Procedures here block until released, so "in flight" is
// exact; nothing else of the app is involved (no I/O).
import { describe, expect, it } from "vitest";
import { toApiError } from "@repo/core";
import type { ApiDeps } from "../src/deps.js";
import { createCallerFactory, protectedProcedure, router } from "../src/trpc.js";

/** The context of a signed-in request (only what the middleware reads is real). */
const signedIn = (deps: ApiDeps, userId: string) => ({
  deps,
  user: { id: userId, email: `${userId}@example.com`, tier: "free" as const },
  sessionId: `session-${userId}`,
  authenticatedAt: new Date(),
  cookieHeader: undefined,
  meta: { ip: "127.0.0.1", userAgent: undefined },
  setCookie: () => {},
});

function blockingApp(cap?: number) {
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  const app = router({
    change: protectedProcedure.mutation(async () => {
      await gate;
      return "done";
    }),
    read: protectedProcedure.query(async () => {
      await gate;
      return "read";
    }),
  });
  const deps = { changesInFlightPerAccount: cap } as ApiDeps;
  const callerFor = (userId: string) => createCallerFactory(app)(signedIn(deps, userId));
  return { callerFor, release };
}

/** "ok", or the error code the client would get. */
const outcome = (promise: Promise<unknown>) =>
  promise.then(
    () => "ok",
    (error: unknown) => toApiError(error).appCode,
  );

describe("changes in flight per account", () => {
  it("refuses an account's fifth concurrent change at once, not another account's", async () => {
    const { callerFor, release } = blockingApp();
    const busy = callerFor("busy");
    const held = Array.from({ length: 4 }, () => outcome(busy.change()));
    expect(await outcome(busy.change())).toBe("service_unavailable");
    // Reads are not bounded, and another account still gets its changes through.
    const read = outcome(busy.read());
    const other = outcome(callerFor("other").change());
    release();
    expect(await Promise.all(held)).toEqual(["ok", "ok", "ok", "ok"]);
    expect(await read).toBe("ok");
    expect(await other).toBe("ok");
    // Finished changes free their places.
    expect(await outcome(busy.change())).toBe("ok");
  });

  it("frees the place of a change that failed", async () => {
    const failing = router({
      change: protectedProcedure.mutation(() => {
        throw new Error("a bug");
      }),
    });
    const deps = { changesInFlightPerAccount: 1 } as ApiDeps;
    const caller = createCallerFactory(failing)(signedIn(deps, "u"));
    for (let i = 0; i < 3; i++) expect(await outcome(caller.change())).toBe("internal_error");
  });
});
