// Account security in Chromium: TOTP enrolment from the QR page and two-step sign-in, a
// recovery code, a passkey on the DevTools protocol's virtual authenticator, and a session
// ended from a second browser context.
import { Secret, TOTP } from "otpauth";
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
import {
  expectAccessible,
  heading,
  signUpThroughForm,
  submitCredentials,
} from "./dashboard-steps.js";

/**
 * The code for the next 30-second window: the server accepts one window of drift, and the
 * current window's code may already have been spent by the enrolment.
 */
/** The 30-second step of the last code used: each step's code is accepted once. */
let lastStep = 0;

/**
 * A code the server will accept now: the next step's (codes are valid one step either side),
 * after waiting, when needed, for a step later than the last one used.
 */
async function freshCode(page: Page, secret: string): Promise<string> {
  const step = () => Math.floor(Date.now() / 30_000) + 1;
  while (step() <= lastStep) await page.waitForTimeout(1_000);
  lastStep = step();
  const totp = new TOTP({ secret: Secret.fromBase32(secret), digits: 6, period: 30 });
  return totp.generate({ timestamp: lastStep * 30_000 });
}

const signInWithPassword = (page: Page, email: string, password: string) =>
  submitCredentials(page, email, password, "Sign in");

/** Signed in: the top bar shows the account (whatever page the browser was on). */
const signedIn = (page: Page) => page.getByTestId("account-email").waitFor();

async function signOut(page: Page) {
  await page.getByRole("button", { name: "Sign out", exact: true }).first().click();
  await heading(page, "Threat Intel API keys").waitFor();
}

describe.skipIf(!chromiumAvailable())("account security in Chromium", () => {
  let server: RunningServer;
  let browser: Browser;
  let tab: Tab;
  let page: Page;
  let email = uniqueEmail("secops");
  const password = "violet tangerine orbit lantern";
  let secret = "";
  let codes: string[] = [];

  beforeAll(async () => {
    server = await startServer({}, { hostName: "localhost" });
    browser = await launchBrowser();
    tab = await openTab(browser, server.origin);
    page = tab.page;
  }, 150_000);

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
  });

  it("enrols TOTP from the QR page, then signs in with password + code", async () => {
    await signUpThroughForm(page, email, password);

    await page.getByRole("link", { name: "Security" }).click();
    await heading(page, "Security").waitFor();
    await expectAccessible(page, "security");
    await page.getByRole("button", { name: "Set up authenticator app" }).click();
    await page.getByRole("img", { name: /QR code/ }).waitFor();
    secret = (await page.getByTestId("totp-secret").textContent()) ?? "";
    expect(secret).toMatch(/^[A-Z2-7]{32}$/);
    await expectAccessible(page, "security-totp-enrol");
    await page.getByLabel(/Enter the 6-digit code/).fill(await freshCode(page, secret));
    await page.getByRole("button", { name: "Turn on" }).click();
    const list = page.getByTestId("recovery-codes");
    await list.waitFor();
    codes = (await list.locator("li").allTextContents()).map((code) => code.trim());
    expect(codes).toHaveLength(10);
    await screenshot(page, "security-recovery-codes");
    await page.getByRole("button", { name: "I have saved these codes" }).click();
    await page.getByText("Signing in needs a code from your app.").waitFor();

    await signOut(page);
    await signInWithPassword(page, email, password);
    await heading(page, "Two-step sign-in").waitFor();
    await expectAccessible(page, "second-factor");
    // No session yet: only the second step's cookie.
    const cookies = await tab.context.cookies();
    expect(cookies.find((c) => c.name === "sb-access-token")).toBeUndefined();
    await page.getByLabel("Authentication code").fill(await freshCode(page, secret));
    await page.getByRole("button", { name: "Verify" }).click();
    await signedIn(page);
  }, 120_000);

  it("signs in with a recovery code", async () => {
    await signOut(page);
    await signInWithPassword(page, email, password);
    await heading(page, "Two-step sign-in").waitFor();
    await page.getByRole("button", { name: "Use a recovery code" }).click();
    await page.getByLabel("Recovery code").fill(codes[0]!);
    await page.getByRole("button", { name: "Verify" }).click();
    await signedIn(page);
  }, 60_000);

  it("registers a passkey on the virtual authenticator and signs in with it alone", async () => {
    const cdp = await tab.context.newCDPSession(page);
    await cdp.send("WebAuthn.enable");
    await cdp.send("WebAuthn.addVirtualAuthenticator", {
      options: {
        protocol: "ctap2",
        transport: "internal",
        hasResidentKey: true,
        hasUserVerification: true,
        isUserVerified: true,
        automaticPresenceSimulation: true,
      },
    });
    await page.getByRole("link", { name: "Security" }).click();
    await page.getByLabel("Passkey name").fill("Virtual laptop key");
    await page.getByRole("button", { name: "Add a passkey" }).click();
    await page.getByTestId("passkey-row").filter({ hasText: "Virtual laptop key" }).waitFor();
    await page.getByRole("button", { name: "Rename passkey Virtual laptop key" }).click();
    await page.getByLabel("New name for passkey Virtual laptop key").fill("SOC laptop");
    await expectAccessible(page, "security-passkey-rename");
    await page.getByRole("button", { name: "Save" }).click();
    await page.getByTestId("passkey-row").filter({ hasText: "SOC laptop" }).waitFor();
    await expectAccessible(page, "security-passkeys");

    await signOut(page);
    await page.getByRole("button", { name: "Sign in with a passkey" }).click();
    await signedIn(page);
    expect(await page.getByTestId("account-email").textContent()).toBe(email);
  }, 60_000);

  it("changes the sign-in email on the Security page with the password and a code", async () => {
    await page.getByRole("link", { name: "Security" }).click();
    const section = page.getByRole("region", { name: "Email address" });
    const changed = uniqueEmail("secops-new");
    await section.getByLabel("New email address").fill(changed);
    await section.getByLabel("Current password").fill(password);
    await section.getByLabel("Authentication code").fill(await freshCode(page, secret));
    await section.getByRole("button", { name: "Change email" }).click();
    await section.getByText(`Email changed: sign in with ${changed} from now on.`).waitFor();
    await expect.poll(() => page.getByTestId("account-email").textContent()).toBe(changed);
    await expectAccessible(page, "security-email");
    email = changed;
  }, 90_000);

  it("ends a session from a second browser context; the first returns to sign-in", async () => {
    const second = await openTab(browser, server.origin);
    try {
      await second.page.goto("/");
      await signInWithPassword(second.page, email, password);
      await heading(second.page, "Two-step sign-in").waitFor();
      await second.page.getByRole("button", { name: "Use a recovery code" }).click();
      await second.page.getByLabel("Recovery code").fill(codes[1]!);
      await second.page.getByRole("button", { name: "Verify" }).click();
      await heading(second.page, "API keys").waitFor();
      await second.page.getByRole("link", { name: "Security" }).click();
      const rows = second.page.getByTestId("session-row");
      await expect.poll(() => rows.count()).toBe(2);
      await rows.filter({ hasNotText: "This session" }).getByRole("button").click();
      await expect.poll(() => rows.count()).toBe(1);

      // The first browser's next request finds its session gone: the click on the nav's
      // link, unless the notification bell's poll (every 10 s) got there first and the page
      // is already back at sign-in, with no nav to click.
      const signIn = heading(page, "Threat Intel API keys");
      const clicked = page
        .getByRole("link", { name: "Keys", exact: true })
        .click({ timeout: 10_000 })
        .catch(() => "no link");
      await Promise.race([clicked, signIn.waitFor()]);
      await signIn.waitFor();
      await page.getByText("Your session has ended.").waitFor();
      await clicked;
    } finally {
      await second.context.close();
    }
  }, 60_000);

  it("the reset-password page is accessible", async () => {
    await page.goto("/reset-password#token=" + "A".repeat(43));
    await heading(page, "Choose a new password").waitFor();
    await expectAccessible(page, "reset-password");
    expect(tab.errors).toEqual([]);
  }, 30_000);
});
