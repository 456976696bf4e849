export { appRouter, createCaller, type AppRouter } from "./root.js";
export type { RouterInputs, RouterOutputs } from "./types.js";
export { registerApi } from "./http/plugin.js";
export { installErrorHandling, sendError, sendErrorCode } from "./http/errors.js";
export { ApiError, ERRORS, type ErrorCode } from "./errors.js";
export type { ApiDeps } from "./deps.js";
export { createSessionManager, type SessionPolicy } from "./auth/session.js";
export {
  createAuthThrottle,
  DEFAULT_THROTTLE_POLICY,
  type ThrottlePolicy,
} from "./auth/throttle.js";
export { normalizeOrigin } from "./auth/request-guard.js";
export { createUser, listUsers, findUserByEmail, setUserTier } from "./services/users.js";
export { TIERS, TIER_NAMES, isTier, type Tier } from "./config/tiers.js";
export { KEY_CHANGES_CHANNEL } from "./keys/events.js";
export { generateKey, hashKey, isWellFormedKey, KEY_PREFIX } from "./keys/format.js";
export { registerGateway, type GatewayPluginOptions } from "./gateway/plugin.js";
export { verifyApiKey, createGateway, type Gateway, type Verification } from "./gateway/verify.js";
export { extractCredential } from "./gateway/extract.js";
export { DEFAULT_SCOPE_RULES, scopeMapSchema, type ScopeRule } from "./gateway/scopes.js";
export type { UsageSink, UsageBatch, UsageEvent } from "./gateway/usage.js";
export * from "./gateway/histogram.js";
