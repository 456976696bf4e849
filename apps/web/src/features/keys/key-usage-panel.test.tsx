import { screen, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { KeyUsage } from "../../lib/trpc.js";
import { mockApi, renderWithApi } from "../../test/api.js";
import { keyDetail, usageFixture } from "../../test/usage-fixtures.js";
import KeyUsagePanel from "./key-usage-panel.js";

const NOW = new Date("2026-05-17T12:00:00Z");

/** Answers `keys.usage` with the fixture, shaped to the window asked for. */
function serveUsage(overrides: Partial<KeyUsage> = {}) {
  return mockApi({
    "keys.usage": (input) => {
      const { days } = input as { days: number };
      const base = usageFixture(overrides);
      const daily = base.daily.slice(-days);
      return { data: { ...base, window_days: days, daily } };
    },
  });
}

function usageCalls(calls: { path: string; input: unknown }[]) {
  return calls.filter((call) => call.path === "keys.usage").map((call) => call.input);
}

describe("KeyUsagePanel", () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: NOW, toFake: ["Date"] });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("summarises the window and today's share of the daily limit", async () => {
    const calls = serveUsage();
    renderWithApi(<KeyUsagePanel detail={keyDetail()} />);
    expect((await screen.findByTestId("usage-total")).textContent).toBe("12");
    expect(usageCalls(calls)).toEqual([{ id: keyDetail().id, days: 30 }]);
    expect(screen.getByTestId("usage-success-rate").textContent).toBe("83.3%");
    expect(screen.getByTestId("usage-client-errors").textContent).toBe("2");
    expect(screen.getByTestId("usage-server-errors").textContent).toBe("0");
    expect(screen.getByTestId("usage-latency-avg").textContent).toBe("2.5 ms");
    expect(screen.getByTestId("usage-percentiles").textContent).toBe(
      "p50 1.9 msp95 6.2 msp99 15 ms",
    );
    // 12 in a minute against a limit of 10: the peak says the limit was exceeded.
    expect(screen.getByTestId("usage-peak-minute").closest(".stat-warn")).not.toBeNull();
    expect(screen.getByTestId("usage-today").textContent).toBe("12 of 1,000 requests (1.2%)");
    const bar = screen.getByRole("progressbar", { name: /daily limit/ });
    expect(bar.getAttribute("aria-valuenow")).toBe("12");
    expect(bar.getAttribute("aria-valuetext")).toBe("12 of 1,000 requests (1.2%)");
    expect(screen.queryByText(/Daily limit reached/)).toBeNull();
  });

  it("warns when today is close to the cap", async () => {
    serveUsage({ daily: [{ date: "2026-05-17", requests: 850, errors: 0, quota_used: 850 }] });
    renderWithApi(<KeyUsagePanel detail={keyDetail()} />);
    expect((await screen.findByTestId("usage-today")).textContent).toBe(
      "850 of 1,000 requests (85%)",
    );
    expect(screen.getByText(/Over 80% of the daily limit used/)).toBeTruthy();
    // 850 by noon: the pace says when the cap is hit.
    expect(screen.getByText("limit reached around 14:07 UTC")).toBeTruthy();
  });

  it("says when the daily limit is reached", async () => {
    serveUsage({ daily: [{ date: "2026-05-17", requests: 1000, errors: 0, quota_used: 1000 }] });
    renderWithApi(<KeyUsagePanel detail={keyDetail()} />);
    expect((await screen.findByTestId("usage-today")).textContent).toBe(
      "1,000 of 1,000 requests (100%)",
    );
    expect(screen.getByText(/Daily limit reached/)).toBeTruthy();
  });

  it("gives every chart a table, with the totals, behind the toggle", async () => {
    serveUsage();
    const user = userEvent.setup({ advanceTimers: vi.advanceTimersByTime });
    renderWithApi(<KeyUsagePanel detail={keyDetail()} />);
    await screen.findByTestId("usage-total");
    const toggle = screen.getByRole("button", { name: "Show as table" });
    expect(toggle.getAttribute("aria-pressed")).toBe("false");
    expect(screen.getByRole("list", { name: "Responses by status code" })).toBeTruthy();

    await user.click(toggle);
    expect(toggle.getAttribute("aria-pressed")).toBe("true");

    const daily = screen.getByTestId("usage-daily-table");
    const today = within(daily).getByRole("row", { name: /May 17, 2026/ });
    expect(
      within(today)
        .getAllByRole("cell")
        .map((cell) => cell.textContent),
    ).toEqual(["12", "10", "2", "1.2%"]);
    const total = within(daily).getByRole("row", { name: /^Total/ });
    expect(within(total).getAllByRole("cell")[0]?.textContent).toBe("12");

    const status = screen.getByTestId("usage-status-table");
    const limited = within(status).getByRole("row", { name: /^429/ });
    expect(limited.textContent).toContain("Too many requests");
    expect(within(limited).getAllByRole("cell").at(-2)?.textContent).toBe("2");
    expect(within(status).getByRole("row", { name: /^200/ }).textContent).toContain("10");

    const endpoints = screen.getByTestId("usage-endpoints-table");
    expect(within(endpoints).getByRole("row", { name: /\/api\/v1\/iocs/ }).textContent).toContain(
      "8",
    );
    const hours = screen.getByTestId("usage-429-table");
    expect(
      within(hours).getByRole("row", { name: /May 17, 09:00–10:00 UTC/ }).textContent,
    ).toContain("2");
  });

  it("switches the window and asks for it", async () => {
    const calls = serveUsage();
    const user = userEvent.setup({ advanceTimers: vi.advanceTimersByTime });
    const { container } = renderWithApi(<KeyUsagePanel detail={keyDetail()} />);
    await screen.findByTestId("usage-total");
    const week = screen.getByRole("radio", { name: "7 days" });
    await user.click(week);
    expect(week).toHaveProperty("checked", true);
    await vi.waitFor(
      () => expect(container.querySelector("section")?.getAttribute("data-window")).toBe("7"),
      { timeout: 10_000 },
    );
    expect(usageCalls(calls).at(-1)).toEqual({ id: keyDetail().id, days: 7 });
    await user.click(screen.getByRole("radio", { name: "1 day" }));
    await vi.waitFor(
      () => expect(container.querySelector("section")?.getAttribute("data-window")).toBe("1"),
      { timeout: 10_000 },
    );
    // One row for today in the daily table (drawn as a table here: no canvas in this DOM).
    const rows = within(screen.getByTestId("usage-daily-table")).getAllByRole("row");
    expect(rows).toHaveLength(1 + 1 + 1);
  });

  it("explains an unused key and offers a longer window", async () => {
    const calls = serveUsage({
      total_requests: 0,
      successful: 0,
      client_errors: 0,
      success_rate: null,
      by_status: {},
      top_endpoints: [],
      daily: [{ date: "2026-05-17", requests: 0, errors: 0, quota_used: 0 }],
      rate_limit_hits_by_hour: [],
    });
    const user = userEvent.setup({ advanceTimers: vi.advanceTimersByTime });
    renderWithApi(<KeyUsagePanel detail={keyDetail({ last_used_at: null })} />);
    const empty = await screen.findByTestId("usage-empty");
    expect(empty.textContent).toContain("No requests in the last 30 days");
    expect(empty.textContent).toContain("Authorization: Bearer sk_live_zIc8…");
    expect(screen.queryByTestId("usage-total")).toBeNull();
    await user.click(within(empty).getByRole("button", { name: "Show the last 90 days" }));
    await vi.waitFor(
      () => expect(usageCalls(calls).at(-1)).toEqual({ id: keyDetail().id, days: 90 }),
      { timeout: 10_000 },
    );
    await vi.waitFor(
      () => expect(screen.getByTestId("usage-empty").textContent).toContain("the last 90 days"),
      { timeout: 10_000 },
    );
    expect(screen.queryByRole("button", { name: "Show the last 90 days" })).toBeNull();
  });

  it("points out a revoked key that is still being tried", async () => {
    serveUsage({ by_status: { "200": 10, "401": 5 } });
    renderWithApi(
      <KeyUsagePanel
        detail={keyDetail({
          revoked_at: "2026-05-16T10:00:00Z",
          last_used_at: "2026-05-17T11:00:00Z",
        })}
      />,
    );
    const note = await screen.findByText("This revoked key is still being used.");
    const text = note.parentElement?.textContent ?? "";
    expect(text).toContain("1 hour ago");
    expect(text).toContain("5 requests were refused with 401");
    // A revoked key has no daily quota left to watch.
    expect(screen.queryByTestId("usage-today")).toBeNull();
  });
});
