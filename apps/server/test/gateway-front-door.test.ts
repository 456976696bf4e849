import { createServer, connect, type Server, type AddressInfo } from "node:net";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { generateKey } from "@repo/core";
import { apiKeys, inArray, openDatabase } from "@repo/db";
import { deleteRedisKeys } from "@repo/gateway/testing";
import { startTestApp, type TestApp } from "./harness.js";
import { createKey, stoppedClock, type TestKey } from "./gateway-helpers.js";

/**
 * The data plane tried as an attacker would, against a recording upstream: a raw TCP server
 * that keeps the exact bytes of every request it gets (so nothing a parser would tidy up is
 * hidden), and answers with headers an upstream should not be able to pass on.
 */
interface Recorded {
  raw: string;
  requestLine: string;
  headers: [string, string][];
  body: Buffer;
}

const UPSTREAM_ANSWER = [
  "HTTP/1.1 200 OK",
  "Content-Type: text/html",
  "Set-Cookie: sb-access-token=from-upstream; Path=/",
  "Cache-Control: public, max-age=3600",
  "Content-Security-Policy: default-src *",
  "Access-Control-Allow-Origin: *",
  "X-RateLimit-Remaining: 999999",
  "Content-Length: 40",
  "Connection: close",
  "",
  "<html><script>alert(1)</script></html>\n\n",
].join("\r\n");

let upstream: Server;
const received: Recorded[] = [];
let test: TestApp;
let base: { host: string; port: number };
let iocsOnly: TestKey;
let everything: TestKey;

function recordingUpstream(): Promise<Server> {
  const server = createServer((socket) => {
    let data = Buffer.alloc(0);
    socket.on("data", (chunk: Buffer) => {
      data = Buffer.concat([data, chunk]);
      const end = data.indexOf("\r\n\r\n");
      if (end === -1) return;
      const head = data.subarray(0, end).toString("latin1");
      const length = Number(/\r\ncontent-length:\s*(\d+)/i.exec(head)?.[1] ?? 0);
      if (data.length < end + 4 + length) return;
      const [requestLine, ...lines] = head.split("\r\n");
      received.push({
        raw: data.toString("latin1"),
        requestLine: requestLine!,
        headers: lines.map((line) => {
          const colon = line.indexOf(":");
          return [line.slice(0, colon).toLowerCase(), line.slice(colon + 1).trim()];
        }),
        body: data.subarray(end + 4, end + 4 + length),
      });
      socket.end(UPSTREAM_ANSWER);
    });
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(server)));
}

/** One request over a raw socket: duplicate and oddly spelled headers arrive as written. */
function rawRequest(
  target: string,
  headers: [string, string][],
  options: { method?: string; body?: string } = {},
): Promise<{ status: number; head: string; body: string }> {
  const body = options.body ?? "";
  const lines = [
    `${options.method ?? "GET"} ${target} HTTP/1.1`,
    `Host: localhost:${base.port}`,
    ...headers.map(([name, value]) => `${name}: ${value}`),
    ...(body ? [`Content-Length: ${Buffer.byteLength(body)}`] : []),
    "",
    body,
  ];
  return new Promise((resolve, reject) => {
    const socket = connect(base.port, base.host);
    let data = "";
    socket.on("data", (chunk) => {
      data += chunk.toString("latin1");
      const end = data.indexOf("\r\n\r\n");
      if (end === -1) return;
      const head = data.slice(0, end);
      const length = Number(/\r\ncontent-length:\s*(\d+)/i.exec(head)?.[1] ?? -1);
      if (length >= 0 && data.length >= end + 4 + length) {
        socket.destroy();
        resolve({
          status: Number(head.split(" ")[1]),
          head,
          body: data.slice(end + 4, end + 4 + length),
        });
      }
    });
    socket.on("error", reject);
    socket.write(lines.join("\r\n"));
  });
}

const bearer = (key: string): [string, string] => ["Authorization", `Bearer ${key}`];
const header = (r: Recorded, name: string) =>
  r.headers.filter(([n]) => n === name).map(([, v]) => v);

beforeAll(async () => {
  upstream = await recordingUpstream();
  const { port } = upstream.address() as AddressInfo;
  test = await startTestApp({
    gateway: { upstreamUrl: `http://127.0.0.1:${port}`, failedAuthPerMinute: 100_000 },
  });
  await test.app.listen({ port: 0, host: "127.0.0.1" });
  base = { host: "127.0.0.1", port: (test.app.server.address() as AddressInfo).port };
  iocsOnly = await createKey(test.db, { scopes: ["read:iocs", "read:articles"] });
  everything = await createKey(test.db, { tier: "pro", perMinute: 100_000 });
});
afterAll(async () => {
  await test.close();
  await new Promise((resolve) => upstream.close(resolve));
});
beforeEach(() => {
  received.length = 0;
});

describe("1. credentials never leave", () => {
  const spellings = [
    "api_key",
    "API_KEY",
    "Api-Key",
    "apikey",
    "api%5Fkey",
    "api%5fKEY",
    "%61pi_key",
    "api_key[]",
    "api_key%5B0%5D",
    "+api_key",
  ];
  it.each(spellings)(
    "?%s= authenticates and reaches neither the upstream nor a log line",
    async (name) => {
      const key = everything.key;
      const logsBefore = test.logs.length;
      for (const query of [
        `${name}=${key}`,
        `${name}=${key}&limit=5`,
        `${name}=${key}&${name}=${key}`,
      ]) {
        const response = await rawRequest(`/api/v1/iocs?${query}`, []);
        expect(response.status, query).toBe(200);
      }
      expect(received).toHaveLength(3);
      for (const r of received) {
        expect(r.raw).not.toContain(key);
        expect(r.raw.toLowerCase()).not.toMatch(/api.?key/);
      }
      expect(received.map((r) => r.requestLine)).toEqual([
        "GET /api/v1/iocs HTTP/1.1",
        "GET /api/v1/iocs?limit=5 HTTP/1.1",
        "GET /api/v1/iocs HTTP/1.1",
      ]);
      expect(test.logs.slice(logsBefore).join("")).not.toContain(key);
    },
  );

  it("headers in any spelling and TAXII Basic auth are stripped; errors never echo the key", async () => {
    const key = everything.key;
    const basic = Buffer.from(`apikey:${key}`).toString("base64");
    const forms: [string, [string, string][]][] = [
      ["/api/v1/iocs", [bearer(key)]],
      ["/api/v1/iocs", [["authorization", `bEaReR ${key}`]]],
      ["/api/v1/iocs", [["X-API-Key", key]]],
      ["/api/v1/iocs", [["x_api_key", key]]],
      ["/api/taxii2/", [["Authorization", `Basic ${basic}`]]],
    ];
    for (const [url, headers] of forms) {
      expect((await rawRequest(url, headers)).status, JSON.stringify(headers)).toBe(200);
    }
    expect(received).toHaveLength(forms.length);
    for (const r of received) {
      expect(r.raw).not.toContain(key);
      expect(r.raw).not.toContain(basic);
      expect(header(r, "authorization")).toEqual([]);
    }
    // A refused key is not repeated back, nor logged.
    const forged = generateKey().key;
    const logsBefore = test.logs.length;
    const refused = await rawRequest(`/api/v1/iocs?api_key=${forged}`, []);
    expect(refused.status).toBe(401);
    expect(refused.body).not.toContain(forged);
    expect(test.logs.slice(logsBefore).join("")).not.toContain(forged);
  });
});

describe("2. the upstream sees exactly what was authorized", () => {
  it("paths that are not exactly a declared route are 404 and never forwarded", async () => {
    const variants = [
      "/api/v1/iocs/stix.json",
      "/api/v1/iocs/stix/",
      "/api/v1/iocs/STIX",
      "/api/v1/iocs/stix;x",
      "/api/v1/iocs/stix%2F",
      "/api/v1/iocs/x/../stix",
      "/api/v1/iocs/%2e%2e/iocs/stix",
      "/api/v1/iocs/.%2e/stix",
      "/api/v1/iocs%2Fstix",
      "//api/v1/iocs/stix",
      "/api/v1/iocs/stix/x",
      "/api/v1/IOCS",
      "/api/v1/keys/../iocs/stix",
      "/api/taxii2/api/collections/x/objects",
      "/api/taxii2/api/collections/x/objects/y",
      "/api/taxii2/api/collections/x/objects%2F",
      "/api/v1/articles/..%2Fkeys",
      "/api/v1/articles/%2e%2e",
      "/api/v1/articles/a%5Cb",
      "/api/v1/whatever",
    ];
    for (const url of variants) {
      const response = await rawRequest(url, [bearer(everything.key)]);
      expect(response.status, url).toBe(404);
      expect(JSON.parse(response.body).error.code, url).toBe("not_found");
    }
    expect(received).toEqual([]);
  });

  it("one normalization: a percent-encoded declared path needs that route's scope", async () => {
    const refused = await rawRequest("/api/v1/iocs/%73tix", [bearer(iocsOnly.key)]);
    expect(refused.status).toBe(403);
    expect(JSON.parse(refused.body).error.details.required_scope).toBe("read:stix");
    expect((await rawRequest("/api/v1/iocs/%73tix", [bearer(everything.key)])).status).toBe(200);
    expect(received.map((r) => r.requestLine)).toEqual(["GET /api/v1/iocs/stix HTTP/1.1"]);
  });

  it("the export parameter in any case or spacing, and content negotiation, need the export scope", async () => {
    const exports: [string, [string, string][]][] = [
      ["format=csv", []],
      ["format=CSV", []],
      ["FORMAT=NdJson", []],
      ["format=%20csv%20", []],
      ["%20format%20=csv", []],
      ["format=csv+", []],
      ["f%6Frmat=csv", []],
      ["", [["Accept", "text/csv"]]],
      ["", [["Accept", "application/x-ndjson"]]],
      ["format=json", [["Accept", "application/json, TEXT/CSV;q=0.1"]]],
    ];
    for (const [query, headers] of exports) {
      const response = await rawRequest(`/api/v1/articles?${query}`, [
        bearer(iocsOnly.key),
        ...headers,
      ]);
      expect(response.status, query + JSON.stringify(headers)).toBe(403);
      expect(JSON.parse(response.body).error.details.required_scope).toBe("read:articles:export");
    }
    expect(received).toEqual([]);
    // Repeats and arrays of the parameter that chooses the scope: refused, never guessed.
    for (const query of [
      "format=json&format=csv",
      "format=csv&FORMAT=csv",
      "format[]=csv",
      "format%5B%5D=csv",
      "format[0]=csv",
    ]) {
      const response = await rawRequest(`/api/v1/articles?${query}`, [bearer(everything.key)]);
      expect(response.status, query).toBe(400);
      expect(JSON.parse(response.body).error.code).toBe("validation_error");
    }
    expect(received).toEqual([]);
    // With the scope, the upstream gets the canonical form only.
    await rawRequest("/api/v1/articles?%20FORMAT%20=%20CsV%20&q=x", [bearer(everything.key)]);
    expect(received.map((r) => r.requestLine)).toEqual([
      "GET /api/v1/articles?format=csv&q=x HTTP/1.1",
    ]);
  });

  it("a TAXII objects fetch costs 2.5 whatever the spelling of its path", async () => {
    const k = await createKey(test.db, { tier: "pro", perMinute: 10, perDay: 1_000 });
    const response = await rawRequest("/api/taxii2/api/collections/%61ll/objects/?limit=1", [
      bearer(k.key),
    ]);
    expect(response.status).toBe(200);
    expect(/x-ratelimit-remaining: (\d+)/i.exec(response.head)?.[1]).toBe("7");
    expect(received.map((r) => r.requestLine)).toEqual([
      "GET /api/taxii2/api/collections/all/objects/?limit=1 HTTP/1.1",
    ]);
  });

  it("the body is forwarded byte for byte, whatever its type", async () => {
    const bodies: [string, string][] = [
      ["application/json", '{"a":1,"a":2,"n":123456789012345678901234567890,"s":"\\u00e9"}'],
      ["application/json", "{not json"],
      ["text/plain", "hello\r\nworld"],
      ["application/x-www-form-urlencoded", "a=1&a=2&api=%41"],
    ];
    for (const [type, body] of bodies) {
      const response = await rawRequest(
        "/api/v1/iocs/search",
        [bearer(everything.key), ["Content-Type", type]],
        { method: "POST", body },
      );
      expect(response.status, body).toBe(200);
    }
    expect(received.map((r) => r.body.toString("latin1"))).toEqual(bodies.map(([, b]) => b));
  });

  it("a GET's body is not forwarded, nor a length announcing one", async () => {
    const response = await rawRequest(
      "/api/v1/iocs",
      [bearer(everything.key), ["Content-Type", "application/json"]],
      { body: '{"smuggled":true}' },
    );
    expect(response.status).toBe(200);
    expect(received).toHaveLength(1);
    expect(received[0]!.raw).not.toContain("smuggled");
    expect(header(received[0]!, "content-length")).not.toContain("17");
  });

  it("URL-shaped query values are forwarded, encoded, never refused", async () => {
    const response = await rawRequest(
      "/api/v1/lookup?value=https://evil.test/../../etc/passwd?x=1&other=http%3A%2F%2Fa%2F..%2Fb",
      [bearer(everything.key)],
    );
    expect(response.status).toBe(200);
    expect(received.map((r) => r.requestLine)).toEqual([
      "GET /api/v1/lookup?value=https%3A%2F%2Fevil.test%2F..%2F..%2Fetc%2Fpasswd%3Fx%3D1&other=http%3A%2F%2Fa%2F..%2Fb HTTP/1.1",
    ]);
  });
});

describe("3. the upstream cannot act as the dashboard", () => {
  it("proxied answers are sandboxed, not sniffed, not shared, and set no cookie", async () => {
    const response = await rawRequest("/api/v1/iocs", [bearer(everything.key)]);
    expect(response.status).toBe(200);
    const head = response.head.toLowerCase();
    expect(head).toContain(
      "content-security-policy: default-src 'none'; frame-ancestors 'none'; sandbox",
    );
    expect(head).not.toContain("default-src *");
    expect(head).toContain("x-content-type-options: nosniff");
    expect(head).toMatch(/cache-control: private, no-store/);
    expect(head).not.toContain("public");
    expect(head).toContain("vary: authorization, x-api-key");
    expect(head).not.toContain("set-cookie");
    expect(head).not.toContain("access-control-allow-origin");
    expect(head).not.toContain("999999");
  });

  it("with DATA_API_ORIGIN, data routes answer on that host only", async () => {
    const split = await startTestApp({ gateway: { dataApiOrigin: "http://data.localhost:3000" } });
    try {
      const k = await createKey(split.db);
      const onDashboard = await split.app.inject({
        url: "/api/v1/iocs",
        headers: { host: "localhost:3000", authorization: `Bearer ${k.key}` },
      });
      expect(onDashboard.statusCode).toBe(404);
      const onData = await split.app.inject({
        url: "/api/v1/iocs",
        headers: { host: "data.localhost:3000", authorization: `Bearer ${k.key}` },
      });
      expect(onData.statusCode).toBe(200);
    } finally {
      await split.close();
    }
  });
});

describe("6. clean upstream requests", () => {
  it("client identity, forwarding, proxy and hop-by-hop headers are dropped in any spelling", async () => {
    const response = await rawRequest("/api/v1/iocs", [
      bearer(everything.key),
      ["X-Consumer-Owner-Id", "victim"],
      ["X_Consumer_Owner_Id", "victim"],
      ["x_consumer_tier", "enterprise"],
      ["X-Forwarded-For", "10.9.9.9"],
      ["X_Forwarded_For", "10.9.9.8"],
      ["X-Forwarded-Host", "admin.internal"],
      ["X-Real-IP", "10.9.9.7"],
      ["X_Real_IP", "10.9.9.6"],
      ["Forwarded", "for=10.9.9.5"],
      ["Proxy-Authorization", "Basic c2VjcmV0"],
      ["Proxy_Authorization", "Basic c2VjcmV0"],
      ["Connection", "keep-alive, X-Hop-Secret"],
      ["X-Hop-Secret", "hop"],
      ["Keep-Alive", "timeout=5"],
      ["TE", "trailers"],
      ["Trailer", "X-Late"],
      ["Upgrade", "websocket"],
      ["Proxy-Connection", "keep-alive"],
      ["Cookie", "sb-access-token=session"],
      ["X-Harmless", "kept"],
    ]);
    expect(response.status).toBe(200);
    const [r] = received;
    const names = r!.headers.map(([name]) => name);
    for (const dropped of [
      "x_consumer_owner_id",
      "x_consumer_tier",
      "x_forwarded_for",
      "x-forwarded-host",
      "x-real-ip",
      "x_real_ip",
      "proxy-authorization",
      "proxy_authorization",
      "x-hop-secret",
      "keep-alive",
      "te",
      "trailer",
      "upgrade",
      "proxy-connection",
      "cookie",
    ]) {
      expect(names, dropped).not.toContain(dropped);
    }
    expect(r!.raw).not.toContain("10.9.9.");
    expect(r!.raw).not.toContain("victim");
    expect(r!.raw).not.toContain("c2VjcmV0");
    expect(header(r!, "x-harmless")).toEqual(["kept"]);
    // Ours, once each.
    expect(header(r!, "x-forwarded-for")).toEqual(["127.0.0.1"]);
    expect(header(r!, "forwarded")).toEqual(["for=127.0.0.1"]);
    expect(header(r!, "x-consumer-owner-id")).toEqual([everything.ownerId]);
    expect(header(r!, "x-consumer-key-id")).toEqual([everything.id]);
    expect(header(r!, "x-consumer-tier")).toEqual(["pro"]);
  });

  it("two credential headers of one kind are 400 ambiguous_credentials, even when equal", async () => {
    const key = everything.key;
    for (const headers of [
      [bearer(key), bearer(key)],
      [
        ["X-API-Key", key],
        ["X-API-Key", key],
      ],
      [
        ["X-API-Key", key],
        ["X_API_KEY", key],
      ],
      [bearer(key), ["authorization", `Bearer ${generateKey().key}`]],
    ] as [string, string][][]) {
      const response = await rawRequest("/api/v1/iocs", headers);
      expect(response.status, JSON.stringify(headers)).toBe(400);
      expect(JSON.parse(response.body).error.code).toBe("ambiguous_credentials");
      expect(response.body).not.toContain(key);
    }
    expect(received).toEqual([]);
  });
});

describe("5. trusted proxies by address only", () => {
  it("the client is the right-most X-Forwarded-For entry that is not a trusted proxy", async () => {
    const { port } = upstream.address() as AddressInfo;
    const behind = await startTestApp({
      trustProxy: ["127.0.0.1", "10.0.0.0/8"],
      gateway: { upstreamUrl: `http://127.0.0.1:${port}` },
    });
    try {
      const k = await createKey(behind.db, { allowedIps: ["198.51.100.7"] });
      const cases: [string, number, string | undefined][] = [
        // The client wrote the left-most entry itself: not believed.
        ["198.51.100.7, 203.0.113.9", 403, undefined],
        ["203.0.113.9, 198.51.100.7", 200, "198.51.100.7"],
        ["198.51.100.7, 10.1.2.3", 200, "198.51.100.7"],
        ["198.51.100.7, 10.1.2.3, 203.0.113.9, 10.0.0.1", 403, undefined],
      ];
      for (const [xff, status, client] of cases) {
        received.length = 0;
        const response = await behind.app.inject({
          url: "/api/v1/iocs",
          headers: { authorization: `Bearer ${k.key}`, "x-forwarded-for": xff },
        });
        expect(response.statusCode, xff).toBe(status);
        if (client) expect(header(received[0]!, "x-forwarded-for"), xff).toEqual([client]);
      }
    } finally {
      await behind.close();
    }
  });
});

describe("4. forged keys cost nothing", () => {
  it("a flood of well-formed forged keys causes no key lookup; a valid key from the flooding address works", async () => {
    const flood = await startTestApp({ now: stoppedClock(), gateway: { failedAuthPerMinute: 20 } });
    try {
      // Not used before the flood: it is not in the key cache, so it needs a lookup.
      const k = await createKey(flood.db);
      const before = flood.app.gateway.lookups;
      const send = (remoteAddress: string) =>
        flood.app.inject({
          url: "/api/v1/iocs",
          headers: { "x-api-key": generateKey().key },
          remoteAddress,
        });
      const attacker = "198.51.100.66";
      const fromOne = await Promise.all(Array.from({ length: 300 }, () => send(attacker)));
      // One /64 is one client, however many addresses it rotates through.
      const fromSubnet = await Promise.all(
        Array.from({ length: 300 }, (_, i) => send(`2001:db8:66:1::${(i + 1).toString(16)}`)),
      );
      const rotating = await Promise.all(
        Array.from({ length: 300 }, (_, i) => send(`203.0.${i >> 8}.${i & 255}`)),
      );
      expect(flood.app.gateway.lookups - before).toBe(0);
      for (const batch of [fromOne, fromSubnet]) {
        const codes = batch.map((r) => r.json<{ error: { code: string } }>().error.code);
        // The point is taken before anything else: exactly the limit gets through.
        expect(codes.filter((c) => c === "invalid_api_key")).toHaveLength(20);
        expect(codes.filter((c) => c === "too_many_attempts")).toHaveLength(280);
      }
      expect(rotating.every((r) => r.statusCode === 401)).toBe(true);
      const blocked = fromOne.find((r) => r.statusCode === 429)!;
      // Not the key's request limit: that message would send a customer chasing its quota.
      expect(blocked.json().error.message).not.toMatch(/request limit/);
      expect(Number(blocked.headers["retry-after"])).toBeGreaterThanOrEqual(1);

      // The blocked address still gets service for a key that verifies (uncached: one lookup).
      const valid = await flood.app.inject({
        url: "/api/v1/iocs",
        headers: { authorization: `Bearer ${k.key}` },
        remoteAddress: attacker,
      });
      expect(valid.statusCode).toBe(200);
      expect(flood.app.gateway.lookups - before).toBe(1);
      const fromSubnetToo = await flood.app.inject({
        url: "/api/v1/iocs",
        headers: { authorization: `Bearer ${k.key}` },
        remoteAddress: "2001:db8:66:1::ffff",
      });
      expect(fromSubnetToo.statusCode).toBe(200);
    } finally {
      await flood.close();
    }
  });
});

/** Two server instances on one PostgreSQL database and one Redis (Postgres only, as PGlite is one process). */
const sharedStores = !process.env.REDIS_URL || !process.env.TEST_DATABASE_URL;
describe.skipIf(sharedStores)("4. the failed-auth limiter shared through Redis", () => {
  // Our own namespace: nothing else's counters are read or touched, and it is removed after.
  const prefix = `test:front-door:${generateKey().key.slice(8, 20)}:`;
  afterAll(() => deleteRedisKeys(process.env.REDIS_URL!, prefix));

  it("two server processes on one Redis count an address's failed lookups once, IPv6 by /64", async () => {
    const options = {
      gateway: {
        redisUrl: process.env.REDIS_URL,
        redisKeyPrefix: prefix,
        failedAuthPerMinute: 10,
      },
    };
    const first = await startTestApp(options);
    const second = await startTestApp({
      ...options,
      database: await openDatabase({ kind: "postgres", url: first.database.url! }),
    });
    try {
      // Revoked keys: in the key filter, so each costs a lookup, the thing the shared count
      // guards (forged keys never reach the database and are counted per process).
      const revoked: TestKey[] = [];
      for (let i = 0; i < 20; i++) revoked.push(await createKey(first.db));
      await first.db
        .update(apiKeys)
        .set({ revokedAt: new Date() })
        .where(
          inArray(
            apiKeys.id,
            revoked.map((k) => k.id),
          ),
        );
      // The second process learns of keys inserted through the first by NOTIFY: wait until it
      // has, so that every attempt below is a lookup the shared count guards.
      for (
        let i = 0;
        i < 200 && !revoked.every((k) => second.app.gateway.keyFilter.mightExist(k.hash));
        i++
      ) {
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      const codes: string[] = [];
      for (const [i, k] of revoked.entries()) {
        const response = await (i % 2 ? first : second).app.inject({
          url: "/api/v1/iocs",
          headers: { "x-api-key": k.key },
          remoteAddress: `2001:db8:77:1::${(i + 1).toString(16)}`,
        });
        codes.push(response.json<{ error: { code: string } }>().error.code);
      }
      expect(codes.slice(0, 10).every((c) => c === "invalid_api_key")).toBe(true);
      expect(codes.slice(10).every((c) => c === "too_many_attempts")).toBe(true);
    } finally {
      await second.close();
      await first.close();
    }
  });
});
