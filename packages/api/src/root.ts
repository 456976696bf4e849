import { authRouter } from "./routers/auth.js";
import { createCallerFactory, router } from "./trpc.js";

export const appRouter = router({
  auth: authRouter,
});

export type AppRouter = typeof appRouter;
export const createCaller = createCallerFactory(appRouter);
