import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestApp, type TestApp } from "./harness.js";

let test: TestApp;
let webDist: string;
beforeAll(async () => {
  webDist = mkdtempSync(path.join(tmpdir(), "keyservice-web-"));
  writeFileSync(path.join(webDist, "index.html"), "<!doctype html><title>dashboard</title>");
  writeFileSync(path.join(webDist, "app.js"), "console.log('app')");
  test = await startTestApp({ webDistDir: webDist });
});
afterAll(async () => {
  await test.close();
  rmSync(webDist, { recursive: true, force: true });
});

/** helmet's document headers: a dashboard page is never framed, opened into or leaks Referer. */
function expectDocumentHeaders(headers: Record<string, unknown>) {
  expect(headers["x-frame-options"]).toBe("SAMEORIGIN");
  expect(headers["cross-origin-opener-policy"]).toBe("same-origin");
  expect(headers["cross-origin-resource-policy"]).toBe("same-origin");
  expect(headers["referrer-policy"]).toBe("no-referrer");
  expect(headers["x-content-type-options"]).toBe("nosniff");
  expect(headers["cache-control"]).toBe("no-cache");
}

describe("serving the built SPA", () => {
  it("serves index.html at / and its assets", async () => {
    const index = await test.app.inject({ method: "GET", url: "/" });
    expect(index.statusCode).toBe(200);
    expect(index.body).toContain("<title>dashboard</title>");
    expect(index.headers["content-security-policy"]).toContain("frame-ancestors 'none'");
    expectDocumentHeaders(index.headers);
    const asset = await test.app.inject({ method: "GET", url: "/app.js" });
    expect(asset.statusCode).toBe(200);
    expect(asset.headers["x-content-type-options"]).toBe("nosniff");
  });

  it("sends HSTS on pages and on API answers when PUBLIC_URL is https", async () => {
    const secure = await startTestApp({
      webDistDir: webDist,
      publicUrl: new URL("https://keys.example.test"),
    });
    try {
      for (const url of ["/", "/healthz", "/api/v1/keys", "/api/v1/iocs"]) {
        const response = await secure.app.inject({ method: "GET", url });
        expect(response.headers["strict-transport-security"], url).toMatch(/^max-age=\d{7,}/);
      }
      const page = await secure.app.inject({ method: "GET", url: "/" });
      expect(page.headers["content-security-policy"]).toContain("upgrade-insecure-requests");
    } finally {
      await secure.close();
    }
    const plain = await test.app.inject({ method: "GET", url: "/healthz" });
    expect(plain.headers["strict-transport-security"]).toBeUndefined();
  });

  it("answers client-side routes with index.html (history fallback)", async () => {
    const response = await test.app.inject({
      method: "GET",
      url: "/keys/3c90c3cc-0d44-4b50-8888-8dd25736052a",
      headers: { accept: "text/html,application/xhtml+xml" },
    });
    expect(response.statusCode).toBe(200);
    expect(response.body).toContain("<title>dashboard</title>");
    expectDocumentHeaders(response.headers);
  });

  it("keeps the JSON 404 envelope for API paths and non-page requests", async () => {
    for (const [url, accept] of [
      ["/api/v1/nothing-here", "text/html"],
      ["/trpc-nope", "text/html"],
      ["/missing.js", "*/*"],
    ]) {
      const response = await test.app.inject({
        method: "GET",
        url: url!,
        headers: { accept: accept! },
      });
      expect(response.statusCode).toBe(404);
      expect(response.json().error.code).toBe("not_found");
    }
  });
});
