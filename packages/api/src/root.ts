import { accountRouter } from "./routers/account-router.js";
import { auditRouter } from "./routers/audit-router.js";
import { authRouter } from "./routers/auth-router.js";
import { canariesRouter } from "./routers/canaries-router.js";
import { notificationsRouter } from "./routers/notifications-router.js";
import { webhooksRouter } from "./routers/webhooks-router.js";
import { keysRouter } from "./routers/keys-router.js";
import { createCallerFactory, router } from "./trpc.js";

export const appRouter = router({
  auth: authRouter,
  keys: keysRouter,
  audit: auditRouter,
  account: accountRouter,
  canaries: canariesRouter,
  webhooks: webhooksRouter,
  notifications: notificationsRouter,
});

export type AppRouter = typeof appRouter;
export const createCaller = createCallerFactory(appRouter);
