import { describe, expect, it } from "vitest";
import { expiresSoon, keyStatus } from "./key-status.js";

const now = new Date("2026-05-17T12:00:00Z");
const days = (n: number) => new Date(now.getTime() + n * 86_400_000).toISOString();

describe("keyStatus", () => {
  it("is active without revocation or expiry", () => {
    expect(keyStatus({ revoked_at: null, expires_at: null }, now)).toBe("active");
    expect(keyStatus({ revoked_at: null, expires_at: days(3) }, now)).toBe("active");
  });

  it("is expired from the moment of expiry", () => {
    expect(keyStatus({ revoked_at: null, expires_at: now.toISOString() }, now)).toBe("expired");
    expect(keyStatus({ revoked_at: null, expires_at: days(-1) }, now)).toBe("expired");
  });

  it("is revoked even when it has also expired", () => {
    expect(keyStatus({ revoked_at: days(-2), expires_at: days(-1) }, now)).toBe("revoked");
    expect(keyStatus({ revoked_at: days(-2), expires_at: null }, now)).toBe("revoked");
  });
});

describe("expiresSoon", () => {
  it("flags active keys expiring within 7 days", () => {
    expect(expiresSoon({ revoked_at: null, expires_at: days(6.9) }, now)).toBe(true);
    expect(expiresSoon({ revoked_at: null, expires_at: days(1 / 24) }, now)).toBe(true);
  });

  it("leaves later, never-expiring, expired and revoked keys alone", () => {
    expect(expiresSoon({ revoked_at: null, expires_at: days(7) }, now)).toBe(false);
    expect(expiresSoon({ revoked_at: null, expires_at: days(30) }, now)).toBe(false);
    expect(expiresSoon({ revoked_at: null, expires_at: null }, now)).toBe(false);
    expect(expiresSoon({ revoked_at: null, expires_at: days(-1) }, now)).toBe(false);
    expect(expiresSoon({ revoked_at: days(-1), expires_at: days(2) }, now)).toBe(false);
  });
});
