import Fastify, { type FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eq, usageDays } from "@repo/db";
import { startTestApp, type TestApp } from "./harness.js";
import { createKey } from "./gateway-helpers.js";

/** With UPSTREAM_URL the data plane is a gateway: what reaches the upstream, and what comes back. */
interface Seen {
  url: string;
  headers: Record<string, unknown>;
}

let upstream: FastifyInstance;
let test: TestApp;
const seen: Seen[] = [];

beforeAll(async () => {
  upstream = Fastify();
  upstream.all("/*", (request, reply) => {
    seen.push({ url: request.url, headers: request.headers });
    if (request.url.includes("boom")) return reply.code(500).send({ broken: true });
    return reply
      .header("x-ratelimit-remaining", "999999")
      .header("x-upstream", "yes")
      .send({ data: [{ ioc: "1.2.3.4" }] });
  });
  const address = await upstream.listen({ port: 0, host: "127.0.0.1" });
  test = await startTestApp({ gateway: { upstreamUrl: address } });
});
afterAll(async () => {
  await test.close();
  await upstream.close();
});

describe("upstream mode", () => {
  it("forwards the request without the credential, with the consumer identified", async () => {
    const k = await createKey(test.db, { tier: "pro" });
    const response = await test.app.inject({
      url: `/api/v1/iocs?type=ip&api_key=${k.key}&limit=5`,
      headers: {
        "x-consumer-tier": "enterprise",
        "X-Consumer-Key-Id": "spoofed",
        cookie: "sb-access-token=secret-session",
      },
    });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({ data: [{ ioc: "1.2.3.4" }] });
    expect(response.headers["x-upstream"]).toBe("yes");
    expect(response.headers["x-ratelimit-remaining"]).toBe("999");
    const request = seen.at(-1)!;
    expect(request.url).toBe("/api/v1/iocs?type=ip&limit=5");
    expect(request.headers).toMatchObject({
      "x-consumer-key-id": k.id,
      "x-consumer-owner-id": k.ownerId,
      "x-consumer-tier": "pro",
      "x-consumer-scopes": expect.stringContaining("read:stix"),
    });
    expect(request.headers.authorization).toBeUndefined();
    expect(request.headers["x-api-key"]).toBeUndefined();
    expect(request.headers.cookie).toBeUndefined();
    expect(JSON.stringify(request)).not.toContain(k.key);
  });

  it("strips TAXII Basic auth, and forwards the path the scope was checked on", async () => {
    const k = await createKey(test.db, { tier: "pro" });
    const basic = `Basic ${Buffer.from(`:${k.key}`).toString("base64")}`;
    const response = await test.app.inject({
      url: "/api/taxii2/api/collections/%61bc/objects/",
      headers: { authorization: basic },
    });
    expect(response.statusCode).toBe(200);
    expect(seen.at(-1)!.url).toBe("/api/taxii2/api/collections/abc/objects/");
    expect(seen.at(-1)!.headers.authorization).toBeUndefined();
  });

  it("never forwards an unverified request", async () => {
    const before = seen.length;
    const free = await createKey(test.db);
    for (const headers of [{}, { "x-api-key": "sk_live_nope" }, { "x-api-key": free.key }]) {
      const response = await test.app.inject({ url: "/api/v1/iocs/stix", headers });
      expect(response.statusCode).toBeGreaterThanOrEqual(400);
    }
    expect(seen.length).toBe(before);
  });

  it("upstream errors are counted by status; an unreachable upstream is 502", async () => {
    const k = await createKey(test.db, { tier: "pro" });
    const broken = await test.app.inject({
      url: "/api/v1/iocs/search?q=boom",
      headers: { "x-api-key": k.key },
    });
    expect(broken.statusCode).toBe(500);
    await test.app.gateway.usage.flush();
    const [day] = await test.db.select().from(usageDays).where(eq(usageDays.keyId, k.id));
    expect(day!.byStatus).toEqual({ "500": 1 });

    const offline = await startTestApp({ gateway: { upstreamUrl: "http://127.0.0.1:9" } });
    try {
      const key = await createKey(offline.db, { tier: "pro" });
      const response = await offline.app.inject({
        url: "/api/v1/iocs",
        headers: { "x-api-key": key.key },
      });
      expect(response.statusCode).toBe(502);
      expect(response.json().error.code).toBe("upstream_unavailable");
      expect(response.headers["x-ratelimit-limit"]).toBe("1000");
    } finally {
      await offline.close();
    }
  });
});
