import { request as httpRequest } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateKey } from "@repo/core";
import { apiKeys, eq } from "@repo/db";
import { startTestApp, type TestApp } from "./harness.js";
import { createKey, keyRow } from "./gateway-helpers.js";

/**
 * The fast lane (fast-lane.ts) answers `/healthz` and data requests, accepted or refused,
 * over HTTP in front of Fastify; `inject` always takes Fastify's path. Every request below is
 * sent both ways, each way with its own key configured alike, and the answers must be the
 * same: status, every header, the body. Only what differs by nature is set aside: the request id, the
 * Date, the connection headers of a real socket, and the quota's reset second.
 */
let test: TestApp;
let base: string;

beforeAll(async () => {
  test = await startTestApp({ gateway: { failedAuthPerMinute: 100_000 } });
  await test.app.listen({ host: "127.0.0.1", port: 0 });
  const address = test.app.server.address() as { port: number };
  base = `http://127.0.0.1:${address.port}`;
});
afterAll(async () => {
  await test.close();
});

interface Answer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** Headers a real socket adds and `inject` does not, and values that differ per request. */
const SET_ASIDE = new Set(["date", "connection", "keep-alive", "transfer-encoding"]);

function normalized(answer: Answer) {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(answer.headers)) {
    if (SET_ASIDE.has(name)) continue;
    headers[name] = name === "x-request-id" ? value.replace(/^req_[0-9a-f]{32}$/, "req_X") : value;
  }
  if (headers["x-ratelimit-reset"]) headers["x-ratelimit-reset"] = "reset";
  // Seconds left in the window: the two paths answer a moment apart, perhaps across a second
  // boundary (bothWays compares the two values within a second of each other).
  if (headers["retry-after"]) headers["retry-after"] = "retry";
  const body = answer.body
    .replace(/req_[0-9a-f]{32}/g, "req_X")
    .replace(/"reset":\d+/g, '"reset":0')
    .replace(/"retry_after":\d+/g, '"retry_after":0')
    .replace(/"id":"[0-9a-f-]{36}"/g, '"id":"key"')
    .replace(/sk_live_[0-9A-Za-z]+/g, "sk_live_X")
    .replace(/"key_prefix":"[^"]+"/g, '"key_prefix":"prefix"');
  return { status: answer.status, headers, body };
}

/** The server log's lines that mention `id` (a request id). */
function logLinesWith(id: string): string[] {
  return test.logs
    .join("")
    .split("\n")
    .filter((line) => line.includes(id));
}

async function overHttp(path: string, headers: Record<string, string>): Promise<Answer> {
  const response = await fetch(`${base}${path}`, { headers });
  return {
    status: response.status,
    headers: Object.fromEntries(response.headers),
    body: await response.text(),
  };
}

async function injected(path: string, headers: Record<string, string>): Promise<Answer> {
  const response = await test.app.inject({ method: "GET", url: path, headers });
  const flat: Record<string, string> = {};
  for (const [name, value] of Object.entries(response.headers)) {
    flat[name] = Array.isArray(value) ? value.join(", ") : String(value);
  }
  return { status: response.statusCode, headers: flat, body: response.body };
}

type KeyOptions = Parameters<typeof createKey>[1];

/**
 * Sends `request(key)` through both paths, each with a fresh key made by `options`, after
 * `warm` accepted requests on each (so both keys are in memory, or not, alike, with the same
 * quota left).
 */
async function bothWays(
  options: KeyOptions,
  request: (key: string) => { path: string; headers?: Record<string, string> },
  warm = 1,
) {
  const answers: Answer[] = [];
  const lanes: number[] = [];
  for (const send of [overHttp, injected]) {
    const key = await createKey(test.db, options);
    for (let i = 0; i < warm; i++) {
      expect((await send("/api/v1/iocs", { "x-api-key": key.key })).status).toBe(200);
    }
    const { path, headers = {} } = request(key.key);
    const before = test.app.fastLane.served;
    answers.push(await send(path, headers));
    lanes.push(test.app.fastLane.served - before);
  }
  const [http, fastify] = answers.map((answer) => normalized(answer));
  expect(http).toEqual(fastify);
  const retryAfter = answers.map((answer) => answer.headers["retry-after"]);
  if (retryAfter[0] !== undefined) {
    expect(Math.abs(Number(retryAfter[0]) - Number(retryAfter[1]))).toBeLessThanOrEqual(1);
    for (const answer of answers) {
      expect(answer.headers["retry-after"]).toMatch(/^[1-9]\d*$/);
      expect(answer.body).toContain(`"retry_after":${answer.headers["retry-after"]}}`);
    }
  }
  expect(lanes[1]).toBe(0);
  return { answer: http!, servedByLane: lanes[0] === 1 };
}

const PRO: KeyOptions = { tier: "pro", perMinute: 50, perDay: 1_000 };

describe("the fast lane answers as Fastify's routes do", () => {
  it("GET /healthz probes are summed up in the log, not written one by one", async () => {
    const before = test.app.fastLane.served;
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push((await overHttp("/healthz", {})).headers["x-request-id"]!);
    expect(test.app.fastLane.served).toBe(before + 3);
    const lines = test.logs.join("").split("\n").filter(Boolean);
    for (const id of ids) expect(lines.some((line) => line.includes(id))).toBe(false);
    const summaries = lines
      .map((line) => JSON.parse(line) as { msg: string; probes?: number; addresses?: string[] })
      .filter((line) => line.msg === "health probes answered");
    expect(summaries.reduce((sum, line) => sum + line.probes!, 0)).toBeGreaterThanOrEqual(3);
    expect(summaries.at(-1)!.addresses).toContain("127.0.0.1");
  });

  it("GET /healthz: same status, headers and body, answered by the lane", async () => {
    const before = test.app.fastLane.served;
    const http = await overHttp("/healthz", {});
    expect(test.app.fastLane.served).toBe(before + 1);
    expect(normalized(http)).toEqual(normalized(await injected("/healthz", {})));
    expect(http.headers["x-request-id"]).toMatch(/^req_[0-9a-f]{32}$/);
    expect(http.headers["content-security-policy"]).toBe(
      "default-src 'none'; frame-ancestors 'none'",
    );
  });

  it.each([
    ["X-API-Key", (key: string) => ({ path: "/api/v1/iocs", headers: { "x-api-key": key } })],
    [
      "Bearer in odd case",
      (key: string) => ({
        path: "/api/v1/iocs/stats",
        headers: { authorization: `bEaReR ${key}` },
      }),
    ],
    ["?api_key=", (key: string) => ({ path: `/api/v1/articles?api_key=${key}&page=2` })],
    ["?API-KEY=", (key: string) => ({ path: `/api/v1/lookup?value=1.2.3.4&API-KEY=${key}` })],
    ["whoami", (key: string) => ({ path: "/api/v1/whoami", headers: { "x-api-key": key } })],
    [
      "TAXII with Basic",
      (key: string) => ({
        path: "/api/taxii2/",
        headers: { authorization: `Basic ${Buffer.from(`:${key}`).toString("base64")}` },
      }),
    ],
  ])("accepted (%s): the lane answers, the same answer", async (_name, request) => {
    const { answer, servedByLane } = await bothWays(PRO, request);
    expect(answer.status).toBe(200);
    expect(servedByLane).toBe(true);
  });

  it.each([
    ["no credential", () => ({ path: "/api/v1/iocs" })],
    [
      "a forged key",
      () => ({ path: "/api/v1/iocs", headers: { "x-api-key": `sk_live_${"A".repeat(40)}` } }),
    ],
    [
      // Well formed, so refused only after the key filter's round trip: answered after a wait.
      "a well-formed key no one has",
      () => ({ path: "/api/v1/iocs", headers: { "x-api-key": generateKey().key } }),
    ],
    [
      "two different credentials",
      (key: string) => ({
        path: `/api/v1/iocs?api_key=${key}x`,
        headers: { "x-api-key": key },
      }),
    ],
    ["bad percent-encoding", (key: string) => ({ path: `/api/v1/iocs?q=%zz&api_key=${key}` })],
    [
      "an export without the export scope",
      (key: string) => ({ path: "/api/v1/articles?format=csv", headers: { "x-api-key": key } }),
    ],
    [
      "a repeated export parameter",
      (key: string) => ({
        path: "/api/v1/articles?format=json&format=csv",
        headers: { "x-api-key": key },
      }),
    ],
    [
      "a scope the key lacks",
      (key: string) => ({ path: "/api/v1/iocs/stix", headers: { "x-api-key": key } }),
    ],
  ])("refused (%s): the lane answers, the same answer", async (_name, request) => {
    const { answer, servedByLane } = await bothWays({ tier: "free" }, request);
    expect(answer.status).toBeGreaterThanOrEqual(400);
    expect(answer.status).toBeLessThan(500);
    expect(JSON.parse(answer.body).error.request_id).toBe("req_X");
    expect(servedByLane).toBe(true);
  });

  it("an address outside the key's allowed list: refused by the lane, same answer", async () => {
    const { answer, servedByLane } = await bothWays(
      { tier: "pro", allowedIps: ["203.0.113.0/24"] },
      (key) => ({ path: "/api/v1/iocs", headers: { "x-api-key": key } }),
      0,
    );
    expect(answer.status).toBe(403);
    expect(servedByLane).toBe(true);
  });

  it("past the per-minute limit: the lane answers the 429, same answer", async () => {
    const { answer, servedByLane } = await bothWays(
      { tier: "pro", perMinute: 2 },
      (key) => ({ path: "/api/v1/iocs", headers: { "x-api-key": key } }),
      2,
    );
    expect(answer.status).toBe(429);
    // Present on both paths (normalized; bothWays checks the values, whole seconds).
    expect(answer.headers["retry-after"]).toBe("retry");
    expect(servedByLane).toBe(true);
  });

  it("a revoked key (it raises an alert): 401 from Fastify after the lane's lookup, same answer", async () => {
    const answers: Answer[] = [];
    let served = 0;
    for (const send of [overHttp, injected]) {
      const key = await createKey(test.db, PRO);
      expect((await send("/api/v1/iocs", { "x-api-key": key.key })).status).toBe(200);
      await test.db.update(apiKeys).set({ revokedAt: new Date() }).where(eq(apiKeys.id, key.id));
      test.app.gateway.keysChanged([key.hash]);
      const before = test.app.fastLane.served;
      answers.push(await send("/api/v1/iocs", { "x-api-key": key.key }));
      served += test.app.fastLane.served - before;
    }
    expect(answers[0]!.status).toBe(401);
    expect(normalized(answers[0]!)).toEqual(normalized(answers[1]!));
    expect(served).toBe(0);
    // Fastify's answer carries its own request id; the access log has one line for it.
    const id = answers[0]!.headers["x-request-id"]!;
    const lines = logLinesWith(id);
    expect(lines.filter((line) => line.includes('"msg":"request completed"'))).toHaveLength(1);
  });
});

describe("what the lane checked is not checked again", () => {
  it("a key not yet in memory: the lane answers once it is read, the limiter takes one request", async () => {
    const key = await createKey(test.db, { tier: "pro", perMinute: 5 });
    test.app.gateway.keys.clear();
    const before = test.app.fastLane.served;
    const first = await overHttp("/api/v1/iocs", { "x-api-key": key.key });
    expect(first.status).toBe(200);
    expect(test.app.fastLane.served).toBe(before + 1);
    expect(first.headers["x-ratelimit-remaining"]).toBe("4");
    const second = await overHttp("/api/v1/iocs", { "x-api-key": key.key });
    expect(test.app.fastLane.served).toBe(before + 2);
    expect(second.headers["x-ratelimit-remaining"]).toBe("3");
  });

  it("usage counts each request once, whichever path answered it", async () => {
    const key = await createKey(test.db, { tier: "pro", perMinute: 3 });
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) {
      statuses.push((await overHttp("/api/v1/iocs", { "x-api-key": key.key })).status);
    }
    expect(statuses).toEqual([200, 200, 200, 429]);
    expect(await test.app.gateway.usage.flush()).toBe(true);
    expect((await keyRow(test.db, key.id)).totalRequests).toBe(4);
  });

  it("the access log has one line per request the lane answered, URL secrets redacted", async () => {
    const key = await createKey(test.db, PRO);
    await overHttp("/api/v1/whoami", { "x-api-key": key.key });
    const before = test.app.fastLane.served;
    const answer = await overHttp(`/api/v1/articles?page=1&api_key=${key.key}`, {});
    expect(test.app.fastLane.served).toBe(before + 1);
    const id = answer.headers["x-request-id"]!;
    const lines = logLinesWith(id);
    expect(lines).toHaveLength(1);
    const line = JSON.parse(lines[0]!);
    expect(line).toMatchObject({
      level: 30,
      reqId: id,
      req: { method: "GET", url: "/api/v1/articles?page=1&api_key=[REDACTED]" },
      res: { statusCode: 200 },
      msg: "request completed",
    });
    expect(line.req.remoteAddress).toBe("127.0.0.1");
    expect(lines[0]).not.toContain(key.key);
  });
});

describe("the lane's refusals in the access log", () => {
  it.each([
    ["no credential", () => ({})],
    [
      "a well-formed key no one has, refused after a wait",
      () => ({ "x-api-key": generateKey().key }),
    ],
  ])("%s: one line with the refusal's status", async (_name, headers) => {
    const before = test.app.fastLane.served;
    const answer = await overHttp("/api/v1/iocs?page=1", headers());
    expect(answer.status).toBe(401);
    expect(test.app.fastLane.served).toBe(before + 1);
    const id = answer.headers["x-request-id"]!;
    const lines = logLinesWith(id);
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!)).toMatchObject({
      reqId: id,
      req: { method: "GET", url: "/api/v1/iocs?page=1" },
      res: { statusCode: 401 },
      msg: "request completed",
    });
  });
});

describe("requests the lane leaves to Fastify", () => {
  it.each([
    ["HEAD", "HEAD", undefined],
    ["a GET with a body", "GET", "x"],
    ["POST", "POST", "{}"],
  ])("%s of a data route", async (_name, method, body) => {
    const key = await createKey(test.db, PRO);
    await overHttp("/api/v1/whoami", { "x-api-key": key.key });
    const before = test.app.fastLane.served;
    const status = await new Promise<number>((resolve, reject) => {
      const request = httpRequest(`${base}/api/v1/iocs`, {
        method,
        headers: {
          "x-api-key": key.key,
          "content-type": "text/plain",
          // Node frames a GET's body only when told its length.
          ...(body === undefined ? {} : { "content-length": String(body.length) }),
        },
      });
      request.on("response", (response) => {
        response.resume();
        resolve(response.statusCode!);
      });
      request.on("error", reject);
      request.end(body);
    });
    expect(status).toBe(200);
    expect(test.app.fastLane.served).toBe(before);
  });

  it("a path the router would decode or normalize", async () => {
    const key = await createKey(test.db, PRO);
    const before = test.app.fastLane.served;
    for (const path of ["/api/v1/%69ocs", "/api/v1/iocs/", "/API/v1/iocs", "/api/v1/iocs;x"]) {
      const answer = await overHttp(path, { "x-api-key": key.key });
      const fastify = await injected(path, { "x-api-key": key.key });
      expect(answer.status).toBe(fastify.status);
    }
    expect(test.app.fastLane.served).toBe(before);
  });

  it("behind a trusted proxy the lane is off: X-Forwarded-For is Fastify's to resolve", async () => {
    const proxied = await startTestApp({ trustProxy: ["127.0.0.1"] });
    try {
      await proxied.app.listen({ host: "127.0.0.1", port: 0 });
      const { port } = proxied.app.server.address() as { port: number };
      const key = await createKey(proxied.db, { tier: "pro", allowedIps: ["198.51.100.7"] });
      const response = await fetch(`http://127.0.0.1:${port}/api/v1/iocs`, {
        headers: { "x-api-key": key.key, "x-forwarded-for": "198.51.100.7" },
      });
      expect(response.status).toBe(200);
      expect(proxied.app.fastLane.served).toBe(0);
    } finally {
      await proxied.close();
    }
  });
});
