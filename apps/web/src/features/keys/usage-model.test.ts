import { describe, expect, it } from "vitest";
import type { KeyDetail } from "../../lib/trpc.js";
import { usageFixture } from "../../test/usage-fixtures.js";
import {
  dailySeries,
  dailySummary,
  dayRows,
  duringWindow,
  endpointRows,
  formatDuration,
  formatLatency,
  formatPercent,
  hourlySeries,
  rateLimitRows,
  rateLimitSummary,
  revokedTraffic,
  statusRows,
  todaySentence,
  todayUsage,
} from "./usage-model.js";

const NOON = new Date("2026-05-17T12:00:00Z");

describe("formatting", () => {
  it("names the window as a sentence reads it: today (UTC), never 'in today'", () => {
    expect(duringWindow(1)).toBe("today (UTC)");
    expect(duringWindow(7)).toBe("in the last 7 days");
    expect(rateLimitSummary(usageFixture({ window_days: 1, rate_limit_hits_by_hour: [] }))).toBe(
      "No rate-limited requests today (UTC).",
    );
  });

  it("shows shares with one decimal, never rounding failures away", () => {
    expect(formatPercent(0.8333)).toBe("83.3%");
    expect(formatPercent(1)).toBe("100%");
    expect(formatPercent(0)).toBe("0%");
    expect(formatPercent(0.99996)).toBe("99.9%");
    expect(formatPercent(0.0004)).toBe("<0.1%");
    expect(formatPercent(0.012)).toBe("1.2%");
    expect(formatPercent(null)).toBe("—");
  });

  it("shows latency in the unit that reads best", () => {
    expect(formatLatency(0.42)).toBe("0.4 ms");
    expect(formatLatency(2.46)).toBe("2.5 ms");
    expect(formatLatency(236.4)).toBe("236 ms");
    expect(formatLatency(1240)).toBe("1.24 s");
    expect(formatLatency(null)).toBe("—");
  });

  it("says how long until the reset", () => {
    expect(formatDuration(30)).toBe("under a minute");
    expect(formatDuration(40 * 60)).toBe("40 min");
    expect(formatDuration(11 * 3600 + 25 * 60 + 10)).toBe("11 h 25 min");
    expect(formatDuration(3 * 3600)).toBe("3 h");
  });
});

describe("today against the daily limit", () => {
  it("is the last day of the window as a share of the limit", () => {
    const today = todayUsage(usageFixture(), 1000, NOON)!;
    expect(today).toMatchObject({ date: "2026-05-17", used: 12, limit: 1000, level: "ok" });
    expect(todaySentence(today)).toBe("12 of 1,000 requests (1.2%)");
    expect(today.resetsInSeconds).toBe(12 * 3600);
    // Half the day gone: the pace doubles what was used so far, far from the limit.
    expect(today.projected).toBe(24);
    expect(today.limitAt).toBeNull();
  });

  it("warns from 80% and says when the pace reaches the limit", () => {
    const usage = usageFixture({
      daily: [{ date: "2026-05-17", requests: 850, errors: 0, quota_used: 850 }],
    });
    const near = todayUsage(usage, 1000, new Date("2026-05-17T17:00:00Z"))!;
    expect(near.level).toBe("near");
    expect(near.ratio).toBeCloseTo(0.85);
    // 850 in 17 hours is 50 an hour: 1,000 at 20:00.
    expect(near.limitAt).toBe("2026-05-17T20:00:00.000Z");
    expect(todayUsage(usage, 1000, new Date("2026-05-17T00:30:00Z"))!.projected).toBeNull();
  });

  it("reports the limit as reached at or over the cap", () => {
    const usage = usageFixture({
      daily: [{ date: "2026-05-17", requests: 1000, errors: 3, quota_used: 1000 }],
    });
    const today = todayUsage(usage, 1000, NOON)!;
    expect(today.level).toBe("reached");
    expect(today.limitAt).toBeNull();
    expect(todaySentence(today)).toBe("1,000 of 1,000 requests (100%)");
  });
});

describe("table data", () => {
  it("lists days newest first with successes, errors and share of the limit", () => {
    const rows = dayRows(usageFixture(), 1000);
    expect(rows).toHaveLength(7);
    expect(rows[0]).toEqual({
      date: "2026-05-17",
      requests: 12,
      successful: 10,
      errors: 2,
      ofLimit: 0.012,
    });
    expect(rows.at(-1)?.date).toBe("2026-05-11");
  });

  it("lists status codes in order with their meaning and share", () => {
    const rows = statusRows(usageFixture({ by_status: { "429": 2, "200": 10, "503": 0 } }));
    expect(rows.map((row) => [row.status, row.text, row.count, row.tone])).toEqual([
      ["200", "OK", 10, "ok"],
      ["429", "Too many requests", 2, "warn"],
    ]);
    expect(rows[1]?.share).toBeCloseTo(2 / 12);
    expect(rows[1]?.hint).toMatch(/limit/);
  });

  it("gives endpoints their share of the window", () => {
    expect(endpointRows(usageFixture())).toEqual([
      { path: "/api/v1/iocs", count: 8, share: 8 / 12 },
      { path: "/api/v1/articles", count: 4, share: 4 / 12 },
    ]);
  });

  it("lists only the hours with 429s, newest first", () => {
    const usage = usageFixture({
      rate_limit_hits_by_hour: [
        { hour: "2026-05-16T22:00:00Z", count: 5 },
        { hour: "2026-05-17T09:00:00Z", count: 2 },
      ],
    });
    expect(rateLimitRows(usage)).toEqual([
      { hour: "2026-05-17T09:00:00Z", count: 2 },
      { hour: "2026-05-16T22:00:00Z", count: 5 },
    ]);
    expect(rateLimitSummary(usage)).toBe(
      "Rate-limited requests (429) by hour, the last 7 days: 7 in 2 hours; most in May 16, 22:00–23:00 UTC with 5.",
    );
  });
});

describe("chart series", () => {
  it("puts one bar per day at UTC midnight, requests and errors", () => {
    const chart = dailySeries(usageFixture());
    expect(chart.xs[0]).toBe(Date.parse("2026-05-11T00:00:00Z") / 1000);
    expect(chart.step).toBe(86_400);
    expect(chart.series).toEqual([
      [0, 0, 0, 0, 0, 0, 12],
      [0, 0, 0, 0, 0, 0, 2],
    ]);
  });

  it("zero-fills every hour of the window for the 429 chart", () => {
    const chart = hourlySeries(usageFixture());
    expect(chart.xs).toHaveLength(7 * 24);
    const index = chart.xs.indexOf(Date.parse("2026-05-17T09:00:00Z") / 1000);
    expect(chart.series[0]?.[index]).toBe(2);
    expect(chart.series[0]?.reduce((a, b) => a + b, 0)).toBe(2);
  });

  it("describes the daily chart in words", () => {
    expect(dailySummary(usageFixture())).toBe(
      "Requests per day, the last 7 days: 12 requests in total, 2 errors. Busiest day May 17 with 12 requests. Today May 17: 12 requests, 2 errors.",
    );
  });
});

describe("a revoked key still in use", () => {
  const detail = {
    revoked_at: "2026-05-16T10:00:00Z",
    last_used_at: "2026-05-17T09:30:00Z",
  } as KeyDetail;

  it("is noticed when requests arrive after the revocation", () => {
    const usage = usageFixture({ by_status: { "200": 4, "401": 3 } });
    expect(revokedTraffic(detail, usage)).toEqual({
      revokedAt: "2026-05-16T10:00:00Z",
      lastTriedAt: "2026-05-17T09:30:00Z",
      refused: 3,
    });
  });

  it("counts 401s even when the last use falls in the revocation's second", () => {
    const sameSecond = { ...detail, last_used_at: detail.revoked_at };
    const usage = usageFixture({ by_status: { "401": 3 } });
    expect(revokedTraffic(sameSecond, usage)?.refused).toBe(3);
    expect(revokedTraffic(sameSecond, usageFixture())).toBeNull();
  });

  it("is quiet when the last use came before the revocation, or the key is active", () => {
    const usage = usageFixture();
    expect(revokedTraffic({ ...detail, last_used_at: "2026-05-15T00:00:00Z" }, usage)).toBeNull();
    expect(revokedTraffic({ ...detail, revoked_at: null }, usage)).toBeNull();
  });
});
