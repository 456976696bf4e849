import type { Scenario } from "../src/types.js";

const mutation = (cookie: string) => ({
  cookie,
  "content-type": "application/json",
  "sec-fetch-site": "same-origin",
});

/** A signed-in user's key list (10 keys) vs one indexed query through the same driver. */
export const keysList: Scenario = {
  name: "keys: GET /api/v1/keys",
  description:
    "session cookie, 10 keys, REST adapter over the tRPC procedure, vs /bench/indexed-query",
  baseline: () => ({ path: "/bench/indexed-query" }),
  subject: (server) => ({ path: "/api/v1/keys", headers: { cookie: server.listCookie } }),
  goals: { minThroughputRatio: 0.5 },
};

/** Minting and revoking a key (each connection alternates) vs the same indexed query. */
export const keysCreateRevoke: Scenario = {
  name: "keys: POST /api/v1/keys + DELETE",
  // A run that ends between a create and its revoke leaves keys active: clear them so the
  // Pro allowance (50 active keys) never refuses the next measurement's creates. Creates still
  // in flight when the previous run stopped commit a little later, so let them land first.
  beforeSample: async (server) => {
    await new Promise((resolve) => setTimeout(resolve, 500));
    await fetch(`${server.url}/bench/revoke-churn-keys`, { method: "POST" });
  },
  description:
    "create (locked allowance check, insert, audit) then revoke (update, NOTIFY, audit), vs /bench/indexed-query",
  baseline: () => ({ path: "/bench/indexed-query" }),
  subject: (server) => ({
    path: "/api/v1/keys",
    steps: [
      {
        method: "POST",
        path: "/api/v1/keys",
        headers: mutation(server.churnCookie),
        body: JSON.stringify({ name: "bench-churn-key" }),
        capture: (body) => {
          const parsed = JSON.parse(body) as { data?: { id: string } };
          if (!parsed.data) throw new Error(`create failed: ${body}`);
          return parsed.data.id;
        },
      },
      {
        method: "DELETE",
        path: "/api/v1/keys/pending",
        headers: { cookie: server.churnCookie, "sec-fetch-site": "same-origin" },
        pathFrom: (id) => `/api/v1/keys/${id}`,
      },
    ],
  }),
};

/** 90 days of Pro-level rollups for one key vs the key list, same run: compare p95. */
export const keyUsage: Scenario = {
  name: "usage: GET /api/v1/keys/{id}/usage?days=90",
  description: "90 daily rollups of a busy Pro key, vs GET /api/v1/keys (baseline)",
  baseline: (server) => ({ path: "/api/v1/keys", headers: { cookie: server.listCookie } }),
  subject: (server) => ({
    path: `/api/v1/keys/${server.usageKeyId}/usage?days=90`,
    headers: { cookie: server.listCookie },
  }),
  goals: { maxP95Ratio: 5 },
};

/** The data plane with usage analytics recording on vs off (same process, same database). */
export const analyticsRecording: Scenario = {
  name: "data plane: analytics recording on vs off",
  description: "GET /api/v1/iocs with X-API-Key; baseline records key totals only",
  baseline: (server) => ({
    url: server.analyticsOffUrl,
    path: "/api/v1/iocs",
    headers: { "x-api-key": server.apiKey },
  }),
  subject: (server) => ({ path: "/api/v1/iocs", headers: { "x-api-key": server.apiKey } }),
  goals: { minThroughputRatio: 0.9 },
};
