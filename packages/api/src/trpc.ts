import { initTRPC } from "@trpc/server";
import { ApiError } from "@repo/core";
import { DEFAULT_CHANGES_IN_FLIGHT_PER_ACCOUNT } from "./deps.js";
import type { Context } from "./trpc-context.js";
import { toApiError } from "@repo/core";

const t = initTRPC.context<Context>().create({
  // Stack traces never leave the server, in any environment.
  isDev: false,
  errorFormatter({ shape, error }) {
    const apiError = toApiError(error);
    return {
      ...shape,
      message: apiError.message,
      data: {
        code: shape.data.code,
        httpStatus: apiError.status,
        path: shape.data.path,
        appCode: apiError.appCode,
        details: apiError.details ?? null,
      },
    };
  },
});

export const router = t.router;
export const createCallerFactory = t.createCallerFactory;
export const publicProcedure = t.procedure;

/** Changes in flight per account, per app (tests run several apps in one process). */
const changesInFlight = new WeakMap<object, Map<string, number>>();

/** Procedures for signed-in users: `ctx.user` and `ctx.sessionId` are non-null inside. */
export const protectedProcedure = t.procedure.use(async ({ ctx, type, next }) => {
  if (!ctx.user || !ctx.sessionId) throw new ApiError("not_authenticated");
  const signedIn = {
    ctx: {
      ...ctx,
      user: ctx.user,
      sessionId: ctx.sessionId,
      authenticatedAt: ctx.authenticatedAt ?? new Date(0),
    },
  };
  if (type !== "mutation") return next(signedIn);
  let counts = changesInFlight.get(ctx.deps);
  if (!counts) changesInFlight.set(ctx.deps, (counts = new Map<string, number>()));
  const userId = ctx.user.id;
  const inFlight = counts.get(userId) ?? 0;
  const cap = ctx.deps.changesInFlightPerAccount ?? DEFAULT_CHANGES_IN_FLIGHT_PER_ACCOUNT;
  if (inFlight >= cap) {
    throw new ApiError("service_unavailable", { headers: { "retry-after": "1" } });
  }
  counts.set(userId, inFlight + 1);
  try {
    return await next(signedIn);
  } finally {
    const left = (counts.get(userId) ?? 1) - 1;
    if (left > 0) counts.set(userId, left);
    else counts.delete(userId);
  }
});
