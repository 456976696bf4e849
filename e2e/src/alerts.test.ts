// Alerts as an analyst uses them: a webhook endpoint receiving its signed test event, and a
// canary key tripped by curl showing up in the bell and on the canary page.
import { execFile } from "node:child_process";
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { promisify } from "node:util";
import type { Browser, Page } from "playwright-core";
import { Webhook } from "standardwebhooks";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  chromiumAvailable,
  launchBrowser,
  openTab,
  screenshot,
  startServer,
  uniqueEmail,
  type RunningServer,
} from "./harness.js";
import { signUpThroughForm } from "./dashboard-steps.js";

const run = promisify(execFile);

describe.skipIf(!chromiumAvailable())("alerts in Chromium", () => {
  let server: RunningServer;
  let browser: Browser;
  let page: Page;
  let receiver: Server;
  let secret = "";
  const received: { body: string; verified: boolean }[] = [];

  beforeAll(async () => {
    // A real receiver on 127.0.0.1 (this helper's port range), verifying with standardwebhooks.
    receiver = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on("data", (chunk: Buffer) => chunks.push(chunk));
      request.on("end", () => {
        const body = Buffer.concat(chunks).toString("utf8");
        received.push({ body, verified: verifies(secret, body, request.headers) });
        response.end("ok");
      });
    });
    await listenInRange(receiver);
    server = await startServer({ WEBHOOK_ALLOWED_CIDRS: "127.0.0.1/32" });
    browser = await launchBrowser();
    page = (await openTab(browser, server.origin)).page;
    await signUpThroughForm(page, uniqueEmail("soc"));
  });

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
    await new Promise((resolve) => receiver?.close(resolve));
  });

  it("adds a webhook endpoint and sees its signed test event in the delivery log", async () => {
    await page.getByRole("link", { name: "Alerts" }).click();
    await page.getByRole("heading", { level: 1, name: "Alerts" }).waitFor();
    const port = (receiver.address() as AddressInfo).port;
    await page.getByLabel("URL").fill(`http://127.0.0.1:${port}/hooks/soar`);
    await page.getByLabel("Description").fill("SOAR playbook intake");
    await page.getByRole("button", { name: "Add endpoint" }).click();
    secret = (await page.getByTestId("webhook-secret").textContent()) ?? "";
    expect(secret).toMatch(/^whsec_/);
    await page.getByRole("button", { name: "Done" }).click();

    await page.getByRole("button", { name: "Send test event" }).click();
    await page
      .locator('[data-testid="deliveries"] tr[data-event="webhook.test"][data-status="delivered"]')
      .waitFor({ timeout: 20_000 });
    expect(received).toHaveLength(1);
    expect(received[0]!.verified).toBe(true);
    expect(JSON.parse(received[0]!.body)).toMatchObject({ type: "webhook.test" });
    await screenshot(page, "alerts-01-webhook-delivered");
  });

  it("creates a canary, trips it with curl, and sees the alert in the bell and on its page", async () => {
    await page.getByRole("link", { name: "Canaries" }).click();
    await page.getByRole("heading", { level: 1, name: "Canary keys" }).waitFor();
    await page.getByLabel("Name").fill("jenkins-aws-decoy");
    await page
      .getByLabel(/Where it will be planted/)
      .fill("Jenkins credential store, job deploy-prod");
    await page.getByRole("button", { name: "Create canary key" }).click();
    const decoy = (await page.getByTestId("canary-secret").textContent()) ?? "";
    expect(decoy).toMatch(/^sk_live_[0-9A-Za-z]{38}$/);
    await page.getByRole("button", { name: "Done" }).click();

    const { stdout } = await run("curl", [
      "-s",
      "-H",
      `Authorization: Bearer ${decoy}`,
      "-A",
      "curl/attacker",
      `${server.origin}/api/v1/iocs`,
    ]);
    expect(JSON.parse(stdout)).toMatchObject({ error: { code: "invalid_api_key" } });

    // The bell polls: the alert arrives without a reload.
    await page.getByTestId("bell-count").waitFor({ timeout: 20_000 });
    await page.getByTestId("bell").click();
    const alert = page.getByRole("link", {
      name: /Canary “jenkins-aws-decoy” used from 127\.0\.0\.1 \(GET \/api\/v1\/iocs\)/,
    });
    await alert.waitFor();
    await screenshot(page, "alerts-02-bell");
    await alert.click();
    await page.getByRole("heading", { level: 1, name: "jenkins-aws-decoy" }).waitFor();
    const triggers = page.getByTestId("canary-triggers");
    await triggers.waitFor();
    const text = (await triggers.textContent()) ?? "";
    expect(text).toContain("127.0.0.1");
    expect(text).toContain("GET /api/v1/iocs");
    expect(text).toContain("bearer");
    expect(text).toContain("curl/attacker");
    await screenshot(page, "alerts-03-canary-page");
  });
});

function verifies(secret: string, body: string, headers: IncomingHttpHeaders): boolean {
  try {
    new Webhook(secret).verify(body, headers as Record<string, string>);
    return true;
  } catch {
    return false;
  }
}

async function listenInRange(server: Server) {
  for (let tries = 0; tries < 50; tries++) {
    const port = 47_000 + Math.floor(Math.random() * 1000);
    const ok = await new Promise<boolean>((resolve) => {
      server.once("error", () => resolve(false));
      server.listen(port, "127.0.0.1", () => resolve(true));
    });
    if (ok) return;
  }
  throw new Error("no free port in 47000-47999");
}
