// Sign-in throttles shared through Redis: a second server instance does not hand out more
// guesses. Each instance has its own Redis connection, as two processes would.
import { randomBytes } from "node:crypto";
import { DEFAULT_THROTTLE_POLICY } from "@repo/api";
import { deleteRedisKeys } from "@repo/gateway/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mutate, signUp, startTestApp, type TestApp } from "./harness.js";

const redisUrl = process.env.REDIS_URL;
if (!redisUrl) console.warn("\n  SKIPPING shared sign-in throttle tests: set REDIS_URL.\n");

describe.skipIf(!redisUrl)("sign-in throttles in Redis", () => {
  let first: TestApp;
  let second: TestApp;
  // Our own namespace: nothing else's counters are read or touched, and it is removed after.
  const prefix = `test:accounts:${randomBytes(6).toString("hex")}:`;

  beforeAll(async () => {
    const options = {
      gateway: { redisUrl, redisKeyPrefix: prefix },
      throttlePolicy: { ...DEFAULT_THROTTLE_POLICY, perAccountAddress: 4, slowDownAfter: 100 },
    };
    [first, second] = await Promise.all([startTestApp(options), startTestApp(options)]);
  }, 120_000);
  afterAll(async () => {
    await Promise.all([first?.close(), second?.close()]);
    await deleteRedisKeys(redisUrl!, prefix);
  });

  it("counts failures on one account from one address across both instances", async () => {
    const email = `shared-${randomBytes(4).toString("hex")}@example.com`;
    const statuses: number[] = [];
    for (const app of [first, second, first, second, first, second]) {
      const response = await mutate(app, "auth.signIn", { email, password: "wrong guess" });
      statuses.push(response.statusCode);
    }
    // Four failures in all were allowed, not four per instance.
    expect(statuses).toEqual([401, 401, 401, 401, 429, 429]);
  });

  it("slows an account down on both instances once either armed the delay", async () => {
    const account = await signUp(first);
    const slowed = await startTestApp({
      gateway: { redisUrl, redisKeyPrefix: prefix },
      throttlePolicy: { ...DEFAULT_THROTTLE_POLICY, slowDownAfter: 2, maxDelaySeconds: 30 },
    });
    try {
      for (let i = 0; i < 2; i++) {
        await mutate(slowed, "auth.signIn", { email: account.email, password: `wrong ${i}` });
      }
      const elsewhere = await mutate(second, "auth.signIn", {
        email: account.email,
        password: account.password,
      });
      expect(elsewhere.statusCode).toBe(429);
      expect(Number(elsewhere.headers["retry-after"])).toBeLessThanOrEqual(30);
    } finally {
      await slowed.close();
    }
  }, 120_000);
});
