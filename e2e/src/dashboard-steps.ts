// What a user does in the dashboard, step by step, shared by the browser tests.
import type { Page } from "playwright-core";
import { expect } from "vitest";
import { describeViolations, runAxe } from "./harness.js";

export const KEY_PATTERN = /^sk_live_[0-9A-Za-z]{38}$/;
/** The password the browser tests sign up with (long and uncommon: the rules accept it). */
export const TEST_PASSWORD = "correct horse battery staple";

/** axe finds nothing serious or critical on the page as it is now. */
export async function expectAccessible(page: Page, name: string) {
  const { serious } = await runAxe(page, name);
  expect(serious, describeViolations(serious)).toEqual([]);
}

/** The page's title (its one h1). */
export function heading(page: Page, name: string) {
  return page.getByRole("heading", { level: 1, name, exact: true });
}

/** Fills the sign-in/sign-up form and presses `button` ("Sign in" or "Create account"). */
export async function submitCredentials(
  page: Page,
  email: string,
  password: string,
  button: "Sign in" | "Create account",
) {
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password", { exact: true }).fill(password);
  await page.getByRole("button", { name: button, exact: true }).click();
}

/** Signs up from the page the server opens on and waits for the key list. */
export async function signUpThroughForm(page: Page, email: string, password = TEST_PASSWORD) {
  await page.goto("/");
  await submitCredentials(page, email, password, "Create account");
  await heading(page, "API keys").waitFor();
}

/** Creates a key through the dialog and returns the secret it showed (once). */
export async function createKeyInDialog(page: Page, name: string): Promise<string> {
  await page.getByRole("button", { name: "Create key" }).click();
  const dialog = page.getByRole("dialog", { name: "Create API key" });
  await dialog.getByLabel("Name").fill(name);
  await dialog.getByRole("button", { name: "Create key" }).click();
  const created = page.getByRole("dialog", { name: "Your new API key" });
  const secret = await created.getByRole("textbox").inputValue();
  await created.getByRole("checkbox", { name: /I have stored this key/ }).check();
  await created.getByRole("button", { name: "Done" }).click();
  await created.waitFor({ state: "detached" });
  return secret;
}
