// The management plane: tRPC routers, their services, sessions, and the REST adapter.
export { appRouter, createCaller, type AppRouter } from "./root.js";
export type { RouterInputs, RouterOutputs } from "./types.js";
export { registerApi } from "./http/register-management-api.js";
export type { ApiDeps } from "./deps.js";
export { createSessionManager, type SessionPolicy } from "./auth/session.js";
export {
  createAuthThrottle,
  DEFAULT_THROTTLE_POLICY,
  type ThrottlePolicy,
} from "./auth/throttle.js";
export { normalizeOrigin } from "./auth/request-guard.js";
export { createUser, listUsers, findUserByEmail, setUserTier } from "./services/user-accounts.js";
export {
  issuePasswordReset,
  resetSecondFactors,
  revokeSessions,
  setAccountDisabled,
} from "./services/account-admin.js";
export { passwordWeakness } from "./auth/password-policy.js";
export { totpCodeAt } from "./services/totp.js";
export {
  createDeliveryWorker,
  retryDelayMs,
  type DeliveryWorker,
} from "./webhooks/delivery-worker.js";
export { destinationPolicy, isCidr } from "./webhooks/ssrf-guard.js";
export { buildOpenApiDocument } from "./rest/openapi-document.js";
