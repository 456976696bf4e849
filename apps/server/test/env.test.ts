// Every variable of the README's configuration table refuses nonsense at start-up, with one
// line naming the variable and what it must hold (never the value: URLs may hold passwords).
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { ConfigError, loadEnv } from "../src/env.js";
import { repoRoot, spawnEntry } from "./server-process.js";

/** One bad value (or more) per variable, and words the refusal must contain. */
const BAD: [name: string, value: string, expected: RegExp][] = [
  ["HOST", "999.1.1.1", /IP address or host name/],
  ["HOST", "my host", /IP address or host name/],
  ["PORT", "70000", /port number from 0 to 65535/],
  ["PORT", "http", /port number/],
  ["PUBLIC_URL", "localhost:3000", /absolute http:\/\/ or https:\/\/ URL/],
  ["PUBLIC_URL", "ftp://keys.example.com", /http:\/\/ or https:\/\//],
  ["ALLOWED_ORIGINS", "admin.internal", /origins/],
  ["ALLOWED_ORIGINS", "https://admin.example.com/path", /scheme, host, port/],
  ["DATABASE_URL", "mysql://db/keys", /postgres:\/\//],
  ["DATABASE_POOL_SIZE", "0", /whole number from 1 to 200/],
  ["DATA_DIR", "   ", /directory path/],
  ["SESSION_COOKIE_NAME", "my cookie", /cookie name/],
  ["SESSION_IDLE_DAYS", "-1", /positive number of days/],
  ["SESSION_ABSOLUTE_DAYS", "0", /positive number of days/],
  ["SIGNUP_ENABLED", "maybe", /true or false/],
  ["WEB_DIST_DIR", " ", /directory path/],
  ["SHUTDOWN_GRACE_SECONDS", "soon", /positive number of seconds/],
  ["REDIS_URL", "http://127.0.0.1:6379", /redis:\/\//],
  ["REDIS_KEY_PREFIX", "key service", /without spaces/],
  ["UPSTREAM_URL", "intel.internal:8443", /http:\/\/ or https:\/\//],
  ["DATA_API_ORIGIN", "https://data.example.com/api", /an origin/],
  ["TRUST_PROXY", "true", /hop count is refused/],
  ["TRUST_PROXY", "2", /addresses or CIDR ranges/],
  ["SCOPE_MAP", "{", /JSON array of scope rules/],
  ["KEY_CACHE_TTL_SECONDS", "0", /above 0, at most 3600/],
  ["KEY_CACHE_STALE_SECONDS", "-5", /from 0 to 86400/],
  ["USAGE_SPILL_DIR", "  ", /directory path/],
  ["USAGE_FLUSH_INTERVAL_MS", "10", /from 50 to 1000/],
  ["USAGE_COALESCE_ABOVE_KEYS", "-1", /whole number of keys from 0/],
  ["USAGE_COALESCE_ABOVE_KEYS", "2k", /whole number of keys from 0/],
  ["USAGE_ANALYTICS", "sometimes", /true or false/],
  ["FAILED_AUTH_PER_MINUTE", "0", /whole number above 0/],
  ["WEBHOOK_ALLOWED_CIDRS", "10.0.0.0/99", /CIDR ranges/],
  ["LOG_LEVEL", "loud", /info/],
  ["ACCESS_LOG_SUCCESS_LINES_PER_SECOND", "-1", /whole number from 0, or all/],
  ["ACCESS_LOG_SUCCESS_LINES_PER_SECOND", "unlimited", /whole number from 0, or all/],
  ["ACCESS_LOG_SUCCESS_LINES_PER_SECOND", "1.5", /whole number/],
  ["NODE_ENV", "staging", /development, production or test/],
];

/** The variables the README's configuration table lists. */
function readmeVariables(): string[] {
  const readme = readFileSync(`${repoRoot}/README.md`, "utf8");
  const table = readme.slice(
    readme.indexOf("| variable"),
    readme.indexOf("\n\n", readme.indexOf("| variable")),
  );
  return [...table.matchAll(/^\| `([A-Z_]+)`/gm)].map((match) => match[1]!);
}

describe("configuration", () => {
  it("tests a bad value for every variable in the README's table", () => {
    const tested = new Set(BAD.map(([name]) => name));
    const listed = readmeVariables();
    expect(listed.length).toBeGreaterThan(20);
    expect(listed.filter((name) => !tested.has(name))).toEqual([]);
  });

  it.each(BAD)(
    "refuses %s=%j in one line naming it and what it must be",
    (name, value, expected) => {
      let error: unknown;
      try {
        loadEnv({ [name]: value });
      } catch (caught) {
        error = caught;
      }
      expect(error).toBeInstanceOf(ConfigError);
      const message = (error as Error).message;
      expect(message).not.toContain("\n");
      expect(message).toMatch(new RegExp(`^Invalid configuration: ${name} must be `));
      expect(message).toMatch(expected);
      if (value.trim().length > 3) expect(message).not.toContain(value);
    },
  );

  it("names every bad variable at once, one clause each", () => {
    expect(() => loadEnv({ HOST: "999.1.1.1", PORT: "-1", SIGNUP_ENABLED: "maybe" })).toThrow(
      /^Invalid configuration: HOST must be [^;]+; PORT must be [^;]+; SIGNUP_ENABLED must be [^;]+$/,
    );
  });

  it("accepts good values", () => {
    const env = loadEnv({
      HOST: "0.0.0.0",
      PUBLIC_URL: "https://keys.example.com",
      ALLOWED_ORIGINS: "https://admin.example.com, http://localhost:5173",
      UPSTREAM_URL: "http://intel.internal:8443",
    });
    expect(env.publicUrl.origin).toBe("https://keys.example.com");
    expect(env.allowedOrigins).toContain("http://localhost:5173");
    expect(loadEnv({ HOST: "::" }).HOST).toBe("::");
    expect(loadEnv({ HOST: "keys-1.internal" }).HOST).toBe("keys-1.internal");
    expect(loadEnv({}).ACCESS_LOG_SUCCESS_LINES_PER_SECOND).toBe(1000);
    expect(
      loadEnv({ ACCESS_LOG_SUCCESS_LINES_PER_SECOND: "0" }).ACCESS_LOG_SUCCESS_LINES_PER_SECOND,
    ).toBe(0);
    expect(
      loadEnv({ ACCESS_LOG_SUCCESS_LINES_PER_SECOND: "all" }).ACCESS_LOG_SUCCESS_LINES_PER_SECOND,
    ).toBe(Number.POSITIVE_INFINITY);
  });

  it.each([
    ["PUBLIC_URL", "localhost:3000"],
    ["HOST", "999.1.1.1"],
  ])("stops the server process when %s=%s, with one line on stderr", async (name, value) => {
    const { output, exited } = spawnEntry("src/index.ts", [], { [name]: value });
    expect(await exited).toBe(1);
    const text = output.join("");
    expect(text.trim().split("\n")).toHaveLength(1);
    expect(text).toMatch(
      new RegExp(`^keyservice failed to start: Invalid configuration: ${name} must be `),
    );
  });
});
