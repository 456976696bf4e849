import type { FaultScenario, Scenario } from "../src/types.js";
import { dataPlaneEcho } from "./data-plane-echo.js";
import { dataPlaneEchoRedis } from "./data-plane-echo-redis.js";
import { scale } from "./scale.js";
import { calibrationVsBare, dataPlaneVsBare, healthzVsBare } from "./separate-baseline.js";
import { analyticsRecording, keysCreateRevoke, keysList, keyUsage } from "./key-management.js";
import { postgresRestart } from "./postgres-restart.js";
import { alertsEnabled } from "./alerts-enabled.js";
import {
  forgedKeyFlood,
  refused401,
  refused401Missing,
  refused403,
  refused429,
  refusedFlood429,
} from "./front-door.js";

/** Every scenario `npm run bench` runs, in order. */
export const scenarios: Scenario[] = [
  healthzVsBare,
  dataPlaneVsBare,
  calibrationVsBare,
  refused429,
  refused401,
  refused401Missing,
  refused403,
  refusedFlood429,
  forgedKeyFlood,
  dataPlaneEcho,
  dataPlaneEchoRedis,
  analyticsRecording,
  alertsEnabled,
  keysList,
  keysCreateRevoke,
  keyUsage,
  scale,
];

/** Runs under faults, after the comparisons. */
export const faultScenarios: FaultScenario[] = [postgresRestart];
