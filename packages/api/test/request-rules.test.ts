import { describe, expect, it } from "vitest";
import { nameHint } from "../src/keys/naming.js";
import { normalizeOrigin, checkContentType, checkOrigin } from "../src/auth/request-guard.js";

describe("name hints", () => {
  it.each(["key1", "my key", "test", "abc", "API key 2", "1234", "tmp"])("flags %j", (name) => {
    expect(nameHint(name)).toContain("prod-splunk-2026q2");
  });
  it.each(["prod-splunk-2026q2", "staging-sentinel", "tom-laptop-dev", "Production SIEM"])(
    "accepts %j",
    (name) => {
      expect(nameHint(name)).toBeUndefined();
    },
  );
});

describe("request guard", () => {
  const allowed = new Set(["https://app.test"]);
  it("normalizes origins", () => {
    expect(normalizeOrigin("HTTPS://App.Test:443")).toBe("https://app.test");
    expect(normalizeOrigin("null")).toBeNull();
    expect(normalizeOrigin("file:///etc/passwd")).toBeNull();
  });
  it("lets safe methods through and checks every other", () => {
    expect(checkOrigin("GET", {}, allowed)).toBeNull();
    expect(checkOrigin("POST", { "sec-fetch-site": "same-origin" }, allowed)).toBeNull();
    expect(checkOrigin("POST", { "sec-fetch-site": "same-site" }, allowed)).toBe("invalid_origin");
    expect(checkOrigin("DELETE", { origin: "https://app.test" }, allowed)).toBeNull();
    expect(checkOrigin("DELETE", { origin: "https://app.test.evil.test" }, allowed)).toBe(
      "invalid_origin",
    );
    expect(checkOrigin("PATCH", {}, allowed)).toBe("invalid_origin");
  });
  it("requires JSON for bodies of state-changing requests", () => {
    expect(
      checkContentType("POST", { "content-type": "application/json; charset=utf-8" }),
    ).toBeNull();
    expect(checkContentType("DELETE", {})).toBeNull();
    expect(checkContentType("POST", { "content-length": "5" })).toBe("unsupported_media_type");
    expect(checkContentType("POST", { "content-type": "text/plain" })).toBe(
      "unsupported_media_type",
    );
  });
});
