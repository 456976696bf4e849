import type { Scenario } from "../src/types.js";
import { dataPlaneEcho } from "./data-plane-echo.js";
import { dataPlaneEchoRedis } from "./data-plane-echo-redis.js";
import { analyticsRecording, keysCreateRevoke, keysList, keyUsage } from "./key-management.js";

/** Every scenario `npm run bench` runs, in order. */
export const scenarios: Scenario[] = [
  dataPlaneEcho,
  dataPlaneEchoRedis,
  analyticsRecording,
  keysList,
  keysCreateRevoke,
  keyUsage,
];
