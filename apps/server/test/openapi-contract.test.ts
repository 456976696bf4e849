// The document as a client generated from it sees the server: types from openapi-typescript
// (the same generator output `npm run openapi:types` writes for the type check), every
// operation called through openapi-fetch over a real socket, and each answer checked
// against the document: its status must be one the operation documents, its body must
// validate against that response's schema.
import { readFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { setUserTier } from "@repo/api";
import { Ajv2020 } from "ajv/dist/2020.js";
import addFormats from "ajv-formats";
import createClient from "openapi-fetch";
import openapiTS, { astToString } from "openapi-typescript";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { paths } from "./generated/openapi-types.js";
import { ORIGIN, signUp, startTestApp, type TestApp } from "./harness.js";

interface Operation {
  operationId: string;
  responses: Record<string, { content?: { "application/json"?: { schema: object } } }>;
}
interface Document {
  paths: Record<string, Record<string, Operation>>;
  components: object;
}

let test: TestApp;
let document: Document;
let client: ReturnType<typeof createClient<paths>>;
let session: Record<string, string>;
let writeHeaders: Record<string, string>;
const ajv = new Ajv2020({ strict: false, allErrors: true });
addFormats.default(ajv);

beforeAll(async () => {
  test = await startTestApp();
  await test.app.listen({ host: "127.0.0.1", port: 0 });
  const baseUrl = `http://127.0.0.1:${(test.app.server.address() as AddressInfo).port}`;
  document = (await (await fetch(`${baseUrl}/api/v1/openapi.json`)).json()) as Document;
  ajv.addSchema({ $id: "doc", components: document.components });
  client = createClient<paths>({ baseUrl });
  client.use({
    onResponse: async ({ schemaPath, request, response }) => {
      await conforms(schemaPath, request.method, response);
    },
  });
  const account = await signUp(test);
  await setUserTier(test.db, account.email, "pro");
  session = { cookie: account.cookie };
  writeHeaders = { ...session, origin: ORIGIN, "sec-fetch-site": "same-origin" };
});
afterAll(async () => {
  await test.close();
});

const called = new Set<string>();

/**
 * Checks an answer against the operation the document declares for the called path
 * template and method (openapi-fetch hands both to its middleware, so every call made
 * through the client below is checked): a documented status, a body its schema accepts.
 */
async function conforms(schemaPath: string, method: string, response: Response) {
  const operation = document.paths[schemaPath]?.[method.toLowerCase()];
  expect(operation, `${method} ${schemaPath} is documented`).toBeDefined();
  called.add(operation!.operationId);
  const status = String(response.status);
  const documented = operation!.responses[status];
  expect(documented, `${operation!.operationId} answered an undocumented ${status}`).toBeDefined();
  const schema = documented!.content?.["application/json"]?.schema as { $ref?: string };
  if (schema === undefined) return;
  const validate = ajv.compile(schema.$ref ? { $ref: `doc${schema.$ref}` } : schema);
  const body: unknown = await response.clone().json();
  expect(
    validate(body),
    `${operation!.operationId} ${status}: ${JSON.stringify(validate.errors)}`,
  ).toBe(true);
}

describe("a client generated from /api/v1/openapi.json", () => {
  it("was generated from the document this server serves", async () => {
    const generated = astToString(
      await openapiTS(structuredClone(document) as never, { defaultNonNullable: false }),
    );
    const checkedIn = readFileSync(
      new URL("./generated/openapi-types.ts", import.meta.url),
      "utf8",
    );
    // The type check compiles this test against the file `npm run openapi:types` wrote.
    expect(checkedIn.replace(/^\/\*\*[\s\S]*?\*\/\s*/, "").trim()).toBe(
      generated.replace(/^\/\*\*[\s\S]*?\*\/\s*/, "").trim(),
    );
  });

  it("calls every management operation and gets what the document says", async () => {
    const created = await client.POST("/api/v1/keys", {
      headers: writeHeaders,
      body: { name: "Contract test key", scopes: ["read:iocs", "read:stix", "read:articles"] },
    });
    const keyId = created.data!.data.id;
    const keyPath = { path: { keyId } };

    await client.GET("/api/v1/keys", { headers: session });
    await client.GET("/api/v1/keys/{keyId}", { params: keyPath, headers: session });
    await client.PATCH("/api/v1/keys/{keyId}", {
      params: keyPath,
      headers: writeHeaders,
      body: { name: "Contract test key (renamed)" },
    });
    await client.GET("/api/v1/keys/{keyId}/usage", {
      params: { ...keyPath, query: { days: 7 } },
      headers: session,
    });
    await client.GET("/api/v1/keys/{keyId}/addresses", { params: keyPath, headers: session });
    const rotated = await client.POST("/api/v1/keys/{keyId}/rotate", {
      params: keyPath,
      headers: writeHeaders,
      body: { expire_current_in_minutes: 0 },
    });
    await client.DELETE("/api/v1/keys/{keyId}", {
      params: { path: { keyId: rotated.data!.data.id } },
      headers: writeHeaders,
      body: { reason: "contract test" },
    });

    const canary = await client.POST("/api/v1/canaries", {
      headers: writeHeaders,
      body: { name: "Contract test decoy" },
    });
    const canaryPath = { path: { id: canary.data!.data.id } };
    await client.GET("/api/v1/canaries", { headers: session });
    await client.GET("/api/v1/canaries/{id}/triggers", { params: canaryPath, headers: session });
    await client.DELETE("/api/v1/canaries/{id}", { params: canaryPath, headers: writeHeaders });

    // Documented refusals validate too: no session, an unknown id, an API key.
    await client.GET("/api/v1/keys");
    await client.GET("/api/v1/keys/{keyId}", {
      params: { path: { keyId: "nope" } },
      headers: session,
    });
    await client.GET("/api/v1/keys", { headers: { ...session, "x-api-key": "sk_live_x" } });
  });

  it("calls every data-plane and public operation and gets what the document says", async () => {
    const created = await client.POST("/api/v1/keys", {
      headers: writeHeaders,
      body: { name: "Contract data key" },
    });
    const secret = created.data!.data.key;
    const bearer = { authorization: `Bearer ${secret}` };
    const params = { path: { articleId: "a1", collectionId: "c1" } };

    for (const [path, item] of Object.entries(document.paths)) {
      for (const [method, operation] of Object.entries(item)) {
        if (called.has(operation.operationId)) continue;
        const tag = (operation as { tags?: string[] }).tags?.[0];
        if (tag !== "Data" && tag !== "TAXII" && tag !== "Service") continue;
        const call = method === "post" ? client.POST : client.GET;
        const taxiiBasic = tag === "TAXII" && method === "get";
        const headers =
          tag === "Service"
            ? {}
            : taxiiBasic
              ? { authorization: `Basic ${Buffer.from(`any:${secret}`).toString("base64")}` }
              : bearer;
        // The paths come from the document itself, so the call cannot be typed per path.
        await (call as (p: string, o: object) => Promise<unknown>)(path, { params, headers });
      }
    }
    // A documented refusal on the data plane: no key at all.
    await client.GET("/api/v1/iocs");
  });

  it("left no documented operation uncalled", () => {
    const all = Object.values(document.paths).flatMap((item) =>
      Object.values(item).map((operation) => operation.operationId),
    );
    expect(all.filter((id) => !called.has(id))).toEqual([]);
  });
});
