import type { Scenario } from "../src/types.js";

/**
 * The data plane for an account with webhooks and notifications on (3 endpoints, every event)
 * vs an account without: quota-warning, revoked-key and new-address detection must cost O(1)
 * per request and no I/O (issue 16: within 5%).
 */
export const alertsEnabled: Scenario = {
  name: "data plane with alerts on",
  description:
    "GET /api/v1/iocs, key of an account with 3 webhook endpoints on every event vs an account with none",
  baseline: (server) => ({ path: "/api/v1/iocs", headers: { "x-api-key": server.apiKey } }),
  subject: (server) => ({ path: "/api/v1/iocs", headers: { "x-api-key": server.alertsApiKey } }),
  goals: { minThroughputRatio: 0.95 },
};
