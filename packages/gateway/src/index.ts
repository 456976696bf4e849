// The data plane: API-key verification, key cache, limits, usage metering and the upstream proxy.
export {
  registerGateway,
  type DataFastLane,
  type FastLaneRequest,
  type GatewayPluginOptions,
} from "./gateway-routes.js";
export {
  verifyApiKey,
  KEY_SWEEP_SLICE,
  createGateway,
  type Gateway,
  type GatewayOptions,
  type Verification,
} from "./verify.js";
export { extractCredential } from "./extract-credential.js";
export { createAddressRecorder } from "./address-recorder.js";
export { DEFAULT_SCOPE_RULES, scopeMapSchema, type ScopeRule } from "./scopes.js";
export {
  COALESCE_MS,
  KEYS_PER_WRITE,
  createPostgresUsageSink,
  createUsageRecorder,
  type UsageSink,
  type UsageBatch,
  type UsageEvent,
} from "./usage-meter.js";
