import { describe, expect, it } from "vitest";
import { formatExact, formatRelative } from "./time.js";

const now = new Date("2026-05-17T12:00:00Z");
const at = (seconds: number) => new Date(now.getTime() + seconds * 1000).toISOString();
const MIN = 60;
const HOUR = 3600;
const DAY = 86_400;

describe("formatRelative", () => {
  it.each([
    [-10, "just now"],
    [10, "in a few seconds"],
    [-3 * MIN, "3 minutes ago"],
    [-50, "1 minute ago"],
    [-44 * MIN, "44 minutes ago"],
    [-50 * MIN, "1 hour ago"],
    [-5 * HOUR, "5 hours ago"],
    [-23 * HOUR, "1 day ago"],
    [12 * DAY, "in 12 days"],
    [30 * DAY, "in 30 days"],
    [90 * DAY, "in 3 months"],
    [-200 * DAY, "7 months ago"],
    [365 * DAY, "in 1 year"],
    [-3 * 365 * DAY, "3 years ago"],
  ])("%i seconds away reads %s", (seconds, expected) => {
    expect(formatRelative(at(seconds), now)).toBe(expected);
  });

  it("reads the documentation's timestamps (whole seconds, Z)", () => {
    expect(formatRelative("2026-05-17T11:57:00Z", now)).toBe("3 minutes ago");
  });
});

describe("formatExact", () => {
  it("gives date, time and zone", () => {
    const text = formatExact("2026-05-17T09:42:11Z");
    expect(text).toMatch(/May 17, 2026/);
    expect(text).toMatch(/\d{1,2}:\d{2}:\d{2}/);
  });
});
