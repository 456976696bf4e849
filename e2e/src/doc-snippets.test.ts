// The documentation's JavaScript snippets, verbatim, in a signed-in dashboard tab: they are
// what customers paste into their browser console, so they must work exactly as published.
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  chromiumAvailable,
  launchBrowser,
  openTab,
  ROOT,
  startServer,
  uniqueEmail,
  type RunningServer,
  type Tab,
} from "./harness.js";
import { signUpThroughForm } from "./dashboard-steps.js";

/** From spec/mint-key-page.txt ("Create an API key"). */
const MINT_SNIPPET = `const r = await fetch('/api/v1/keys', {
method: 'POST',
credentials: 'include',
headers: { 'Content-Type': 'application/json' },
body: JSON.stringify({ name: 'prod-splunk-2026q2', expires_in_days: 90 }),
});
const { data, meta } = await r.json();
console.log(meta.warning); // "Store this API key securely..."
console.log(\`Save: \${data.full_key}\`); // sk_live_... (shown ONCE)`;

/** From spec/list-keys-page.txt ("List API keys"). */
const LIST_SNIPPET = `const r = await fetch('/api/v1/keys', { credentials: 'include' });
const { data } = await r.json();
data.forEach(k => console.log(\`\${k.key_prefix}: \${k.name} (\${k.tier})\`));`;

// The pages live beside the repository in the shared workspace; where they are present, the
// copies above must still match them character for character.
const SPEC_DIR = path.resolve(ROOT, "../shared/spec");

describe("documentation snippets", () => {
  it.runIf(existsSync(SPEC_DIR))("are copied verbatim from the documentation pages", () => {
    expect(readFileSync(path.join(SPEC_DIR, "mint-key-page.txt"), "utf8")).toContain(MINT_SNIPPET);
    expect(readFileSync(path.join(SPEC_DIR, "list-keys-page.txt"), "utf8")).toContain(LIST_SNIPPET);
  });
});

describe.skipIf(!chromiumAvailable())("documentation snippets in a signed-in tab", () => {
  let server: RunningServer;
  let browser: Browser;
  let tab: Tab;

  /** Runs a console snippet (top-level await included) and returns what it printed. */
  async function runSnippet(snippet: string): Promise<string[]> {
    const before = tab.console.length;
    await tab.page.evaluate(`(async () => {\n${snippet}\n})()`);
    return tab.console.slice(before);
  }

  beforeAll(async () => {
    server = await startServer();
    browser = await launchBrowser();
    tab = await openTab(browser, server.origin);
    await signUpThroughForm(tab.page, uniqueEmail("docs"));
  });

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
  });

  it("mints a key and prints the warning and the full key", async () => {
    const printed = await runSnippet(MINT_SNIPPET);
    expect(printed).toHaveLength(2);
    expect(printed[0]).toBe("Store this API key securely. It will not be shown again.");
    expect(printed[1]).toMatch(/^Save: sk_live_[0-9A-Za-z]{38}$/);
  });

  it("lists the keys as prefix, name and tier", async () => {
    const printed = await runSnippet(LIST_SNIPPET);
    expect(printed).toHaveLength(1);
    expect(printed[0]).toMatch(/^sk_live_[0-9A-Za-z]{4}: prod-splunk-2026q2 \(free\)$/);
  });

  it("the minted key shows up in the dashboard", async () => {
    await tab.page.reload();
    const row = tab.page.getByRole("row", { name: /prod-splunk-2026q2/ });
    await row.waitFor();
    expect(await row.textContent()).toContain("in 3 months");
    expect(tab.errors).toEqual([]);
  });
});
