// Framework-level refusals over a real socket: each hostile shape must still be answered in
// the documented envelope, with X-Request-Id and the security headers, never Fastify's or
// Node's raw answer. Some shapes cannot be built with fetch (bad percent-encoding in the
// request line, oversized headers), so every request here is written by hand.
import net from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ORIGIN, signUp, startTestApp, type TestApp } from "./harness.js";

let test: TestApp;
let port: number;
let cookie: string;

beforeAll(async () => {
  test = await startTestApp();
  await test.app.listen({ host: "127.0.0.1", port: 0 });
  port = (test.app.server.address() as net.AddressInfo).port;
  cookie = (await signUp(test)).cookie;
});
afterAll(async () => {
  await test.close();
});

interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** Writes `head` (request line and headers, CRLF-joined) and `body`, reads one response. */
function raw(head: string[], body = ""): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, "127.0.0.1");
    const chunks: Buffer[] = [];
    socket.on("data", (chunk) => chunks.push(chunk));
    socket.on("error", reject);
    socket.on("close", () => {
      const text = Buffer.concat(chunks).toString("utf8");
      const split = text.indexOf("\r\n\r\n");
      if (split === -1) return reject(new Error(`no response: ${JSON.stringify(text)}`));
      const [statusLine = "", ...lines] = text.slice(0, split).split("\r\n");
      const headers: Record<string, string> = {};
      for (const line of lines) {
        const colon = line.indexOf(":");
        headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
      }
      let payload = text.slice(split + 4);
      if (headers["transfer-encoding"] === "chunked") payload = dechunk(payload);
      resolve({ status: Number(statusLine.split(" ")[1]), headers, body: payload });
    });
    socket.write(
      [...head, "Host: 127.0.0.1", "Connection: close", "", ""].join("\r\n") + body,
      "latin1",
    );
  });
}

function dechunk(text: string): string {
  let out = "";
  let rest = text;
  for (;;) {
    const lineEnd = rest.indexOf("\r\n");
    const size = parseInt(rest.slice(0, lineEnd), 16);
    if (!size) return out;
    out += rest.slice(lineEnd + 2, lineEnd + 2 + size);
    rest = rest.slice(lineEnd + 2 + size + 2);
  }
}

const longId = (length: number) => "k".repeat(length);
const RENAME = JSON.stringify({ name: "renamed" });
const mutation = (method: string, path: string, extra: string[] = []) => [
  `${method} ${path} HTTP/1.1`,
  `Cookie: ${cookie}`,
  `Origin: ${ORIGIN}`,
  "Sec-Fetch-Site: same-origin",
  ...extra,
];

interface Shape {
  name: string;
  send: () => Promise<RawResponse>;
  status: number;
  code: string;
  /** The tRPC routes answer in tRPC's error shape, carrying the same code as `appCode`. */
  trpc?: boolean;
}

const SHAPES: Shape[] = [
  {
    name: "unknown route",
    send: () => raw(["GET /api/v1/no-such-thing HTTP/1.1"]),
    status: 404,
    code: "not_found",
  },
  {
    name: "unknown route outside the API",
    send: () => raw(["DELETE /wp-admin HTTP/1.1"]),
    status: 404,
    code: "not_found",
  },
  {
    name: "malformed percent-encoding in a key id",
    send: () => raw([`GET /api/v1/keys/%E0%A4%A HTTP/1.1`, `Cookie: ${cookie}`]),
    status: 404,
    code: "key_not_found",
  },
  {
    name: "malformed percent-encoding in an unknown path",
    send: () => raw([`GET /api/v1/%zz HTTP/1.1`]),
    status: 404,
    code: "not_found",
  },
  ...["GET", "PATCH", "DELETE"].flatMap((method) =>
    [101, 5_000, 15_000].map((length) => ({
      name: `${method} /api/v1/keys/{a ${length}-character id}`,
      // A body PATCH would accept for a real key: the answer is about the id alone.
      send: () => {
        const body = method === "PATCH" ? RENAME : "{}";
        return raw(
          mutation(method, `/api/v1/keys/${longId(length)}`, [
            "Content-Type: application/json",
            `Content-Length: ${Buffer.byteLength(body)}`,
          ]),
          body,
        );
      },
      status: 404,
      code: "key_not_found",
    })),
  ),
  ...["GET", "PATCH", "DELETE"].map((method) => ({
    name: `${method} /api/v1/keys/{an id longer than the request line may be}`,
    send: () => raw(mutation(method, `/api/v1/keys/${longId(20_000)}`)),
    status: 431,
    code: "request_header_too_large",
  })),
  {
    name: "headers too large",
    send: () => raw(["GET /api/v1/keys HTTP/1.1", `X-Filler: ${"x".repeat(20_000)}`]),
    status: 431,
    code: "request_header_too_large",
  },
  {
    name: "a request line that is not HTTP",
    send: () => raw(["HELLO THERE"]),
    status: 400,
    code: "bad_request",
  },
  {
    name: "body too large",
    send: () =>
      raw(
        mutation("POST", "/api/v1/keys", [
          "Content-Type: application/json",
          `Content-Length: ${17 * 1024}`,
        ]),
        `{"name":"${"n".repeat(17 * 1024 - 11)}"}`,
      ),
    status: 413,
    code: "payload_too_large",
  },
  {
    name: "wrong content type",
    send: () =>
      raw(
        mutation("POST", "/api/v1/keys", ["Content-Type: text/plain", "Content-Length: 7"]),
        "name=x!",
      ),
    status: 415,
    code: "unsupported_media_type",
  },
  {
    name: "body that is not JSON",
    send: () =>
      raw(
        mutation("POST", "/api/v1/keys", ["Content-Type: application/json", "Content-Length: 5"]),
        "{nope",
      ),
    status: 400,
    code: "invalid_json",
  },
  {
    name: "tRPC batch longer than 10 calls",
    send: () =>
      raw([
        `GET /trpc/${Array(11).fill("keys.list").join(",")}?batch=1&input=%7B%7D HTTP/1.1`,
        `Cookie: ${cookie}`,
      ]),
    status: 400,
    code: "validation_error",
    trpc: true,
  },
];

describe.each(SHAPES)("$name", (shape) => {
  it(`answers ${shape.status} ${shape.code} in the envelope, with X-Request-Id and security headers`, async () => {
    const response = await shape.send();
    expect(response.status, response.body).toBe(shape.status);
    expect(response.headers["content-type"]).toMatch(/^application\/json/);
    const body = JSON.parse(response.body) as {
      error: { code: unknown; request_id?: string; data?: { appCode?: string } };
    };
    if (shape.trpc) {
      expect(body.error.data?.appCode).toBe(shape.code);
    } else {
      expect(body.error.code).toBe(shape.code);
      expect(body.error.request_id).toBe(response.headers["x-request-id"]);
    }
    expect(response.headers["x-request-id"]).toMatch(/^req_[0-9a-f]{32}$/);
    expect(response.headers["x-content-type-options"]).toBe("nosniff");
    expect(response.headers["content-security-policy"]).toBe(
      "default-src 'none'; frame-ancestors 'none'",
    );
    expect(response.headers["cross-origin-resource-policy"]).toBe("same-origin");
    expect(response.headers["referrer-policy"]).toBe("no-referrer");
    expect(response.headers["cache-control"]).toBe("no-store");
    expect(response.body).not.toMatch(/at .+\.(ts|js):\d+|FST_|HPE_/);
  });
});
