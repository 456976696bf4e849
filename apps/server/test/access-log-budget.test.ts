import { afterAll, beforeAll, expect, it } from "vitest";
import { startTestApp, type TestApp } from "./harness.js";
import { createKey } from "./gateway-helpers.js";

/**
 * The access log's budget for successful answers (ACCESS_LOG_SUCCESS_LINES_PER_SECOND), on
 * the running server: answers of the fast lane and of Fastify are counted alike, and a
 * refused request is written whatever the budget. The budget's arithmetic over time is in
 * access-log.test.ts, on a fake clock.
 */
let test: TestApp;
let base: string;

beforeAll(async () => {
  test = await startTestApp({
    accessLogSuccessLinesPerSecond: 0,
    gateway: { failedAuthPerMinute: 100_000 },
  });
  await test.app.listen({ host: "127.0.0.1", port: 0 });
  base = `http://127.0.0.1:${(test.app.server.address() as { port: number }).port}`;
});
afterAll(async () => {
  await test.close();
});

interface Line {
  msg: string;
  reqId?: string;
  res?: { statusCode: number };
  notWritten?: number;
}

it("with a budget of 0, counts every successful answer of either path and writes every refusal", async () => {
  const key = await createKey(test.db, { tier: "pro", perMinute: 50, perDay: 1_000 });
  const other = await createKey(test.db, { tier: "pro", perMinute: 50, perDay: 1_000 });
  const lanesBefore = test.app.fastLane.served;
  const statuses: number[] = [];
  const refused: string[] = [];
  const send = async (init: RequestInit & { headers: Record<string, string> }) => {
    const response = await fetch(`${base}/api/v1/iocs`, init);
    await response.arrayBuffer();
    statuses.push(response.status);
    if (response.status >= 400) refused.push(response.headers.get("x-request-id")!);
  };
  // All but the HEAD are the lane's (the first once its key is read, the refusals too); a
  // HEAD is always Fastify's.
  for (let i = 0; i < 3; i++) await send({ headers: { "x-api-key": key.key } });
  await send({ method: "HEAD", headers: { "x-api-key": key.key } });
  await send({ headers: { "x-api-key": `${key.key.slice(0, -4)}AAAA` } });
  await send({ headers: {} });
  // Two keys at once: refused as ambiguous.
  await send({ headers: { "x-api-key": key.key, authorization: `Bearer ${other.key}` } });
  expect(statuses).toEqual([200, 200, 200, 200, 401, 401, 400]);
  expect(test.app.fastLane.served - lanesBefore).toBe(6);

  const lines = test.logs
    .join("")
    .split("\n")
    .filter(Boolean)
    .map((line) => JSON.parse(line) as Line);
  const written = lines.filter((line) => line.msg === "request completed");
  expect(written.filter((line) => line.res!.statusCode < 400)).toEqual([]);
  expect(written.map((line) => line.reqId)).toEqual(refused);
  const counted = lines
    .filter((line) => line.msg === "successful requests not written")
    .reduce((sum, line) => sum + line.notWritten!, 0);
  expect(counted).toBe(4);
});
