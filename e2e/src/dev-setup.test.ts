// `npm run dev`: the Vite dev server proxies /trpc and /api to the API server without
// rewriting Host, so sign-up and mutations pass the server's origin check, and the app works
// under React's StrictMode (dialogs survive the double effect run).
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  chromiumAvailable,
  launchBrowser,
  openTab,
  startServer,
  startViteDev,
  uniqueEmail,
  type RunningServer,
} from "./harness.js";
import { heading, submitCredentials, TEST_PASSWORD } from "./dashboard-steps.js";

describe.skipIf(!chromiumAvailable())("dev setup (Vite dev server in front of the API)", () => {
  let server: RunningServer;
  let vite: Awaited<ReturnType<typeof startViteDev>>;
  let browser: Browser;

  beforeAll(async () => {
    server = await startServer();
    vite = await startViteDev(server.origin);
    browser = await launchBrowser();
  });

  afterAll(async () => {
    await browser?.close();
    await vite?.stop();
    await server?.stop();
  });

  it("signs up, creates a key and reads it back over REST through the proxy", async () => {
    const { page, errors } = await openTab(browser, vite.origin);
    await page.goto(vite.origin);
    await submitCredentials(page, uniqueEmail("dev"), TEST_PASSWORD, "Create account");
    await heading(page, "API keys").waitFor();

    await page.getByRole("button", { name: "Create key" }).click();
    const dialog = page.getByRole("dialog", { name: "Create API key" });
    await dialog.getByLabel("Name").fill("staging-sentinel");
    await dialog.getByRole("button", { name: "Create key" }).click();
    const created = page.getByRole("dialog", { name: "Your new API key" });
    await created.getByRole("checkbox", { name: /I have stored this key/ }).check();
    await created.getByRole("button", { name: "Done" }).click();
    await created.waitFor({ state: "detached" });
    await page.getByRole("row", { name: /staging-sentinel/ }).waitFor();

    const names = await page.evaluate(async () => {
      const response = await fetch("/api/v1/keys", { credentials: "include" });
      const body = (await response.json()) as { data: { name: string }[] };
      return body.data.map((key) => key.name);
    });
    expect(names).toEqual(["staging-sentinel"]);
    expect(errors).toEqual([]);
  });
});
