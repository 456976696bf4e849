// Key lifecycle in the dashboard: rotate from the key page, rename in place, filter the list.
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createKeyInDialog, KEY_PATTERN, signUpThroughForm } from "./dashboard-steps.js";
import {
  chromiumAvailable,
  launchBrowser,
  openTab,
  screenshot,
  startServer,
  uniqueEmail,
  type RunningServer,
} from "./harness.js";

describe.skipIf(!chromiumAvailable())("key lifecycle in Chromium", () => {
  let server: RunningServer;
  let browser: Browser;
  let page: Page;

  beforeAll(async () => {
    server = await startServer();
    browser = await launchBrowser();
    page = (await openTab(browser, server.origin)).page;
    await signUpThroughForm(page, uniqueEmail("lifecycle"));
  });
  afterAll(async () => {
    await browser?.close();
    await server?.stop();
  });

  it("rotates from the key page: the new secret once, copied; the old key keeps its grace period", async () => {
    const oldSecret = await createKeyInDialog(page, "prod-splunk-2026q2");
    await page.getByRole("link", { name: "prod-splunk-2026q2" }).click();
    await page.getByRole("heading", { level: 1, name: "prod-splunk-2026q2" }).waitFor();

    await page.getByRole("button", { name: "Rotate key" }).click();
    const dialog = page.getByRole("dialog", { name: "Rotate API key" });
    await dialog.getByRole("radio", { name: "In 1 hour" }).check();
    await dialog.getByRole("button", { name: "Rotate key" }).click();

    const created = page.getByRole("dialog", { name: "Your new API key" });
    const secret = await created.getByRole("textbox").inputValue();
    expect(secret).toMatch(KEY_PATTERN);
    expect(secret).not.toBe(oldSecret);
    await created.getByRole("button", { name: "Copy key" }).click();
    await created.getByRole("button", { name: "✓ Copied" }).waitFor();
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(secret);
    await screenshot(page, "20-key-rotated");
    await created.getByRole("checkbox", { name: /I have stored this key/ }).check();
    await created.getByRole("button", { name: "Done" }).click();
    await created.waitFor({ state: "detached" });

    // Done opens the successor, which links back; both secrets work on the data API.
    await page.getByText("Replaces").waitFor();
    for (const key of [secret, oldSecret]) {
      const response = await fetch(`${server.origin}/api/v1/whoami`, {
        headers: { authorization: `Bearer ${key}` },
      });
      expect(response.status).toBe(200);
    }
  });

  it("renames a key in place", async () => {
    await page.getByRole("button", { name: /^Rename/ }).click();
    await page.getByLabel("Key name").fill("prod-splunk-2026q3");
    await page.getByRole("button", { name: "Save" }).click();
    await page.getByRole("heading", { level: 1, name: "prod-splunk-2026q3" }).waitFor();
  });

  it("filters the list by name or prefix and status; the view survives a reload", async () => {
    await page.getByRole("link", { name: "All keys" }).click();
    await page.getByRole("heading", { level: 1, name: "API keys" }).waitFor();
    await createKeyInDialog(page, "staging-elastic");
    const rows = page.locator("tbody tr");
    await expect.poll(() => rows.count()).toBe(3);

    await page.getByLabel("Filter").fill("staging");
    await expect.poll(() => rows.count()).toBe(1);
    expect(await rows.first().textContent()).toContain("staging-elastic");
    expect(new URL(page.url()).searchParams.get("q")).toBe("staging");

    await page.reload();
    await page.getByRole("heading", { level: 1, name: "API keys" }).waitFor();
    expect(await page.getByLabel("Filter").inputValue()).toBe("staging");
    await expect.poll(() => rows.count()).toBe(1);

    await page.getByLabel("Filter").fill("");
    await page.getByLabel("Sort").selectOption("name");
    await expect.poll(() => rows.count()).toBe(3);
    const names = await page.locator("tbody th.name").allTextContents();
    expect(names).toEqual([...names].sort((a, b) => a.localeCompare(b)));
    expect(new URL(page.url()).searchParams.get("sort")).toBe("name");
  });
});
