import { describe, expect, it } from "vitest";
import { crc32, generateKey, hashKey, isWellFormedKey } from "../src/key-format.js";

describe("key format", () => {
  it("is sk_live_ + 32 base62 + a 6-character checksum, with a 12-character prefix", () => {
    const { key, prefix, hash } = generateKey();
    expect(key).toMatch(/^sk_live_[0-9A-Za-z]{38}$/);
    expect(key).toHaveLength(46);
    expect(prefix).toBe(key.slice(0, 12));
    expect(hash).toBe(hashKey(key));
    expect(hash).toMatch(/^[0-9a-f]{64}$/);
    expect(isWellFormedKey(key)).toBe(true);
  });

  it("matches the standard CRC-32 (golden value)", () => {
    expect(crc32("123456789")).toBe(0xcbf43926);
    expect(hashKey("abc")).toBe("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  });

  it("rejects a wrong prefix, length, alphabet or checksum without any I/O", () => {
    const { key } = generateKey();
    const flip = (at: number) =>
      key.slice(0, at) + (key[at] === "a" ? "b" : "a") + key.slice(at + 1);
    for (const bad of [
      key.replace("sk_live_", "sk_test_"),
      key.slice(0, -1),
      `${key}0`,
      `${key.slice(0, 30)}-${key.slice(31)}`,
      `${key.slice(0, 30)}é${key.slice(31)}`,
      flip(20),
      flip(8),
      flip(39),
      flip(40),
      flip(45),
      `${key.slice(0, 40)}zzzzzz`,
      `${key.slice(0, 40)}000000`,
      `${key.slice(0, 8)}${"\u0130".repeat(32)}${key.slice(40)}`,
      "",
      "x".repeat(8192),
    ]) {
      expect(isWellFormedKey(bad), bad).toBe(false);
    }
  });

  it("draws 1,000 distinct keys with a roughly uniform alphabet", () => {
    const keys = Array.from({ length: 1000 }, () => generateKey().key);
    expect(new Set(keys).size).toBe(1000);
    const counts = new Map<string, number>();
    for (const key of keys)
      for (const c of key.slice(8, 40)) counts.set(c, (counts.get(c) ?? 0) + 1);
    expect(counts.size).toBe(62);
    const expected = (1000 * 32) / 62;
    const chiSquare = [...counts.values()].reduce(
      (sum, n) => sum + (n - expected) ** 2 / expected,
      0,
    );
    // 61 degrees of freedom: the 99.99th percentile is about 112.
    expect(chiSquare).toBeLessThan(112);
  });
});
