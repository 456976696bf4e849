// The usage view of a key, end to end: real traffic through the data plane with the key, then
// the figures, charts and tables the dashboard shows for it.
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  chromiumAvailable,
  launchBrowser,
  openTab,
  screenshot,
  startServer,
  uniqueEmail,
  type RunningServer,
  type Tab,
} from "./harness.js";
import { createKeyInDialog, expectAccessible, signUpThroughForm } from "./dashboard-steps.js";

const KEY_NAME = "siem-poller-prod";
const OLD_KEY_NAME = "old-laptop-script";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The free tier allows 10 requests per UTC minute and the view groups by UTC day: start a
 * burst early in a minute (and not in the last seconds of a day) so it lands in one of each.
 */
async function waitForQuietMoment() {
  const now = new Date();
  const secondsLeftInDay =
    86_400 - (now.getUTCHours() * 3600 + now.getUTCMinutes() * 60 + now.getUTCSeconds());
  if (secondsLeftInDay < 60) await sleep(secondsLeftInDay * 1000 + 1000);
  else if (now.getUTCSeconds() > 40) await sleep((60 - now.getUTCSeconds()) * 1000 + 200);
}

/** One data-plane request with the key, from outside the browser as a SIEM would make it. */
async function callApi(origin: string, key: string, path: string): Promise<number> {
  const response = await fetch(`${origin}${path}`, {
    headers: { Authorization: `Bearer ${key}` },
  });
  await response.arrayBuffer();
  return response.status;
}

/** The usage endpoint as the signed-in page sees it (usage is written in batches). */
async function fetchUsage(page: Page, keyId: string, days: number) {
  return page.evaluate(
    async ({ id, window }) => {
      const response = await fetch(`/api/v1/keys/${id}/usage?days=${window}`);
      const body = (await response.json()) as {
        data: { total_requests: number; by_status: Record<string, number> };
      };
      return body.data;
    },
    { id: keyId, window: days },
  );
}

function cells(row: ReturnType<Page["locator"]>) {
  return row.locator("td").allTextContents();
}

describe.skipIf(!chromiumAvailable())("key usage view in Chromium", () => {
  let server: RunningServer;
  let browser: Browser;
  let tab: Tab;
  let page: Page;
  let keyId = "";
  /** The UTC day of the burst (set after waitForQuietMoment, which may wait past midnight). */
  let today = "";

  beforeAll(async () => {
    server = await startServer();
    browser = await launchBrowser();
    tab = await openTab(browser, server.origin);
    page = tab.page;
    await signUpThroughForm(page, uniqueEmail("usage"));
  });

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
  });

  it("counts known traffic: 10 answered, 2 rate limited", { timeout: 240_000 }, async () => {
    const secret = await createKeyInDialog(page, KEY_NAME);
    keyId =
      (await page.getByRole("row", { name: new RegExp(KEY_NAME) }).getAttribute("data-key-id")) ??
      "";
    expect(keyId).not.toBe("");

    await waitForQuietMoment();
    today = new Date().toISOString().slice(0, 10);
    const statuses: number[] = [];
    for (const path of [
      ...Array<string>(6).fill("/api/v1/iocs"),
      ...Array<string>(4).fill("/api/v1/articles"),
      "/api/v1/iocs",
      "/api/v1/iocs",
    ]) {
      statuses.push(await callApi(server.origin, secret, path));
    }
    expect(statuses).toEqual([...Array<number>(10).fill(200), 429, 429]);

    await expect
      .poll(() => fetchUsage(page, keyId, 30).then((usage) => usage.total_requests), {
        timeout: 15_000,
        interval: 250,
      })
      .toBe(12);
  });

  it("shows the totals in the summary, the charts and today's share of the limit", async () => {
    await page.getByRole("link", { name: KEY_NAME }).click();
    await page.getByRole("heading", { level: 1, name: KEY_NAME }).waitFor();
    const usage = page.getByRole("region", { name: "Usage", exact: true });
    await expect.poll(() => usage.getByTestId("usage-total").textContent()).toBe("12");
    expect(await usage.getByTestId("usage-success-rate").textContent()).toBe("83.3%");
    expect(await usage.getByTestId("usage-client-errors").textContent()).toBe("2");
    expect(await usage.getByTestId("usage-server-errors").textContent()).toBe("0");
    // The peak and today's share count quota use: the 2 requests refused with 429 took none.
    expect(await usage.getByTestId("usage-peak-minute").textContent()).toBe("10");
    expect(await usage.getByTestId("usage-today").textContent()).toBe("10 of 1,000 requests (1%)");
    const bar = usage.getByRole("progressbar", {
      name: "Today's requests against the daily limit",
    });
    expect(await bar.getAttribute("aria-valuenow")).toBe("10");

    // The charts are drawn (uPlot canvases) and say the same in words.
    const daily = usage.getByRole("img", { name: /^Requests per day/ });
    const label = (await daily.getAttribute("aria-label")) ?? "";
    expect(label).toContain("the last 30 days: 12 requests in total, 2 errors.");
    const todayLabel = new Intl.DateTimeFormat("en", {
      month: "short",
      day: "numeric",
      timeZone: "UTC",
    }).format(new Date(`${today}T00:00:00Z`));
    expect(label).toContain(`Today ${todayLabel}: 12 requests, 2 errors.`);
    expect(await daily.locator("canvas").count()).toBeGreaterThan(0);
    // Pointing at today's bar (the last of 30) reads it out.
    await daily.scrollIntoViewIfNeeded();
    const plot = await daily.locator(".u-over").boundingBox();
    expect(plot).not.toBeNull();
    await page.mouse.move(plot!.x + plot!.width * (29.5 / 30), plot!.y + plot!.height - 5);
    const longToday = new Intl.DateTimeFormat("en", {
      weekday: "short",
      month: "short",
      day: "numeric",
      year: "numeric",
      timeZone: "UTC",
    }).format(new Date(`${today}T00:00:00Z`));
    await expect
      .poll(() => usage.locator(".chart-readout").first().textContent())
      .toBe(`${longToday}: 12 requests · 2 errors`);
    await page.mouse.move(0, 0);
    await page.evaluate(() => window.scrollTo(0, 0));
    const limited = usage.getByRole("img", { name: /^Rate-limited requests \(429\) by hour/ });
    expect(await limited.getAttribute("aria-label")).toContain(": 2 in 1 hour;");

    const statusList = usage.getByRole("list", { name: "Responses by status code" });
    expect(await statusList.locator("li[data-status='200']").textContent()).toContain("10");
    expect(await statusList.locator("li[data-status='429']").textContent()).toContain(
      "Too many requests",
    );
    const endpoints = usage.getByRole("list", { name: "Most requested endpoints" });
    expect(await endpoints.locator("li").allTextContents()).toEqual([
      expect.stringContaining("/api/v1/iocs8"),
      expect.stringContaining("/api/v1/articles4"),
    ]);

    await expectAccessible(page, "usage");
    await screenshot(page, "15-usage");
  });

  it("shows every chart as a table with the same totals", async () => {
    const usage = page.getByRole("region", { name: "Usage", exact: true });
    const toggle = usage.getByRole("button", { name: "Show as table" });
    await toggle.click();
    expect(await toggle.getAttribute("aria-pressed")).toBe("true");

    const daily = usage.getByTestId("usage-daily-table");
    expect(await cells(daily.locator(`tr[data-date='${today}']`))).toEqual([
      "12",
      "10",
      "2",
      "1.2%",
    ]);
    expect(await daily.locator("tbody tr").count()).toBe(30);
    expect((await cells(daily.locator("tfoot tr"))).slice(0, 3)).toEqual(["12", "10", "2"]);

    const status = usage.getByTestId("usage-status-table");
    expect(await cells(status.locator("tr[data-status='200']"))).toEqual(["OK", "10", "83.3%"]);
    const limitedRow = await cells(status.locator("tr[data-status='429']"));
    expect(limitedRow[0]).toContain("Too many requests");
    expect(limitedRow.slice(1)).toEqual(["2", "16.7%"]);

    const endpoints = usage.getByTestId("usage-endpoints-table");
    expect(await cells(endpoints.locator("tr[data-path='/api/v1/iocs']"))).toEqual(["8", "66.7%"]);
    expect(await cells(endpoints.locator("tr[data-path='/api/v1/articles']"))).toEqual([
      "4",
      "33.3%",
    ]);

    const hours = usage.getByTestId("usage-429-table");
    expect(await hours.locator("tbody tr").count()).toBe(1);
    expect(await cells(hours.locator("tfoot tr"))).toEqual(["2"]);
    expect(await usage.getByRole("img").count()).toBe(0);

    await expectAccessible(page, "usage-table");
    await screenshot(page, "15-usage-table");
  });

  it("switches the window between 1, 7, 30 and 90 days", async () => {
    const usage = page.getByRole("region", { name: "Usage", exact: true });
    const daily = usage.getByTestId("usage-daily-table");
    for (const [label, days] of [
      ["7 days", 7],
      ["1 day", 1],
      ["90 days", 90],
      ["30 days", 30],
    ] as const) {
      await usage.getByRole("radio", { name: label, exact: true }).check();
      await expect.poll(() => usage.getAttribute("data-window")).toBe(String(days));
      expect(await daily.locator("tbody tr").count()).toBe(days);
      expect((await cells(daily.locator("tfoot tr"))).slice(0, 3)).toEqual(["12", "10", "2"]);
      expect(await usage.getByTestId("usage-total").textContent()).toBe("12");
      if (days === 1) {
        // One day reads as a day, and its chart is looked at (artifacts/usage-1-day.png).
        const text = (await usage.textContent()) ?? "";
        expect(text).toContain("today (UTC)");
        expect(text).not.toMatch(/\bin today\b/);
        // The charts, not their tables, for the picture.
        const toggle = usage.getByRole("button", { name: "Show as table" });
        const asTable = (await toggle.getAttribute("aria-pressed")) === "true";
        if (asTable) await toggle.click();
        await usage.getByRole("img", { name: /^Requests per day, today \(UTC\)/ }).waitFor();
        await screenshot(page, "usage-1-day");
        if (asTable) await toggle.click();
      }
    }
    await usage.getByRole("radio", { name: "7 days", exact: true }).check();
    await expect.poll(() => usage.getAttribute("data-window")).toBe("7");
    expect(await usage.getByRole("radio", { name: "7 days", exact: true }).isChecked()).toBe(true);
    await usage.getByRole("button", { name: "Show as table" }).click();
    await usage.getByRole("img", { name: /^Requests per day, the last 7 days/ }).waitFor();
  });

  it("looks right and stays accessible in dark mode", async () => {
    await page.emulateMedia({ colorScheme: "dark" });
    const usage = page.getByRole("region", { name: "Usage", exact: true });
    await usage.getByRole("img", { name: /^Requests per day/ }).waitFor();
    await expectAccessible(page, "usage-dark");
    await screenshot(page, "15-usage-dark");
    await usage.getByRole("button", { name: "Show as table" }).click();
    await usage.getByTestId("usage-daily-table").waitFor();
    await expectAccessible(page, "usage-table-dark");
    await screenshot(page, "15-usage-table-dark");
    await usage.getByRole("button", { name: "Show as table" }).click();
    await page.emulateMedia({ colorScheme: "light" });
  });

  it("stays usable on a phone-sized screen", async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    const usage = page.getByRole("region", { name: "Usage", exact: true });
    await usage.getByRole("img", { name: /^Requests per day/ }).waitFor();
    await expectAccessible(page, "usage-narrow");
    await screenshot(page, "15-usage-narrow");
    await page.setViewportSize({ width: 1440, height: 900 });
  });

  it("explains a key without traffic, and flags a revoked key that is still tried", async () => {
    const minted = await page.evaluate(async (name) => {
      const response = await fetch("/api/v1/keys", {
        method: "POST",
        credentials: "include",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ name }),
      });
      const body = (await response.json()) as { data: { id: string; full_key: string } };
      return body.data;
    }, OLD_KEY_NAME);

    // Minted outside the dashboard: a fresh load lists it.
    await page.goto("/");
    await page.getByRole("link", { name: OLD_KEY_NAME }).click();
    await page.getByRole("heading", { level: 1, name: OLD_KEY_NAME }).waitFor();
    const empty = page.getByTestId("usage-empty");
    await empty.waitFor();
    expect(await empty.textContent()).toContain("No requests in the last 30 days");
    await expectAccessible(page, "usage-empty");
    await screenshot(page, "15-usage-empty");

    await page.getByRole("button", { name: "Revoke key" }).click();
    const dialog = page.getByRole("dialog", { name: `Revoke “${OLD_KEY_NAME}”?` });
    await dialog.getByLabel(/Reason/).fill("Laptop reported stolen");
    await dialog.getByRole("button", { name: "Revoke key" }).click();
    await dialog.waitFor({ state: "detached" });
    await page.getByRole("heading", { name: "Revoked", level: 2 }).waitFor();

    // Whoever has the laptop keeps trying the key.
    for (let i = 0; i < 3; i++) {
      expect(await callApi(server.origin, minted.full_key, "/api/v1/iocs")).toBe(401);
    }
    await expect
      .poll(() => fetchUsage(page, minted.id, 30).then((usage) => usage.by_status["401"] ?? 0), {
        timeout: 15_000,
        interval: 250,
      })
      .toBe(3);

    await page.reload();
    const note = page.getByText("This revoked key is still being used.");
    await note.waitFor();
    const alert = (await page.locator(".still-used").textContent()) ?? "";
    expect(alert).toContain("3 requests were refused with 401");
    const usage = page.getByRole("region", { name: "Usage", exact: true });
    expect(await usage.getByTestId("usage-total").textContent()).toBe("3");
    expect(await usage.getByTestId("usage-success-rate").textContent()).toBe("0%");
    expect(await usage.getByTestId("usage-today").count()).toBe(0);
    await expectAccessible(page, "usage-revoked");
    await screenshot(page, "15-usage-revoked");
    expect(tab.errors).toEqual([]);
  });
});
