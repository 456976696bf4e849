import { initTRPC } from "@trpc/server";
import { ApiError } from "./errors.js";
import type { Context } from "./context.js";
import { toApiError } from "./http/error-mapping.js";

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

/** Procedures for signed-in users: `ctx.user` and `ctx.sessionId` are non-null inside. */
export const protectedProcedure = t.procedure.use(({ ctx, next }) => {
  if (!ctx.user || !ctx.sessionId) throw new ApiError("not_authenticated");
  return next({ ctx: { ...ctx, user: ctx.user, sessionId: ctx.sessionId } });
});
