import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ROUTES, ROUTE_PATHS, allowedMethods, assertDeclared, type RouteEntry } from "@repo/core";
import type { LightMyRequestResponse } from "fastify";
import { EVIL, ORIGIN, rest, signUp, startTestApp, type TestApp } from "./harness.js";

const SOME_ID = "0b8f4a52-6a53-4c43-9d0f-3f3c1f7f2a11";
const WRITES = new Set(["POST", "PUT", "PATCH", "DELETE"]);

/** A concrete URL for a route pattern (tRPC: a real procedure of the right kind). */
function concrete(route: RouteEntry, method: string): string {
  if (route.trpc) return method === "GET" ? "/trpc/keys.list" : "/trpc/keys.create";
  return route.path.replace(/:[A-Za-z]+/g, SOME_ID);
}

/** The documented error code of an answer, in the REST envelope or tRPC's error shape. */
function errorCode(response: LightMyRequestResponse): string | undefined {
  const body = response.json<{ error?: { code?: unknown; data?: { appCode?: string } } }>();
  return typeof body.error?.code === "string" ? body.error.code : body.error?.data?.appCode;
}

interface Answer {
  method: string;
  url: string;
  route: string | undefined;
}

let test: TestApp;
let cookie: string;
const answered: Answer[] = [];
const refusedAtStartUp: string[] = [];

beforeAll(async () => {
  test = await startTestApp({}, (app) => {
    // Which route pattern answered each request: the crawl below checks it against the table.
    app.addHook("onResponse", (request, _reply, done) => {
      answered.push({ method: request.method, url: request.url, route: request.routeOptions.url });
      done();
    });
    // A plugin adding an undeclared route under an API prefix cannot start the server.
    for (const url of ["/api/v1/keys/:keyId/export", "/api/v1/sessions", "/trpc/:path/raw"]) {
      try {
        app.get(url, () => ({ leaked: true }));
      } catch (error) {
        refusedAtStartUp.push(`${url}: ${(error as Error).message}`);
      }
    }
  });
  cookie = (await signUp(test)).cookie;
});
afterAll(async () => {
  await test.close();
});

const management = ROUTES.filter((route) => route.plane === "management");

describe("the route table", () => {
  it("refuses, at registration, a route under /api or /trpc that it does not declare", () => {
    expect(refusedAtStartUp).toHaveLength(3);
    for (const line of refusedAtStartUp) expect(line).toMatch(/not declared in/);
    expect(() => assertDeclared("/api/v1/keys/:keyId")).not.toThrow();
    expect(() => assertDeclared("/metrics")).not.toThrow();
  });

  it("declares the lifecycle, canary and whoami routes", () => {
    const declared = ROUTES.flatMap((route) => route.methods.map((m) => `${m} ${route.path}`));
    expect(declared).toEqual(
      expect.arrayContaining([
        "POST /api/v1/keys/:keyId/rotate",
        "PATCH /api/v1/keys/:keyId",
        "GET /api/v1/keys/:keyId/addresses",
        "POST /api/v1/canaries",
        "DELETE /api/v1/canaries/:id",
        "GET /api/v1/whoami",
      ]),
    );
    expect(new Set(ROUTES.map((route) => route.id)).size).toBe(ROUTES.length);
  });

  describe.each(management.flatMap((route) => route.methods.map((m) => [m, route] as const)))(
    "management route %s %s",
    (method, route) => {
      const url = concrete(route, method);
      const write = WRITES.has(method) ? method : "POST";

      it.each([
        ["authorization", "Bearer sk_live_0000000000000000000000000000000000000000"],
        ["x-api-key", "sk_live_0000000000000000000000000000000000000000"],
      ])("refuses an API key in %s even beside a valid session", async (name, value) => {
        const response = await rest(test, method, url, {
          cookie,
          headers: { [name]: value, "content-type": "application/json" },
          body: method === "GET" ? undefined : {},
        });
        expect(response.statusCode).toBe(403);
        expect(errorCode(response)).toBe("api_key_not_allowed");
        expect(response.headers["x-request-id"]).toMatch(/^req_/);
      });

      it("refuses an API key in the query string", async () => {
        const response = await rest(test, method, `${url}?api_key=sk_live_x`, {
          cookie,
          body: method === "GET" ? undefined : {},
        });
        expect(response.statusCode).toBe(403);
        expect(errorCode(response)).toBe("api_key_not_allowed");
      });

      /** A state-changing request with the session cookie and the given headers. */
      const send = (headers: Record<string, string>, payload: string) =>
        test.app.inject({ method: write as "POST", url, headers: { cookie, ...headers }, payload });

      it(`refuses a cross-origin ${write}`, async () => {
        const response = await send(
          { origin: EVIL, "sec-fetch-site": "cross-site", "content-type": "application/json" },
          "{}",
        );
        expect(response.statusCode).toBe(403);
        expect(errorCode(response)).toBe("invalid_origin");
        expect(response.headers["access-control-allow-origin"]).toBeUndefined();
      });

      it(`refuses a ${write} whose body is not JSON`, async () => {
        const response = await send(
          {
            origin: ORIGIN,
            "sec-fetch-site": "same-origin",
            "content-type": "application/x-www-form-urlencoded",
          },
          "name=sneaky&scopes=read:iocs",
        );
        expect(response.statusCode).toBe(415);
        expect(errorCode(response)).toBe("unsupported_media_type");
      });
    },
  );

  it("guards the HEAD routes Fastify adds to every management GET route", async () => {
    for (const route of management.filter((r) => r.methods.includes("GET"))) {
      const response = await test.app.inject({
        method: "HEAD",
        url: concrete(route, "GET"),
        headers: { cookie, "x-api-key": "sk_live_0000000000000000000000000000000000000000" },
      });
      expect(response.statusCode, route.path).toBe(403);
    }
  });

  it("changed nothing while refusing all of that", async () => {
    const keys = await rest(test, "GET", "/api/v1/keys", { cookie });
    expect(keys.json()).toMatchObject({ data: [] });
    const canaries = await rest(test, "GET", "/api/v1/canaries", { cookie });
    expect(canaries.json()).toMatchObject({ data: [] });
  });

  it("answers each other method on a declared management path with 405 and its Allow", async () => {
    for (const path of new Set(management.filter((r) => !r.trpc).map((r) => r.path))) {
      const allowed = allowedMethods(path);
      for (const method of ["GET", "POST", "PUT", "PATCH", "DELETE"].filter(
        (m) => !allowed.includes(m),
      )) {
        const response = await rest(test, method as "GET", path.replace(/:\w+/g, SOME_ID), {
          cookie,
        });
        expect(response.statusCode, `${method} ${path}`).toBe(405);
        expect(response.headers.allow).toBe(allowed.join(", "));
      }
    }
  });
});

/** Paths a scanner would try: near misses of real routes, other versions, common leaks. */
const CRAWL = new Set([
  "/",
  "/api",
  "/api/",
  "/api/v1",
  "/api/v1/",
  "/api/v2/keys",
  "/api/v1/key",
  "/api/v1/keyss",
  "/api/v1/keys/",
  "/API/V1/KEYS",
  `/api/v1/keys/${SOME_ID}/`,
  `/api/v1/keys/${SOME_ID}/usage/extra`,
  `/api/v1/keys/${SOME_ID}/export`,
  "/api/v1/keys/a/b/c",
  "/api/v1/admin",
  "/api/v1/users",
  "/api/v1/sessions",
  "/api/v1/webhooks",
  "/api/v1/canaries/x/y",
  "/api/v1/openapi.yaml",
  "/api/v1/openapi.json/x",
  "/api/openapi.json",
  "/openapi.json",
  "/swagger.json",
  "/trpc",
  "/trpc/",
  "/trpc/a/b",
  "/metrics",
  "/debug/pprof",
  "/.env",
  "/.git/config",
  "/healthz/x",
  "/readyz/",
  "/api/taxii2",
  "/api/v1/whoami/x",
  "/api/v1/iocs/x/y",
  "/api/v1/articles/a/b",
  "/api/taxii2/api/collections/x/objects/y/z",
  ...ROUTES.flatMap((route) => route.methods.map((method) => concrete(route, method))),
]);

/**
 * Crawls `paths` with every method and returns each answer that no route of the table
 * explains: anything not declared must be the enveloped 404, a declared path asked with a
 * method it does not answer must be a 405 (or the guard's 403, which runs first).
 */
async function unexplainedAnswers(paths: Iterable<string>): Promise<string[]> {
  answered.length = 0;
  const responses = new Map<string, LightMyRequestResponse>();
  for (const url of paths) {
    for (const method of ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"] as const) {
      const response = await test.app.inject({ method, url, headers: { cookie } });
      responses.set(`${method} ${url}`, response);
    }
  }
  expect(answered).toHaveLength(responses.size);
  const wrong: string[] = [];
  for (const { method, url, route } of answered) {
    const response = responses.get(`${method} ${url}`)!;
    const answer = `${method} ${url} → ${response.statusCode} via ${route}`;
    if (!/^req_/.test(String(response.headers["x-request-id"]))) wrong.push(`${answer}: no id`);
    const declared = route !== undefined && ROUTE_PATHS.includes(route);
    if (!declared) {
      if (response.statusCode !== 404 || errorCode(response) !== "not_found") wrong.push(answer);
    } else if (ROUTE_PATHS.includes(route) && method !== "OPTIONS") {
      const allowed = allowedMethods(route);
      if (!allowed.includes(method) && ![403, 405].includes(response.statusCode)) {
        wrong.push(answer);
      }
    }
  }
  return wrong;
}

describe("a crawl of plausible paths", () => {
  it("is answered only by routes in the table (data routes included); anything else is the enveloped 404", async () => {
    expect(await unexplainedAnswers(CRAWL)).toEqual([]);
  });
});
