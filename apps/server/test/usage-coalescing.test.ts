import { afterAll, beforeAll, expect, it } from "vitest";
import { rest, signUp, startTestApp, type TestApp } from "./harness.js";

/**
 * `USAGE_COALESCE_ABOVE_KEYS`: past that many keys with usage waiting, each key's usage is
 * written once a minute at a slot of its own. 0 coalesces always, so one key shows it.
 */
let clock = Date.UTC(2026, 4, 14, 10, 0, 0);
let test: TestApp;
beforeAll(async () => {
  test = await startTestApp({
    now: () => new Date(clock),
    gateway: { usageFlushIntervalMs: 50, usageCoalesceAboveKeys: 0 },
  });
});
afterAll(async () => {
  await test.close();
});

const ticks = (n: number) => new Promise((resolve) => setTimeout(resolve, 50 * n));

it("holds a key's usage until its slot in the minute, then writes all of it; a flush writes it at once", async () => {
  const { cookie } = await signUp(test);
  const minted = await rest(test, "POST", "/api/v1/keys", { cookie, body: { name: "siem" } });
  expect(minted.statusCode, minted.body).toBe(201);
  const key = minted.json().data as { id: string; key: string };
  const use = async () => {
    const response = await test.app.inject({
      method: "GET",
      url: "/api/v1/iocs",
      headers: { authorization: `Bearer ${key.key}` },
    });
    expect(response.statusCode).toBe(200);
  };
  const stored = async () => {
    const response = await rest(test, "GET", `/api/v1/keys/${key.id}/usage?days=1`, { cookie });
    expect(response.statusCode, response.body).toBe(200);
    return (response.json().data as { total_requests: number }).total_requests;
  };

  for (let i = 0; i < 3; i++) await use();
  // Ten flush ticks at the same moment: the key's slot (its first one after this moment,
  // somewhere in the next minute) has not come, so nothing is written.
  await ticks(10);
  expect(test.app.gateway.usage.pendingRequests).toBe(3);
  expect(await stored()).toBe(0);

  // A minute later its slot has passed: the next tick writes the three requests.
  clock += 60_000;
  for (let i = 0; i < 40 && test.app.gateway.usage.pendingRequests > 0; i++) await ticks(1);
  expect(test.app.gateway.usage.pendingRequests).toBe(0);
  // The tick took them; its write may still be in flight (CI once read the usage before it
  // committed). A "due" flush waits for the write in flight and, the key having nothing
  // more due, writes nothing itself.
  expect(await test.app.gateway.usage.flush("due")).toBe(true);
  expect(await stored()).toBe(3);

  // A graceful flush (shutdown, `flush()`) does not wait for slots.
  await use();
  expect(await test.app.gateway.usage.flush()).toBe(true);
  expect(await stored()).toBe(4);
});
