import { describe, expect, it } from "vitest";
import { ConfigError, loadEnv } from "../src/env.js";

/** The data-plane settings are validated at start-up like every other variable. */
describe("data-plane configuration", () => {
  it("has defaults for everything", () => {
    const env = loadEnv({});
    expect(env).toMatchObject({
      REDIS_KEY_PREFIX: "keyservice:rl:",
      KEY_CACHE_TTL_SECONDS: 60,
      USAGE_FLUSH_INTERVAL_MS: 1000,
      FAILED_AUTH_PER_MINUTE: 60,
    });
    expect(env.REDIS_URL).toBeUndefined();
    expect(env.UPSTREAM_URL).toBeUndefined();
    expect(env.SCOPE_MAP).toBeUndefined();
  });

  it("parses a scope map", () => {
    const env = loadEnv({
      SCOPE_MAP: JSON.stringify([
        { path: "/api/v1/iocs", scope: "read:iocs" },
        { path: "/api/v1/articles", query: { format: ["csv"] }, scope: "read:articles:export" },
      ]),
      REDIS_URL: "redis://127.0.0.1:6379",
      UPSTREAM_URL: "https://intel.internal:8443",
    });
    expect(env.SCOPE_MAP).toHaveLength(2);
  });

  it("TRUST_PROXY takes the proxies' addresses and ranges only", () => {
    expect(loadEnv({}).trustProxy).toBe(false);
    expect(loadEnv({ TRUST_PROXY: "false" }).trustProxy).toBe(false);
    expect(loadEnv({ TRUST_PROXY: " 10.0.0.5, 10.1.0.0/16 ,::1,fd00::/8" }).trustProxy).toEqual([
      "10.0.0.5",
      "10.1.0.0/16",
      "::1",
      "fd00::/8",
    ]);
    expect(() => loadEnv({ TRUST_PROXY: "true" })).toThrow(
      /TRUST_PROXY must be .*hop count is refused/,
    );
  });

  it.each([
    ["SCOPE_MAP", "not json"],
    ["SCOPE_MAP", "[]"],
    ["SCOPE_MAP", JSON.stringify([{ path: "/api/v1/iocs", scope: "admin:everything" }])],
    ["SCOPE_MAP", JSON.stringify([{ path: "api/v1/iocs", scope: "read:iocs" }])],
    ["REDIS_URL", "http://127.0.0.1:6379"],
    ["UPSTREAM_URL", "ftp://intel.internal"],
    ["USAGE_FLUSH_INTERVAL_MS", "5000"],
    ["KEY_CACHE_TTL_SECONDS", "0"],
    ["FAILED_AUTH_PER_MINUTE", "-1"],
    ["TRUST_PROXY", "true"],
    ["TRUST_PROXY", "1"],
    ["TRUST_PROXY", "2"],
    ["TRUST_PROXY", "10.0.0.0/33"],
    ["TRUST_PROXY", "10.0.0.5, proxy.internal"],
    ["DATA_API_ORIGIN", "https://data.example.com/api"],
  ])("refuses %s=%s, naming the variable", (name, value) => {
    expect(() => loadEnv({ [name]: value })).toThrow(ConfigError);
    expect(() => loadEnv({ [name]: value })).toThrow(name);
  });
});
