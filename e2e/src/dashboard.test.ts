// The dashboard as a SOC analyst uses it, end to end against the built server and Chromium.
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  createKeyInDialog,
  expectAccessible,
  heading,
  KEY_PATTERN,
  submitCredentials,
  TEST_PASSWORD,
} from "./dashboard-steps.js";
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

describe.skipIf(!chromiumAvailable())("dashboard in Chromium", () => {
  let server: RunningServer;
  let browser: Browser;
  let tab: Tab;
  let page: Page;
  const email = uniqueEmail("analyst");
  const password = TEST_PASSWORD;
  let secret = "";
  let keyId = "";

  beforeAll(async () => {
    server = await startServer();
    browser = await launchBrowser();
    tab = await openTab(browser, server.origin);
    page = tab.page;
  });

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
  });

  it("signs up and lands on an empty key list that explains what a key is for", async () => {
    await page.goto("/");
    await heading(page, "Threat Intel API keys").waitFor();
    await expectAccessible(page, "sign-in");
    await screenshot(page, "01-sign-in");

    await submitCredentials(page, email, password, "Create account");
    await heading(page, "API keys").waitFor();
    const empty = page.getByRole("region", { name: "Create your first API key" });
    await empty.waitFor();
    expect(await empty.textContent()).toContain("SIEM");
    expect(await page.getByTestId("allowance").textContent()).toContain("0 of 3");
    await expectAccessible(page, "keys-empty");
    await screenshot(page, "02-keys-empty");
  });

  it("creates a key and shows the secret once, with copy and a required acknowledgement", async () => {
    await page.getByRole("button", { name: "Create key" }).click();
    const dialog = page.getByRole("dialog", { name: "Create API key" });
    await dialog.waitFor();
    // Focus starts in the dialog, on the name field.
    expect(await page.evaluate(() => document.activeElement?.closest("dialog") !== null)).toBe(
      true,
    );
    await expectAccessible(page, "create-dialog");

    // Client-side validation: an empty name is refused next to the field.
    await dialog.getByRole("button", { name: "Create key" }).click();
    await dialog.getByText("Give the key a name.").waitFor();
    // The server's validation lands next to the field too.
    await dialog.getByLabel("Name").fill("prod-splunk-2026q2");
    await dialog.getByRole("radio", { name: "Custom" }).check();
    await dialog.getByLabel("Days until expiry (1–365)").fill("5");
    await dialog.getByLabel(/Allowed IP addresses/).fill("203.0.113.0/24\nnot-an-ip");
    await dialog.getByRole("button", { name: "Create key" }).click();
    await dialog.getByText('"not-an-ip" is not an IP address or CIDR range.').waitFor();
    await dialog.getByLabel(/Allowed IP addresses/).fill("203.0.113.0/24");
    await screenshot(page, "03-create-dialog");
    await dialog.getByRole("button", { name: "Create key" }).click();

    const created = page.getByRole("dialog", { name: "Your new API key" });
    await created.waitFor();
    secret = await created.getByRole("textbox").inputValue();
    expect(secret).toMatch(KEY_PATTERN);
    expect(await created.textContent()).toContain("It will not be shown again.");

    const done = created.getByRole("button", { name: "Done" });
    expect(await done.isDisabled()).toBe(true);
    await page.keyboard.press("Escape");
    expect(await created.isVisible()).toBe(true);

    await created.getByRole("button", { name: "Copy key" }).click();
    await created.getByRole("button", { name: "✓ Copied" }).waitFor();
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(secret);
    await expectAccessible(page, "key-created");
    await screenshot(page, "04-key-created");

    await created.getByRole("checkbox", { name: /I have stored this key/ }).check();
    await done.click();
    await created.waitFor({ state: "detached" });
    // Focus returns to the button that opened the dialog.
    expect(await page.evaluate(() => document.activeElement?.textContent)).toContain("Create key");
  });

  it("lists the key with its prefix, status, expiry warning and allowance, never the secret", async () => {
    const row = page.getByRole("row", { name: /prod-splunk-2026q2/ });
    await row.waitFor();
    const text = (await row.textContent()) ?? "";
    expect(text).toContain(secret.slice(0, 12));
    expect(text).toContain("Active");
    expect(text).toContain("in 5 days");
    expect(await row.locator(".expiring").count()).toBe(1);
    expect(await page.getByTestId("allowance").textContent()).toContain("1 of 3");
    expect(await page.content()).not.toContain(secret);
    keyId = (await row.getAttribute("data-key-id")) ?? "";
    expect(keyId).not.toBe("");
    await expectAccessible(page, "keys-list");
    await screenshot(page, "05-keys-list");
  });

  it("shows every detail of the key, with a place for usage analytics", async () => {
    await page.getByRole("link", { name: "prod-splunk-2026q2" }).click();
    await heading(page, "prod-splunk-2026q2").waitFor();
    expect(page.url()).toContain(`/keys/${keyId}`);
    const main = (await page.getByRole("main").textContent()) ?? "";
    expect(main).toContain(secret.slice(0, 12));
    expect(main).toContain("203.0.113.0/24");
    expect(main).toMatch(/[\d,]+ \/ minute · [\d,]+ \/ day/);
    expect(main).toContain("read:iocs");
    expect(main).toContain("read:articles");
    await page.getByRole("heading", { name: "Usage" }).waitFor();
    // A deep link survives a reload: the server hands client routes to the SPA.
    await page.reload();
    await heading(page, "prod-splunk-2026q2").waitFor();
    await expectAccessible(page, "key-details");
    await screenshot(page, "06-key-details");
  });

  it("revokes with a reason; the status changes without a reload", async () => {
    await page.evaluate(() => {
      (window as unknown as { stillHere: boolean }).stillHere = true;
    });
    await page.getByRole("button", { name: "Revoke key" }).click();
    const dialog = page.getByRole("dialog", { name: "Revoke “prod-splunk-2026q2”?" });
    await dialog.waitFor();
    expect(await dialog.textContent()).toContain("cannot be undone");
    await dialog.getByLabel(/Reason/).fill("Rotated after the Splunk migration");
    await expectAccessible(page, "revoke-dialog");
    await screenshot(page, "07-revoke-dialog");
    await dialog.getByRole("button", { name: "Revoke key" }).click();
    await dialog.waitFor({ state: "detached" });

    await page.getByRole("heading", { name: "Revoked", level: 2 }).waitFor();
    expect(await page.getByTestId("revoked-reason").textContent()).toBe(
      "Rotated after the Splunk migration",
    );
    await screenshot(page, "08-key-revoked");

    await page.getByRole("link", { name: "All keys" }).click();
    const row = page.getByRole("row", { name: /prod-splunk-2026q2/ });
    await expect.poll(() => row.textContent()).toContain("Revoked");
    expect(await row.getByRole("button", { name: /Revoke/ }).count()).toBe(0);
    await expect.poll(() => page.getByTestId("allowance").textContent()).toContain("0 of 3");
    expect(await page.evaluate(() => "stillHere" in window)).toBe(true);
  });

  it("shows the revocation and its reason in the activity, newest first", async () => {
    await page.getByRole("link", { name: "Activity" }).click();
    await heading(page, "Activity").waitFor();
    const events = page.locator("li.event");
    await events.first().waitFor();
    const actions = await events.evaluateAll((items) =>
      items.map((item) => item.getAttribute("data-action")),
    );
    expect(actions).toEqual(["key.revoked", "key.created", "auth.sign_up"]);
    const newest = (await events.first().textContent()) ?? "";
    expect(newest).toContain("Key revoked");
    expect(newest).toContain("Reason: Rotated after the Splunk migration");
    expect(newest).toContain(secret.slice(0, 12));
    await expectAccessible(page, "activity");
    await screenshot(page, "09-activity");
  });

  it("explains the free tier's limit on the 4th active key", async () => {
    await page.getByRole("link", { name: "Keys", exact: true }).click();
    await heading(page, "API keys").waitFor();
    expect(await createKeyInDialog(page, "staging-sentinel")).toMatch(KEY_PATTERN);

    // A weak name is accepted, with the naming convention explained.
    await page.getByRole("button", { name: "Create key" }).click();
    const dialog = page.getByRole("dialog", { name: "Create API key" });
    await dialog.getByLabel("Name").fill("key1");
    await dialog.getByRole("button", { name: "Create key" }).click();
    const created = page.getByRole("dialog", { name: "Your new API key" });
    await created.getByText("Naming tip:").waitFor();
    expect(await created.textContent()).toContain("prod-splunk-2026q2");
    await created.getByRole("checkbox", { name: /I have stored this key/ }).check();
    await created.getByRole("button", { name: "Done" }).click();
    await created.waitFor({ state: "detached" });

    expect(await createKeyInDialog(page, "tom-laptop-dev")).toMatch(KEY_PATTERN);
    await expect.poll(() => page.getByTestId("allowance").textContent()).toContain("3 of 3");

    // At the allowance the button explains the limit instead of opening a form that fails.
    expect(await page.getByRole("button", { name: "Create key" }).isDisabled()).toBe(true);
    const message = (await page.getByTestId("allowance").textContent()) ?? "";
    expect(message).toContain("allows 3 active keys");
    expect(message).toContain("Revoke one you no longer use");
    await expectAccessible(page, "key-limit");
    await screenshot(page, "10-key-limit");
    expect(await page.getByRole("row").count()).toBe(1 + 4);
  });

  it("looks right and stays accessible in dark mode", async () => {
    await page.emulateMedia({ colorScheme: "dark" });
    await expectAccessible(page, "keys-list-dark");
    await screenshot(page, "11-keys-list-dark");
    await page.getByRole("link", { name: "prod-splunk-2026q2" }).click();
    await heading(page, "prod-splunk-2026q2").waitFor();
    await expectAccessible(page, "key-details-dark");
    await screenshot(page, "12-key-details-dark");
    await page.getByRole("link", { name: "All keys" }).click();
    await heading(page, "API keys").waitFor();
    await page.emulateMedia({ colorScheme: "light" });
  });

  it("stays usable on a phone-sized screen", async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    // The table scrolls sideways inside a focusable, labelled region.
    await page.getByRole("region", { name: "API keys" }).waitFor();
    await expectAccessible(page, "keys-list-narrow");
    await screenshot(page, "14-keys-list-narrow");
    await page.setViewportSize({ width: 1440, height: 900 });
  });

  it("keeps the session across reloads and returns to sign-in cleanly when it ends", async () => {
    await page.reload();
    await heading(page, "API keys").waitFor();
    // The page's first queries must have been answered: one still queued when the cookies go
    // would end the session on its own, before the click below (a CI failure on a busy machine).
    await page.waitForLoadState("networkidle");

    // The session disappears underneath the open tab (expiry, sign-out elsewhere).
    await tab.context.clearCookies();
    await page.getByRole("link", { name: "Activity" }).click();
    await heading(page, "Threat Intel API keys").waitFor();
    await page.getByText("Your session has ended. Sign in again to continue.").waitFor();
    await screenshot(page, "13-session-ended");
  });

  it("signs back in where it left off, signs out, and signs in again", async () => {
    await submitCredentials(page, email, password, "Sign in");
    await heading(page, "Activity").waitFor();
    await page.getByRole("link", { name: "Keys", exact: true }).click();
    await expect.poll(() => page.getByRole("row").count()).toBe(1 + 4);

    await page.getByRole("button", { name: "Sign out" }).click();
    await heading(page, "Threat Intel API keys").waitFor();
    await page.getByText("You have signed out.").waitFor();
    await page.reload();
    await heading(page, "Threat Intel API keys").waitFor();

    await page.getByLabel("Email").fill(email);
    await page.getByLabel("Password").fill("not the password");
    await page.getByRole("button", { name: "Sign in", exact: true }).click();
    await page.getByRole("alert").getByText("Invalid email or password.").waitFor();

    await submitCredentials(page, email, password, "Sign in");
    await heading(page, "API keys").waitFor();
    await expect.poll(() => page.getByRole("row").count()).toBe(1 + 4);
    expect(tab.errors).toEqual([]);
  });
});
