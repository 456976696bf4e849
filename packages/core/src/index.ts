// Primitives shared by the management API (@repo/api) and the data plane (@repo/gateway):
// the error table and envelope, tiers, the key format and its change channel, latency histograms,
// the addresses kept per key.
export { ApiError, ERRORS, errorBody, type ErrorBody, type ErrorCode } from "./errors.js";
export { toApiError } from "./error-mapping.js";
export { installErrorHandling, rawRefusals, sendError, sendErrorCode } from "./http-errors.js";
export {
  TIERS,
  TIER_NAMES,
  ALL_SCOPES,
  isTier,
  type Tier,
  type TierPolicy,
  type Scope,
} from "./tiers.js";
export {
  KEY_PREFIX,
  KEY_LENGTH,
  DISPLAY_PREFIX_LENGTH,
  crc32,
  generateKey,
  hashKey,
  isWellFormedKey,
  type GeneratedKey,
} from "./key-format.js";
export { KEY_CHANGES_CHANNEL, notifyKeysChanged } from "./key-events.js";
export * from "./histogram.js";
export { safeError } from "./safe-error.js";
export { MAX_ADDRESSES_PER_KEY } from "./address-limit.js";
export * from "./alert-events.js";
export * from "./route-table.js";
