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
