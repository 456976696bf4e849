import { Validator } from "@seriousme/openapi-schema-validator";
import { Ajv2020 } from "ajv/dist/2020.js";
import addFormats from "ajv-formats";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { rest, signUp, startTestApp, type TestApp } from "./harness.js";

let test: TestApp;
let document: {
  openapi: string;
  paths: Record<string, Record<string, { responses: Record<string, unknown> }>>;
  components: { schemas: Record<string, object>; securitySchemes: Record<string, object> };
};
beforeAll(async () => {
  test = await startTestApp();
  document = (await test.app.inject({ method: "GET", url: "/api/v1/openapi.json" })).json();
});
afterAll(async () => {
  await test.close();
});

describe("the OpenAPI document at /api/v1/openapi.json", () => {
  it("is a valid OpenAPI 3.1 document", async () => {
    expect(document.openapi).toBe("3.1.0");
    const result = await new Validator().validate(structuredClone(document));
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
  });

  it("describes the session cookie scheme, every documented operation and status", () => {
    expect(document.components.securitySchemes.sessionCookie).toEqual(
      expect.objectContaining({ type: "apiKey", in: "cookie", name: "sb-access-token" }),
    );
    const statuses = (path: string, method: string) =>
      Object.keys(document.paths[path]![method]!.responses).sort();
    expect(statuses("/api/v1/keys", "get")).toEqual(["200", "401", "403", "500", "503"]);
    expect(statuses("/api/v1/keys", "post")).toEqual([
      "201",
      "400",
      "401",
      "403",
      "413",
      "415",
      "429",
      "500",
      "503",
    ]);
    expect(statuses("/api/v1/keys/{keyId}", "get")).toEqual([
      "200",
      "401",
      "403",
      "404",
      "500",
      "503",
    ]);
    expect(statuses("/api/v1/keys/{keyId}/usage", "get")).toEqual([
      "200",
      "400",
      "401",
      "403",
      "404",
      "500",
      "503",
    ]);
    expect(statuses("/api/v1/keys/{keyId}", "delete")).toEqual([
      "200",
      "400",
      "401",
      "403",
      "404",
      "409",
      "413",
      "415",
      "500",
      "503",
    ]);
  });

  it("matches what the endpoints really answer", async () => {
    const ajv = new Ajv2020({ strict: false, allErrors: true });
    addFormats.default(ajv);
    const schema = (name: string) => ajv.compile(document.components.schemas[name]!);
    const check = (name: string, body: unknown) => {
      const validate = schema(name);
      expect(validate(body), JSON.stringify(validate.errors)).toBe(true);
    };

    const account = await signUp(test);
    const created = await rest(test, "POST", "/api/v1/keys", {
      cookie: account.cookie,
      body: { name: "key1", expires_in_days: 30, allowed_ips: ["10.0.0.0/8"] },
    });
    check("CreatedKeyResponse", created.json());
    const id: string = created.json().data.id;
    check("KeyList", (await rest(test, "GET", "/api/v1/keys", { cookie: account.cookie })).json());
    check(
      "KeyDetailResponse",
      (await rest(test, "GET", `/api/v1/keys/${id}`, { cookie: account.cookie })).json(),
    );
    check(
      "RevokeKeyResponse",
      (
        await rest(test, "DELETE", `/api/v1/keys/${id}`, {
          cookie: account.cookie,
          body: { reason: "x" },
        })
      ).json(),
    );
    for (const error of [
      await rest(test, "GET", "/api/v1/keys"),
      await rest(test, "GET", `/api/v1/keys/${id}x`, { cookie: account.cookie }),
      await rest(test, "POST", "/api/v1/keys", { cookie: account.cookie, body: { name: "" } }),
      await rest(test, "DELETE", `/api/v1/keys/${id}`, { cookie: account.cookie }),
    ]) {
      check("Error", error.json());
    }
  });
});
