import { createHash } from "node:crypto";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { DEFAULT_THROTTLE_POLICY } from "@repo/api";
import { auditEvents, eq, sessions, users } from "@repo/db";
import {
  EVIL,
  ORIGIN,
  mutate,
  parseSetCookies,
  query,
  signUp,
  startTestApp,
  uniqueEmail,
  type TestApp,
} from "./harness.js";

let test: TestApp;
beforeAll(async () => {
  test = await startTestApp();
});
afterAll(async () => {
  await test.close();
});
afterEach(() => {
  vi.useRealTimers();
});

const creds = (account: { email: string; password: string }) => ({
  email: account.email,
  password: account.password,
});

const me = async (cookie: string) => {
  const response = await query(test, "auth.me", { cookie });
  const body: { result: { data: { user: { email: string } | null } } } = response.json();
  return body.result.data.user;
};

describe("sign-up, sign-in, me, sign-out", () => {
  it("sign-up sets the documented session cookie and signs the user in", async () => {
    const email = uniqueEmail();
    const response = await mutate(test, "auth.signUp", { email, password: "long enough pw" });
    expect(response.statusCode).toBe(200);
    const [cookie] = parseSetCookies(response);
    expect(cookie?.name).toBe("sb-access-token");
    expect(cookie?.value).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(cookie?.attributes).toMatchObject({
      httponly: true,
      samesite: "Lax",
      path: "/",
      "max-age": String(7 * 86_400),
    });
    expect(cookie?.attributes.secure).toBeUndefined();
    expect(cookie?.attributes.domain).toBeUndefined();
    expect(await me(`sb-access-token=${cookie?.value}`)).toMatchObject({ email, tier: "free" });
  });

  it("stores only the token's hash as the session id", async () => {
    const { token } = await signUp(test);
    const rows = await test.db.select().from(sessions);
    expect(rows.some((row) => row.id === token)).toBe(false);
  });

  it("marks the cookie Secure when the public URL is https", async () => {
    const secure = await startTestApp({
      publicUrl: new URL("https://keys.example.com"),
      allowedOrigins: ["https://keys.example.com"],
      secureCookies: true,
    });
    try {
      const response = await mutate(
        secure,
        "auth.signUp",
        { email: uniqueEmail(), password: "long enough pw" },
        { headers: { origin: "https://keys.example.com" } },
      );
      expect(parseSetCookies(response)[0]?.attributes.secure).toBe(true);
    } finally {
      await secure.close();
    }
  });

  it("signs in with the same email in another letter case", async () => {
    const account = await signUp(test);
    const response = await mutate(test, "auth.signIn", {
      email: account.email.toUpperCase(),
      password: account.password,
    });
    expect(response.statusCode).toBe(200);
    expect(parseSetCookies(response)[0]?.value).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });

  it("refuses a second account for the same email in any letter case", async () => {
    const account = await signUp(test);
    const response = await mutate(test, "auth.signUp", {
      email: account.email.toUpperCase(),
      password: "another password",
    });
    expect(response.statusCode).toBe(409);
    expect(response.json().error.data.appCode).toBe("email_taken");
    const rows = await test.db.select().from(users).where(eq(users.email, account.email));
    expect(rows).toHaveLength(1);
  });

  it("rejects passwords shorter than 8 or longer than 256 characters", async () => {
    for (const password of ["short", "x".repeat(257)]) {
      const response = await mutate(test, "auth.signUp", { email: uniqueEmail(), password });
      expect(response.statusCode).toBe(400);
      expect(response.json().error.data).toMatchObject({
        appCode: "validation_error",
        details: { field: "password" },
      });
    }
    const unicode = await mutate(test, "auth.signUp", {
      email: uniqueEmail(),
      password: "correct horse ☃ battery staple ".repeat(2),
    });
    expect(unicode.statusCode).toBe(200);
  });

  it("stores argon2id password hashes", async () => {
    const account = await signUp(test);
    const [row] = await test.db.select().from(users).where(eq(users.email, account.email));
    expect(row?.passwordHash).toMatch(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
  });

  it("sign-out deletes the session, clears the cookie, and the old cookie stops working", async () => {
    const account = await signUp(test);
    const response = await mutate(test, "auth.signOut", undefined, { cookie: account.cookie });
    expect(response.statusCode).toBe(200);
    const [cleared] = parseSetCookies(response);
    expect(cleared).toMatchObject({ name: "sb-access-token", value: "" });
    expect(cleared?.attributes["max-age"]).toBe("0");
    expect(await me(account.cookie)).toBeNull();
    const again = await mutate(test, "auth.signOut", undefined, { cookie: account.cookie });
    expect(again.statusCode).toBe(401);
    expect(again.json().error.data.appCode).toBe("not_authenticated");
  });

  it("writes sign-up, sign-in, failure and sign-out to the audit trail", async () => {
    const account = await signUp(test);
    await mutate(test, "auth.signIn", { email: account.email, password: "wrong password" });
    const signedIn = await mutate(test, "auth.signIn", creds(account));
    const cookie = `sb-access-token=${parseSetCookies(signedIn)[0]?.value}`;
    await mutate(test, "auth.signOut", undefined, { cookie });
    const [user] = await test.db.select().from(users).where(eq(users.email, account.email));
    const events = await test.db
      .select()
      .from(auditEvents)
      .where(eq(auditEvents.userId, user!.id))
      .orderBy(auditEvents.id);
    expect(events.map((e) => e.action)).toEqual([
      "auth.sign_up",
      "auth.sign_in_failed",
      "auth.sign_in",
      "auth.sign_out",
    ]);
    expect(events[1]?.ip).toBe("127.0.0.1");
  });
});

describe("failed sign-ins", () => {
  it("answer wrong password and unknown email with byte-identical bodies", async () => {
    const account = await signUp(test);
    const wrong = await mutate(test, "auth.signIn", {
      email: account.email,
      password: "nope nope",
    });
    const unknown = await mutate(test, "auth.signIn", {
      email: uniqueEmail(),
      password: "nope nope",
    });
    expect(wrong.statusCode).toBe(401);
    expect(unknown.statusCode).toBe(401);
    expect(wrong.body).toBe(unknown.body);
    expect(wrong.json().error.data.appCode).toBe("invalid_credentials");
    expect(parseSetCookies(wrong)).toEqual([]);
  });

  it("slow an account down after 10 failures from many addresses, never lock the owner out", async () => {
    const throttled = await startTestApp({
      trustProxy: true,
      throttlePolicy: { ...DEFAULT_THROTTLE_POLICY, maxDelaySeconds: 1 },
    });
    try {
      const account = await signUp(throttled);
      for (let i = 0; i < 10; i++) {
        const response = await mutate(
          throttled,
          "auth.signIn",
          { email: account.email, password: `wrong ${i}` },
          { headers: { "x-forwarded-for": `203.0.113.${i}` } },
        );
        expect(response.statusCode).toBe(401);
      }
      // The tenth failure armed a delay: the next attempt right away is told to wait.
      const blocked = await mutate(throttled, "auth.signIn", creds(account), {
        headers: { "x-forwarded-for": "198.51.100.7" },
      });
      expect(blocked.statusCode).toBe(429);
      expect(blocked.json().error.data.appCode).toBe("too_many_attempts");
      expect(Number(blocked.headers["retry-after"])).toBeGreaterThan(0);
      expect(parseSetCookies(blocked)).toEqual([]);
      // Once the (short, capped) delay has passed, the owner's right password gets in.
      await new Promise((resolve) => setTimeout(resolve, 1_100));
      const owner = await mutate(throttled, "auth.signIn", creds(account), {
        headers: { "x-forwarded-for": "198.51.100.7" },
      });
      expect(owner.statusCode).toBe(200);
    } finally {
      await throttled.close();
    }
  });

  it("are throttled per address across many accounts", async () => {
    const throttled = await startTestApp({
      throttlePolicy: { ...DEFAULT_THROTTLE_POLICY, perAddress: 5 },
    });
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 6; i++) {
        const response = await mutate(throttled, "auth.signIn", {
          email: uniqueEmail(),
          password: "guess guess",
        });
        statuses.push(response.statusCode);
      }
      expect(statuses).toEqual([401, 401, 401, 401, 401, 429]);
    } finally {
      await throttled.close();
    }
  });

  it("let exactly the remaining attempts through when they race", async () => {
    const throttled = await startTestApp({
      throttlePolicy: {
        ...DEFAULT_THROTTLE_POLICY,
        perAccountAddress: 3,
        perAddress: 100,
        slowDownAfter: 100,
      },
    });
    try {
      const account = await signUp(throttled);
      const responses = await Promise.all(
        Array.from({ length: 8 }, () =>
          mutate(throttled, "auth.signIn", { email: account.email, password: "wrong guess" }),
        ),
      );
      const statuses = responses.map((r) => r.statusCode).sort();
      expect(statuses).toEqual([401, 401, 401, 429, 429, 429, 429, 429]);
    } finally {
      await throttled.close();
    }
  });
});

describe("session lifetime", () => {
  it("does not adopt a planted cookie at sign-in, and replaces an existing session", async () => {
    const account = await signUp(test);
    const planted = "sb-access-token=" + "A".repeat(43);
    const response = await mutate(test, "auth.signIn", creds(account), { cookie: planted });
    const issued = parseSetCookies(response).find((c) => c.value !== "");
    expect(issued?.value).not.toBe("A".repeat(43));
    expect(await me(planted)).toBeNull();

    // Signing in again while signed in: new session, and the previous one is deleted.
    const first = `sb-access-token=${issued?.value}`;
    const second = await mutate(test, "auth.signIn", creds(account), { cookie: first });
    const secondCookie = `sb-access-token=${parseSetCookies(second).find((c) => c.value)?.value}`;
    expect(secondCookie).not.toBe(first);
    expect(await me(first)).toBeNull();
    expect(await me(secondCookie)).toMatchObject({ email: account.email });
  });

  it("expires a session left idle past the idle lifetime", async () => {
    const account = await signUp(test);
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(Date.now() + 7 * 86_400_000 + 1_000);
    const response = await query(test, "auth.me", { cookie: account.cookie });
    expect(response.json().result.data.user).toBeNull();
    expect(parseSetCookies(response)[0]).toMatchObject({ name: "sb-access-token", value: "" });
    const id = createHash("sha256").update(account.token).digest("hex");
    expect(await test.db.select().from(sessions).where(eq(sessions.id, id))).toEqual([]);
  });

  it("extends an active session, but never past the absolute lifetime", async () => {
    const account = await signUp(test);
    vi.useFakeTimers({ toFake: ["Date"] });
    const start = Date.now();
    // Used every 4 days: each use past half the idle lifetime refreshes the cookie.
    let refreshed = 0;
    for (let day = 4; day < 30; day += 4) {
      vi.setSystemTime(start + day * 86_400_000);
      const response = await query(test, "auth.me", { cookie: account.cookie });
      expect(response.json().result.data.user).toMatchObject({ email: account.email });
      if (parseSetCookies(response).some((c) => c.value === account.token)) refreshed++;
    }
    expect(refreshed).toBeGreaterThan(0);
    vi.setSystemTime(start + 30 * 86_400_000 + 1_000);
    expect(await me(account.cookie)).toBeNull();
  });
});

describe("origin and body checks on state-changing requests", () => {
  const attempt = (headers: Record<string, string>, email: string) =>
    test.app.inject({
      method: "POST",
      url: "/trpc/auth.signUp",
      headers,
      payload: JSON.stringify({ email, password: "long enough pw" }),
    });
  const userCount = async (email: string) =>
    (await test.db.select().from(users).where(eq(users.email, email))).length;

  it.each([
    ["cross-site fetch", { "sec-fetch-site": "cross-site", origin: EVIL }],
    ["sibling subdomain", { "sec-fetch-site": "same-site", origin: "http://sub.localhost:3000" }],
    ["foreign Origin", { origin: EVIL }],
    ["prefix trick", { origin: "http://localhost:3000.evil.test" }],
    ["scheme downgrade", { origin: "https://localhost:3000" }],
    ["null Origin", { origin: "null" }],
    ["no Origin at all", {}],
  ])("refuses a %s with 403 invalid_origin and changes nothing", async (_name, headers) => {
    const email = uniqueEmail();
    const response = await attempt({ "content-type": "application/json", ...headers }, email);
    expect(response.statusCode).toBe(403);
    expect(response.json().error.data.appCode).toBe("invalid_origin");
    expect(response.headers["access-control-allow-origin"]).toBeUndefined();
    expect(parseSetCookies(response)).toEqual([]);
    expect(await userCount(email)).toBe(0);
  });

  it("accepts an exact Origin match when Sec-Fetch-Site is absent", async () => {
    const email = uniqueEmail();
    const response = await attempt({ "content-type": "application/json", origin: ORIGIN }, email);
    expect(response.statusCode).toBe(200);
  });

  it.each([
    ["form-encoded", "application/x-www-form-urlencoded", "email=a%40b.c&password=long+enough"],
    [
      "multipart",
      "multipart/form-data; boundary=x",
      '--x\r\nContent-Disposition: form-data; name="a"\r\n\r\nb\r\n--x--',
    ],
    ["text/plain", "text/plain", '{"email":"a@b.c","password":"long enough pw"}'],
  ])("refuses a %s body with 415 even from the same origin", async (_name, type, payload) => {
    const response = await test.app.inject({
      method: "POST",
      url: "/trpc/auth.signUp",
      headers: { "content-type": type, "sec-fetch-site": "same-origin" },
      payload,
    });
    expect(response.statusCode).toBe(415);
    expect(response.json().error.data.appCode).toBe("unsupported_media_type");
  });

  it("refuses a no-input mutation sent cross-site as a multipart form", async () => {
    const account = await signUp(test);
    const response = await test.app.inject({
      method: "POST",
      url: "/trpc/auth.signOut",
      headers: {
        cookie: account.cookie,
        "content-type": "multipart/form-data; boundary=x",
        origin: EVIL,
      },
      payload: "--x--",
    });
    expect(response.statusCode).toBe(403);
    expect(await me(account.cookie)).toMatchObject({ email: account.email });
  });

  it("refuses a mutation sent as a GET query", async () => {
    const email = uniqueEmail();
    const input = encodeURIComponent(JSON.stringify({ email, password: "long enough pw" }));
    const response = await test.app.inject({
      method: "GET",
      url: `/trpc/auth.signUp?input=${input}`,
    });
    expect(response.statusCode).toBe(405);
    expect(await userCount(email)).toBe(0);
  });

  it("refuses bodies over 16 KiB with 413", async () => {
    const response = await mutate(test, "auth.signIn", {
      email: "a@b.c",
      password: "x".repeat(17_000),
    });
    expect(response.statusCode).toBe(413);
  });

  it("refuses malformed JSON with 400", async () => {
    const response = await test.app.inject({
      method: "POST",
      url: "/trpc/auth.signIn",
      headers: { "content-type": "application/json", "sec-fetch-site": "same-origin" },
      payload: '{"email": ',
    });
    expect(response.statusCode).toBe(400);
    expect(response.body).not.toMatch(/at .*\.(ts|js):\d+/);
  });

  it("refuses unknown input fields (strict schemas)", async () => {
    const response = await mutate(test, "auth.signUp", {
      email: uniqueEmail(),
      password: "long enough pw",
      tier: "pro",
    });
    expect(response.statusCode).toBe(400);
    expect(response.json().error.data.details.field).toBe("tier");
  });

  it("caps tRPC batches at 10 calls", async () => {
    const paths = Array.from({ length: 11 }, () => "auth.me").join(",");
    const response = await test.app.inject({
      method: "GET",
      url: `/trpc/${paths}?batch=1&input={}`,
    });
    expect(response.statusCode).toBe(400);
  });

  it("refuses any API key on the management plane, even with a valid session", async () => {
    const account = await signUp(test);
    const response = await mutate(test, "auth.signOut", undefined, {
      cookie: account.cookie,
      headers: { authorization: "Bearer sk_live_whatever" },
    });
    expect(response.statusCode).toBe(403);
    expect(response.json().error.data.appCode).toBe("api_key_not_allowed");
    expect(await me(account.cookie)).toMatchObject({ email: account.email });
  });
});

describe("every response", () => {
  it("carries a generated X-Request-Id, ignoring one sent by the client", async () => {
    const response = await test.app.inject({
      method: "GET",
      url: "/healthz",
      headers: { "x-request-id": "attacker-chosen" },
    });
    expect(response.headers["x-request-id"]).toMatch(/^req_[0-9a-f]{32}$/);
    const missing = await test.app.inject({ method: "GET", url: "/nope" });
    expect(missing.statusCode).toBe(404);
    expect(missing.json()).toEqual({
      error: {
        code: "not_found",
        message: "Not found.",
        request_id: missing.headers["x-request-id"],
      },
    });
  });

  it("reports readiness from the database", async () => {
    const response = await test.app.inject({ method: "GET", url: "/readyz" });
    expect(response.statusCode).toBe(200);
    expect(response.json().status).toBe("ready");
  });

  it("a request's own log lines carry the request id its response names", async () => {
    const refused = await test.app.inject({
      method: "GET",
      url: "/api/v1/keys",
      headers: { "x-api-key": "sk_live_notarealkeynotarealkeynotarealkey00" },
    });
    expect(refused.statusCode).toBeGreaterThanOrEqual(400);
    const requestId = refused.headers["x-request-id"];
    const lines = test.logs
      .join("")
      .split("\n")
      .filter(Boolean)
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .filter((line) => line.reqId === requestId);
    expect(lines.map((line) => line.msg)).toEqual([
      "management request refused",
      "request completed",
    ]);
    expect(lines[0]).toMatchObject({ level: 30, pid: process.pid });
  });

  it("never logs passwords or session tokens", async () => {
    const account = await signUp(test);
    await mutate(test, "auth.signIn", creds(account));
    await query(test, "auth.me", { cookie: account.cookie });
    const logs = test.logs.join("");
    expect(logs).not.toContain(account.password);
    expect(logs).not.toContain(account.token);
    expect(logs).toContain("request completed");
    // The access line (written by hand, in pino's format) is one JSON object per request.
    const lines = logs
      .split("\n")
      .filter(Boolean)
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    const completed = lines.filter((line) => line.msg === "request completed");
    expect(completed.length).toBeGreaterThanOrEqual(2);
    expect(completed.at(-1)).toMatchObject({
      level: 30,
      reqId: expect.stringMatching(/^req_[0-9a-f]{32}$/),
      req: { method: "GET", url: "/trpc/auth.me", remoteAddress: "127.0.0.1" },
      res: { statusCode: 200 },
      responseTime: expect.any(Number),
    });
  });
});
