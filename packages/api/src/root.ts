import { auditRouter } from "./routers/audit.js";
import { authRouter } from "./routers/auth.js";
import { keysRouter } from "./routers/keys.js";
import { createCallerFactory, router } from "./trpc.js";

export const appRouter = router({
  auth: authRouter,
  keys: keysRouter,
  audit: auditRouter,
});

export type AppRouter = typeof appRouter;
export const createCaller = createCallerFactory(appRouter);
