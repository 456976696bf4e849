import { describe, expect, it } from "vitest";
import { generateKey } from "@repo/core";
import { extractCredential } from "../src/extract-credential.js";
import {
  bucketBounds,
  bucketIndex,
  HISTOGRAM_BUCKETS,
  mergeHistograms,
  percentileFromHistogram,
} from "@repo/core";
import {
  compileScopeRules,
  DEFAULT_SCOPE_RULES,
  resolveScope,
  scopeMapSchema,
} from "../src/scopes.js";
import { readQuery } from "../src/data-query.js";
import { integerText } from "../src/integer-text.js";
import { echoJson } from "../src/gateway-routes.js";
import { createMemoryRateLimiter, quotaFrom, type Quota } from "../src/rate-limit.js";
import { routeLabel } from "../src/usage-meter.js";

/** A request as extractCredential reads it: raw header pairs, as Node received them. */
const request = (headers: Record<string, string> | [string, string][]) => ({
  raw: { rawHeaders: (Array.isArray(headers) ? headers : Object.entries(headers)).flat() },
});

describe("credential extraction", () => {
  const a = generateKey().key;
  const b = generateKey().key;
  it("finds the key in each accepted place", () => {
    expect(extractCredential(request({ authorization: `Bearer ${a}` }), false)).toEqual({
      kind: "key",
      key: a,
    });
    expect(extractCredential(request({ authorization: `bEaReR\t${a} ` }), false)).toEqual({
      kind: "key",
      key: a,
    });
    expect(extractCredential(request({ "x-api-key": a }), false)).toEqual({ kind: "key", key: a });
    expect(extractCredential(request({}), false, [a])).toEqual({ kind: "key", key: a });
    expect(extractCredential(request({ X_Api_Key: a }), false)).toEqual({ kind: "key", key: a });
    const basic = `Basic ${Buffer.from(`apikey:${a}`).toString("base64")}`;
    expect(extractCredential(request({ authorization: basic }), true)).toEqual({
      kind: "key",
      key: a,
    });
    expect(extractCredential(request({ authorization: basic }), false)).toEqual({ kind: "none" });
  });
  it("one distinct value is one key; two are ambiguous; none is missing", () => {
    expect(
      extractCredential(request({ authorization: `Bearer ${a}`, "x-api-key": a }), false, [a]).kind,
    ).toBe("key");
    expect(
      extractCredential(request({ authorization: `Bearer ${a}`, "x-api-key": b }), false).kind,
    ).toBe("ambiguous");
    expect(extractCredential(request({}), false, [a, b]).kind).toBe("ambiguous");
    // The same credential header twice, even with one value (Node would keep only the first).
    const twice = (name: string, value: string): [string, string][] => [
      [name, value],
      [name, value],
    ];
    expect(extractCredential(request(twice("Authorization", `Bearer ${a}`)), false).kind).toBe(
      "ambiguous",
    );
    expect(extractCredential(request(twice("X-API-Key", a)), false).kind).toBe("ambiguous");
    expect(
      extractCredential(
        request([
          ["x-api-key", a],
          ["X_API_KEY", a],
        ]),
        false,
      ).kind,
    ).toBe("ambiguous");
    expect(extractCredential(request({ authorization: "Digest x" }), false).kind).toBe("none");
    expect(extractCredential(request({}), false).kind).toBe("none");
  });
});

describe("scope map", () => {
  const scopes = compileScopeRules(DEFAULT_SCOPE_RULES);
  const scopeOf = (id: string, query = "", accept?: string) => {
    const route = scopes.get(id)!;
    const reading = readQuery(query, route.params);
    if (!reading.ok) return reading.reason;
    return resolveScope(route, reading.chosen, accept);
  };
  it("applies the declared routes' scopes (CONTRACT §4)", () => {
    expect(scopeOf("listIocs")).toBe("read:iocs");
    expect(scopeOf("iocsStix")).toBe("read:stix");
    expect(scopeOf("iocsCef")).toBe("read:cef");
    expect(scopeOf("taxiiObjects")).toBe("read:stix");
    expect(scopeOf("whoami")).toBeNull();
    expect(scopeOf("listArticles", "format=json")).toBe("read:articles");
    expect(scopeOf("getArticle", "format=csv")).toBe("read:articles");
  });
  it("reads the export parameter in any case, trimmed, and refuses repeats and arrays", () => {
    for (const query of ["format=csv", "FORMAT=CSV", "%46ormat=%20NdJson%20", "Format=csv+"]) {
      expect(scopeOf("listArticles", query), query).toBe("read:articles:export");
    }
    for (const query of ["format=json&format=csv", "format[]=csv", "format=csv&FORMAT=csv"]) {
      expect(scopeOf("listArticles", query), query).toBe("repeated");
    }
    expect(scopeOf("listArticles", "%E0%A4%A=1")).toBe("malformed");
  });
  it("counts content negotiation like the parameter it stands for", () => {
    expect(scopeOf("listArticles", "", "application/x-ndjson")).toBe("read:articles:export");
    expect(scopeOf("listArticles", "format=json", "text/html, TEXT/CSV;q=0.1")).toBe(
      "read:articles:export",
    );
    expect(scopeOf("listArticles", "", "application/json")).toBe("read:articles");
  });
  it("can be replaced by configuration, resolved against declared routes only", () => {
    const custom = compileScopeRules([{ path: "/api/v1/iocs", scope: "read:stix" }]);
    expect(custom.get("listIocs")!.base).toBe("read:stix");
    // A rule covers the declared routes below it, not arbitrary request paths.
    expect(custom.get("iocsCef")!.base).toBe("read:stix");
    expect(custom.get("listArticles")!.base).toBe("read:articles");
    expect(custom.get("whoami")!.base).toBeNull();
    expect(scopeMapSchema.safeParse([{ path: "/api/v1/other", scope: "read:iocs" }]).success).toBe(
      false,
    );
    expect(scopeMapSchema.safeParse([{ path: "/api/taxii2", scope: "read:iocs" }]).success).toBe(
      true,
    );
  });
});

describe("canonical query", () => {
  const none = new Set<string>();
  it("removes every spelling of the credential and keeps the rest, encoded", () => {
    const k = "sk_live_x";
    for (const name of [
      "api_key",
      "API_KEY",
      "api%5Fkey",
      "Api-Key",
      "apikey",
      "%20api_key",
      "api_key[]",
      "api%5fKEY%5B0%5D",
    ]) {
      const reading = readQuery(`${name}=${k}&limit=5&${name}=${k}`, none);
      expect(reading, name).toMatchObject({ ok: true, search: "?limit=5", credentials: [k, k] });
    }
    expect(readQuery(`api_key=${k}`, none)).toMatchObject({ ok: true, search: "" });
    expect(readQuery("q=https://evil.test/../x?y=1%26z", none)).toMatchObject({
      ok: true,
      search: "?q=https%3A%2F%2Fevil.test%2F..%2Fx%3Fy%3D1%26z",
    });
  });
});

describe("latency histogram", () => {
  it("reads percentiles back within 5% of the true value", () => {
    const values = Array.from({ length: 5_000 }, (_, i) => 0.08 * 1.0017 ** i); // 0.08 ms … ~400 ms
    const counts: number[] = [];
    for (const v of values) counts[bucketIndex(v)] = (counts[bucketIndex(v)] ?? 0) + 1;
    for (const p of [0.5, 0.95, 0.99]) {
      const truth = values[Math.ceil(p * values.length) - 1]!;
      const estimate = percentileFromHistogram(
        Array.from(counts, (n) => n ?? 0),
        p,
      )!;
      expect(Math.abs(estimate - truth) / truth).toBeLessThan(0.05);
    }
  });
  it("has contiguous buckets and merges by addition", () => {
    expect(bucketBounds(1)[0]).toBe(bucketBounds(0)[1]);
    expect(bucketIndex(1e9)).toBe(HISTOGRAM_BUCKETS - 1);
    expect(bucketIndex(0)).toBe(0);
    expect(mergeHistograms([1, 2], [3, 4, 5])).toEqual([4, 6, 5]);
    expect(percentileFromHistogram([], 0.5)).toBeNull();
  });
});

describe("in-memory rate limiter", () => {
  const limits = { perMinute: 3, perDay: 5 };
  const at = (iso: string) => Date.parse(iso);
  it("counts fixed UTC windows and consumes nothing when refusing", async () => {
    const limiter = createMemoryRateLimiter();
    const t = at("2026-06-01T10:00:30Z");
    const results = [];
    for (let i = 0; i < 5; i++) results.push(await limiter.take("k", limits, t));
    expect(results.map((r) => r.allowed)).toEqual([true, true, true, false, false]);
    expect(results.map((r) => r.remaining)).toEqual([2, 1, 0, 0, 0]);
    const nextMinute = await limiter.take("k", limits, at("2026-06-01T10:01:00Z"));
    expect(nextMinute).toMatchObject({ allowed: true, dayRemaining: 1, window: "day" });
    const dry = await limiter.take("k", limits, at("2026-06-01T10:01:01Z"), false);
    expect(dry.dayRemaining).toBe(1);
    await limiter.take("k", limits, at("2026-06-01T10:01:02Z"));
    const dayDone = await limiter.take("k", limits, at("2026-06-01T10:02:00Z"));
    expect(dayDone).toMatchObject({
      allowed: false,
      window: "day",
      reset: at("2026-06-02T00:00:00Z") / 1000,
    });
    expect((await limiter.take("k", limits, at("2026-06-02T00:00:00Z"))).allowed).toBe(true);
  });
  it("weighs a request by its cost: four TAXII object fetches (2.5 each) fill a limit of 10", () => {
    const limiter = createMemoryRateLimiter();
    const ten = { perMinute: 10, perDay: 100 };
    const t = at("2026-06-01T10:00:30Z");
    const taxii = Array.from({ length: 4 }, () => limiter.take("t", ten, t, true, 2.5) as Quota);
    expect(taxii.map((q) => [q.allowed, q.remaining])).toEqual([
      [true, 7],
      [true, 5],
      [true, 2],
      [true, 0],
    ]);
    expect((limiter.take("t", ten, t, true, 2.5) as Quota).allowed).toBe(false);
    expect((limiter.take("t", ten, t) as Quota).allowed).toBe(false);
    expect((limiter.take("t", ten, t, true, 2.5) as Quota).dayRemaining).toBe(90);
    // Mixed: Remaining rounds down, so "1 left" always admits a request of cost 1 and
    // "0 left" never does.
    expect((limiter.take("m", ten, t, true, 2.5) as Quota).remaining).toBe(7);
    const plain = Array.from({ length: 7 }, () => limiter.take("m", ten, t) as Quota);
    expect(plain.map((q) => q.remaining)).toEqual([6, 5, 4, 3, 2, 1, 0]);
    expect(plain.every((q) => q.allowed)).toBe(true);
    expect((limiter.take("m", ten, t) as Quota).allowed).toBe(false);
  });
  it("reports Retry-After consistent with Reset", () => {
    const now = at("2026-06-01T10:00:59.200Z");
    // 3 requests used of 3 (counters hold half requests), refusing a request of cost 1.
    const quota = quotaFrom(false, 6, 6, 2, limits, now);
    expect(quota.retryAfter).toBe(1);
    expect(quota.reset).toBe(at("2026-06-01T10:01:00Z") / 1000);
  });
});

describe("route labels", () => {
  it("drop ids so the route breakdown stays small", () => {
    expect(routeLabel("/api/v1/iocs/12345")).toBe("/api/v1/iocs/:id");
    expect(routeLabel("/api/v1/articles/9b2f0c1e-aaaa-4bbb-8ccc-1234567890ab")).toBe(
      "/api/v1/articles/:id",
    );
    expect(routeLabel("/api/v1/iocs/stix")).toBe("/api/v1/iocs/stix");
  });
});

describe("the echo answer's JSON", () => {
  /** The documented shape, serialized whole: what the hand-written JSON must equal. */
  function reference(state: Parameters<typeof echoJson>[0], method: string, path: string) {
    const key = state.key!;
    const quota = state.quota!;
    return JSON.stringify({
      data: {
        authenticated: true,
        mode: "echo",
        message:
          "Your API key works. No upstream data API is configured on this server (UPSTREAM_URL), so this endpoint only echoes what the gateway verified.",
        key: { id: key.id, key_prefix: key.keyPrefix, tier: key.tier, scopes: key.scopeList },
        request: { method, path, required_scope: state.scope, cost: state.route.cost },
        rate_limit: {
          minute: {
            limit: key.limits.perMinute,
            remaining: quota.minuteRemaining,
            reset: quota.minuteReset,
          },
          day: { limit: key.limits.perDay, remaining: quota.dayRemaining, reset: quota.dayReset },
        },
      },
    });
  }

  function state(overrides: { scope?: string | null; path?: string; parametric?: boolean } = {}) {
    return {
      route: {
        route: { path: overrides.path ?? "/api/v1/iocs" },
        parametric: overrides.parametric ?? false,
        cost: 2.5,
        echoRequests: new Map(),
      },
      scope: overrides.scope === undefined ? "read:iocs" : overrides.scope,
      key: {
        id: '2f1c…"quoted"\\',
        keyPrefix: "sk_live_\u2028x",
        tier: "pro",
        scopeList: ["read:iocs", 'odd"scope'],
        limits: { perMinute: 100, perDay: Number.POSITIVE_INFINITY },
        echoJson: undefined,
      },
      quota: { minuteRemaining: 0, minuteReset: 1_796_297_220, dayRemaining: -0, dayReset: 1.5 },
    } as unknown as Parameters<typeof echoJson>[0];
  }

  it("equals JSON.stringify of the documented object, strings escaped, odd numbers included", () => {
    for (const scope of ["read:iocs", null]) {
      const s = state({ scope });
      expect(echoJson(s, "GET", undefined)).toBe(reference(s, "GET", "/api/v1/iocs"));
      // The key's and the request's parts are kept and reused, each for what it describes.
      expect(echoJson(s, "GET", undefined)).toBe(reference(s, "GET", "/api/v1/iocs"));
      expect(echoJson(s, "POST", undefined)).toBe(reference(s, "POST", "/api/v1/iocs"));
    }
    const parametric = state({ path: "/api/v1/articles/:articleId", parametric: true });
    expect(echoJson(parametric, "GET", { articleId: 'a"b c' })).toBe(
      reference(parametric, "GET", "/api/v1/articles/a%22b%20c"),
    );
    expect(echoJson(parametric, "GET", { articleId: "other" })).toBe(
      reference(parametric, "GET", "/api/v1/articles/other"),
    );
    // One route, another scope (an export): its own part, not the first one's.
    const route = state();
    expect(echoJson(route, "GET", undefined)).toBe(reference(route, "GET", "/api/v1/iocs"));
    const exported = { ...route, scope: "read:articles:export" };
    expect(echoJson(exported, "GET", undefined)).toBe(reference(exported, "GET", "/api/v1/iocs"));
    expect(JSON.parse(echoJson(state(), "GET", undefined)).data.rate_limit.day.limit).toBeNull();
  });

  it("keeps the key's part for every route the key is used on, numbers always fresh", () => {
    const iocs = state();
    const key = iocs.key!;
    const articles = state({ path: "/api/v1/articles", scope: "read:articles" });
    const sameKeyOnArticles = { ...articles, key };
    expect(echoJson(iocs, "GET", undefined)).toBe(reference(iocs, "GET", "/api/v1/iocs"));
    // The quota moved: nothing kept may hold any of the quota's numbers.
    const later = {
      ...iocs,
      quota: { minuteRemaining: 41, minuteReset: 7, dayRemaining: 12, dayReset: 9 },
    } as typeof iocs;
    expect(echoJson(later, "GET", undefined)).toBe(reference(later, "GET", "/api/v1/iocs"));
    expect(echoJson(sameKeyOnArticles, "GET", undefined)).toBe(
      reference(sameKeyOnArticles, "GET", "/api/v1/articles"),
    );
    expect(echoJson(iocs, "GET", undefined)).toBe(reference(iocs, "GET", "/api/v1/iocs"));
    // A parametric path's request part is made per request.
    const parametric = { ...state({ path: "/api/v1/articles/:id", parametric: true }), key };
    for (const id of ["one", "one", "two"]) {
      expect(echoJson(parametric, "GET", { id })).toBe(
        reference(parametric, "GET", `/api/v1/articles/${id}`),
      );
    }
    expect(echoJson(iocs, "GET", undefined)).toBe(reference(iocs, "GET", "/api/v1/iocs"));
  });
});

describe("integer text", () => {
  it("writes every number as String does, at each three-digit boundary and beyond", () => {
    const values = [0, -0, 1, 9, 10, 99, 100, 999, 1000, 1001, 1010, 1100, 9999, 10_000];
    for (const power of [6, 9, 12, 15]) {
      const base = 10 ** power;
      values.push(base - 1, base, base + 1, base + 7, base * 2 + 1_001);
    }
    values.push(
      2 ** 31 - 1,
      2 ** 31,
      1_999_999_998,
      1_796_297_220,
      Number.MAX_SAFE_INTEGER,
      Number.MAX_SAFE_INTEGER + 1,
      -1,
      -1_000,
      0.5,
      1.5,
      1e21,
      Number.POSITIVE_INFINITY,
      Number.NaN,
    );
    for (let n = 0; n < 5_000; n += 7) values.push(n * 1_000_003);
    for (const value of values) expect(integerText(value)).toBe(String(value));
  });
});
