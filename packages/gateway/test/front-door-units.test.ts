import { randomBytes } from "node:crypto";
import { Redis } from "ioredis";
import { afterAll, describe, expect, it } from "vitest";
import { hashKey, generateKey } from "@repo/core";
import { addressGroup, createFailedAuthLimiter } from "../src/failed-auth-limiter.js";
import { BloomFilter } from "../src/key-filter.js";

describe("key filter", () => {
  it("never forgets a hash it was given, and rarely claims one it was not", () => {
    const filter = new BloomFilter(20_000);
    const added = Array.from({ length: 20_000 }, () => hashKey(generateKey().key));
    for (const hash of added) filter.add(hash);
    expect(added.every((hash) => filter.has(hash))).toBe(true);
    let falsePositives = 0;
    for (let i = 0; i < 20_000; i++) if (filter.has(hashKey(generateKey().key))) falsePositives++;
    // Sized for about 0.1% at capacity; 1% would still keep a flood's queries negligible.
    expect(falsePositives).toBeLessThan(200);
  });
  it("refuses what is not a SHA-256 hex digest", () => {
    const filter = new BloomFilter(10);
    expect(filter.has("not hex at all")).toBe(false);
  });
});

describe("failed-auth limiter", () => {
  it("groups IPv6 addresses by /64 and IPv4-mapped addresses as IPv4", () => {
    expect(addressGroup("2001:db8:1:2:aaaa::1")).toBe(addressGroup("2001:db8:1:2:ffff::9"));
    expect(addressGroup("2001:db8:1:2::1")).not.toBe(addressGroup("2001:db8:1:3::1"));
    expect(addressGroup("::ffff:203.0.113.5")).toBe("203.0.113.5");
    expect(addressGroup("203.0.113.5")).not.toBe(addressGroup("203.0.113.6"));
  });

  const redisUrl = process.env.REDIS_URL;
  const redis = redisUrl ? new Redis(redisUrl) : undefined;
  afterAll(() => redis?.disconnect());
  const backends = [["memory", undefined], ...(redis ? [["redis", redis] as const] : [])] as const;

  it.each(backends)(
    "%s: takes its point atomically before any lookup; a refund gives it back",
    async (_name, store) => {
      const limiter = createFailedAuthLimiter({
        perMinute: 10,
        redis: store,
        keyPrefix: `test:${randomBytes(6).toString("hex")}:`,
      });
      const ip = "2001:db8:7:7::1";
      // 100 at once from one /64: exactly the limit passes, however they interleave.
      const results = await Promise.all(
        // (In memory `take` answers synchronously; Redis answers with a promise.)
        Array.from({ length: 100 }, async (_, i) =>
          limiter.take(`2001:db8:7:7::${i.toString(16)}`),
        ),
      );
      expect(results.filter((r) => !r.blocked)).toHaveLength(10);
      expect(results.filter((r) => r.blocked).every((r) => r.retryAfter >= 1)).toBe(true);
      expect((await limiter.take("2001:db8:7:8::1")).blocked).toBe(false);
      // Refunds (keys that verified) bring the address back under its limit.
      for (let i = 0; i < 91; i++) limiter.refund(ip);
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect((await limiter.take(ip)).blocked).toBe(false);
    },
  );
});
