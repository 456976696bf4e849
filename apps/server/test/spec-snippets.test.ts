import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LIST_KEYS_SNIPPET, MINT_KEY_SNIPPET } from "./fixtures/spec-snippets.js";
import { signUp, startTestApp, type TestApp } from "./harness.js";

let test: TestApp;
let origin: string;
beforeAll(async () => {
  test = await startTestApp();
  await test.app.listen({ host: "127.0.0.1", port: 0 });
  origin = `http://127.0.0.1:${(test.app.server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await test.close();
});

/**
 * Runs a documentation snippet as a signed-in dashboard tab would: `fetch` resolves relative
 * URLs against the server and sends the session cookie and the browser's same-origin header
 * over real HTTP. Returns what the snippet printed.
 */
async function runInSignedInTab(snippet: string, cookie: string): Promise<string[]> {
  const printed: string[] = [];
  const tabFetch = (url: string, init: RequestInit = {}) =>
    fetch(new URL(url, origin), {
      ...init,
      headers: {
        ...(init.headers as Record<string, string>),
        cookie,
        "sec-fetch-site": "same-origin",
      },
    });
  const tabConsole = { log: (...args: unknown[]) => printed.push(args.map(String).join(" ")) };
  const AsyncFunction = Object.getPrototypeOf(async () => {}).constructor as new (
    ...args: string[]
  ) => (...values: unknown[]) => Promise<void>;
  await new AsyncFunction("fetch", "console", snippet)(tabFetch, tabConsole);
  return printed;
}

describe("the documentation snippets, run verbatim against a real server", () => {
  it("mint a 90-day key and print the warning and the secret", async () => {
    const account = await signUp(test);
    const printed = await runInSignedInTab(MINT_KEY_SNIPPET, account.cookie);
    expect(printed[0]).toBe("Store this API key securely. It will not be shown again.");
    expect(printed[1]).toMatch(/^Save: sk_live_[0-9A-Za-z]{38}$/);
  });

  it("list keys as `prefix: name (tier)` lines", async () => {
    const account = await signUp(test);
    await runInSignedInTab(MINT_KEY_SNIPPET, account.cookie);
    const printed = await runInSignedInTab(LIST_KEYS_SNIPPET, account.cookie);
    expect(printed).toHaveLength(1);
    expect(printed[0]).toMatch(/^sk_live_[0-9A-Za-z]{4}: prod-splunk-2026q2 \(free\)$/);
  });
});
