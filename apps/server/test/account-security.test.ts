// Account security over HTTP: sessions you control, password changes, sudo mode, TOTP with
// recovery codes and the two-step sign-in, operator remedies. TOTP codes are computed from
// the secret the API hands out, at the server's (injected) clock.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  DEFAULT_THROTTLE_POLICY,
  issuePasswordReset,
  revokeSessions,
  resetSecondFactors,
  setAccountDisabled,
  totpCodeAt,
} from "@repo/api";
import { pruneAnonymousAudit } from "../../../packages/api/src/services/audit-log.js";
import { auditEvents, eq, isNull, recoveryCodes, totpFactors } from "@repo/db";
import {
  mutate,
  parseSetCookies,
  query,
  SAME_ORIGIN,
  signUp,
  startTestApp,
  uniqueEmail,
  type TestApp,
} from "./harness.js";

let test: TestApp;
let clock = new Date("2026-06-01T12:00:00Z");
const advance = (ms: number) => (clock = new Date(clock.getTime() + ms));

beforeAll(async () => {
  test = await startTestApp({ now: () => clock, trustProxy: true });
});
afterAll(async () => {
  await test.close();
});

const data = (response: { json(): unknown }) =>
  (response.json() as { result: { data: Record<string, unknown> } }).result.data;
const appCode = (response: { json(): unknown }) =>
  (response.json() as { error: { data: { appCode: string } } }).error.data.appCode;
const sessionCookie = (response: Parameters<typeof parseSetCookies>[0]) => {
  const cookie = parseSetCookies(response).find((c) => c.name === "sb-access-token" && c.value);
  return cookie ? `sb-access-token=${cookie.value}` : undefined;
};
const challengeCookie = (response: Parameters<typeof parseSetCookies>[0]) => {
  const cookie = parseSetCookies(response).find((c) => c.name === "sb-access-token-challenge");
  return cookie?.value ? `sb-access-token-challenge=${cookie.value}` : undefined;
};
const me = async (cookie: string) =>
  (data(await query(test, "auth.me", { cookie })) as { user: { email: string } | null }).user;

async function signIn(email: string, password: string, headers: Record<string, string> = {}) {
  return mutate(test, "auth.signIn", { email, password }, { headers });
}

/** Both steps of a sign-in, the second with recovery code `index`: the session cookie. */
async function signInWithRecoveryCode(
  account: { email: string; password: string; codes: string[] },
  index: number,
): Promise<string> {
  const challenge = challengeCookie(await signIn(account.email, account.password))!;
  const verified = await mutate(
    test,
    "auth.verifySecondFactor",
    { recovery_code: account.codes[index] },
    { cookie: challenge },
  );
  return sessionCookie(verified)!;
}

/** An account with TOTP confirmed: its secret, recovery codes and a signed-in cookie. */
async function enrolled() {
  const account = await signUp(test);
  const begun = data(
    await mutate(test, "account.totp.begin", undefined, { cookie: account.cookie }),
  );
  const secret = begun.secret as string;
  const confirmed = await mutate(
    test,
    "account.totp.confirm",
    { code: totpCodeAt(secret, clock) },
    { cookie: account.cookie },
  );
  expect(confirmed.statusCode).toBe(200);
  const codes = data(confirmed).recovery_codes as string[];
  // The confirming code used up this 30-second window: move to the next one.
  advance(30_000);
  return { ...account, secret, codes };
}

describe("passwords", () => {
  it.each([
    ["a top-10,000 password", "password1"],
    ["a common password in other letter case", "Qwertyuiop"],
    ["a common 8-digit password", "12345678"],
  ])("refuses %s at sign-up with a helpful message", async (_name, password) => {
    const response = await mutate(test, "auth.signUp", { email: uniqueEmail(), password });
    expect(response.statusCode).toBe(400);
    expect(appCode(response)).toBe("validation_error");
    expect(response.json<{ error: { message: string } }>().error.message).toMatch(
      /most common passwords/,
    );
  });

  it("refuses a password containing the email's local part", async () => {
    const response = await mutate(test, "auth.signUp", {
      email: "soc.lead@example.com",
      password: "x-SOC.LEAD-2026!",
    });
    expect(response.statusCode).toBe(400);
    expect(response.json<{ error: { message: string } }>().error.message).toMatch(/email address/);
  });
});

describe("sessions you control", () => {
  it("lists sessions with address, browser and which one is this; ends one and all others", async () => {
    const account = await signUp(test);
    const laptop = sessionCookie(
      await signIn(account.email, account.password, {
        "x-forwarded-for": "198.51.100.20",
        "user-agent": "Mozilla/5.0 (X11; Linux x86_64) Chrome/140.0",
      }),
    )!;
    const phone = sessionCookie(
      await signIn(account.email, account.password, { "user-agent": "Firefox/140.0" }),
    )!;
    const list = data(await query(test, "account.sessions", { cookie: laptop })) as unknown as {
      id: string;
      ip: string;
      user_agent: string;
      current: boolean;
      created_at: string;
      last_seen_at: string;
    }[];
    expect(list).toHaveLength(3);
    const current = list.filter((s) => s.current);
    expect(current).toHaveLength(1);
    expect(current[0]).toMatchObject({
      ip: "198.51.100.20",
      user_agent: expect.stringMatching(/Chrome/),
    });
    expect(list.every((s) => /^[0-9a-f]{32}$/.test(s.id))).toBe(true);

    const phoneId = (
      data(await query(test, "account.sessions", { cookie: phone })) as unknown as {
        id: string;
        current: boolean;
      }[]
    ).find((s) => s.current)!.id;
    const ended = await mutate(
      test,
      "account.endSession",
      { id: phoneId },
      { cookie: laptop, headers: { "x-forwarded-for": "198.51.100.20" } },
    );
    expect(ended.statusCode).toBe(200);
    // The ended session stops on its very next request.
    expect(await me(phone)).toBeNull();
    const keys = await query(test, "keys.list", { cookie: phone });
    expect(keys.statusCode).toBe(401);

    // An unknown or foreign id is 404 and changes nothing.
    const foreign = await mutate(
      test,
      "account.endSession",
      { id: "0".repeat(32) },
      { cookie: laptop },
    );
    expect(foreign.statusCode).toBe(404);

    const others = await mutate(test, "account.endOtherSessions", undefined, { cookie: laptop });
    expect(data(others)).toEqual({ ended: 1 });
    expect(await me(account.cookie)).toBeNull();
    expect(await me(laptop)).toMatchObject({ email: account.email });
    const audit = await test.db
      .select()
      .from(auditEvents)
      .where(eq(auditEvents.action, "account.session_ended"));
    expect(audit.some((row) => row.ip === "198.51.100.20")).toBe(true);
  });
});

describe("changing the password", () => {
  it("needs the current password, refuses weak ones, and ends every other session", async () => {
    const account = await signUp(test);
    const other = sessionCookie(await signIn(account.email, account.password))!;
    const wrong = await mutate(
      test,
      "account.changePassword",
      { current_password: "not it at all", new_password: "a brand new passphrase" },
      { cookie: account.cookie },
    );
    expect(wrong.statusCode).toBe(401);
    const weak = await mutate(
      test,
      "account.changePassword",
      { current_password: account.password, new_password: "iloveyou" },
      { cookie: account.cookie },
    );
    expect(weak.statusCode).toBe(400);
    expect(await me(other)).not.toBeNull();

    const changed = await mutate(
      test,
      "account.changePassword",
      { current_password: account.password, new_password: "a brand new passphrase" },
      { cookie: account.cookie },
    );
    expect(changed.statusCode).toBe(200);
    expect(data(changed)).toEqual({ sessions_ended: 1 });
    expect(await me(other)).toBeNull();
    expect(await me(account.cookie)).toMatchObject({ email: account.email });
    expect((await signIn(account.email, account.password)).statusCode).toBe(401);
    expect((await signIn(account.email, "a brand new passphrase")).statusCode).toBe(200);
  });

  it("refuses unknown fields (no mass assignment)", async () => {
    const account = await signUp(test);
    const response = await mutate(
      test,
      "account.changePassword",
      { current_password: account.password, new_password: "another long one", email: "x@y.z" },
      { cookie: account.cookie },
    );
    expect(response.statusCode).toBe(400);
  });
});

describe("changing the email", () => {
  it("needs the password (and the code once enrolled), refuses taken and invalid addresses", async () => {
    const account = await enrolled();
    const other = await signUp(test);
    const change = (input: Record<string, unknown>) =>
      mutate(test, "account.changeEmail", input, { cookie: account.cookie });
    const code = () => totpCodeAt(account.secret, clock);
    const fresh = uniqueEmail();

    const wrong = await change({ password: "not it at all", new_email: fresh, code: code() });
    expect(wrong.statusCode).toBe(401);
    const noCode = await change({ password: account.password, new_email: fresh });
    expect(noCode.statusCode).toBe(401);
    expect(appCode(noCode)).toBe("invalid_second_factor");
    const invalid = await change({
      password: account.password,
      new_email: "not-an-email",
      code: code(),
    });
    expect(invalid.statusCode).toBe(400);
    advance(30_000);
    // Another account's address, in other letter case: refused, nothing changes.
    const taken = await change({
      password: account.password,
      new_email: other.email.toUpperCase(),
      code: code(),
    });
    expect(taken.statusCode).toBe(409);
    expect(appCode(taken)).toBe("email_taken");
    expect(await me(account.cookie)).toMatchObject({ email: account.email });

    advance(30_000);
    const changed = await change({
      password: account.password,
      new_email: `  ${fresh.toUpperCase()} `,
      code: code(),
    });
    expect(changed.statusCode, changed.body).toBe(200);
    expect(data(changed)).toEqual({ email: fresh });
    expect(await me(account.cookie)).toMatchObject({ email: fresh });
    // The old address signs in no more; the new one does (then asks for the second factor).
    expect((await signIn(account.email, account.password)).statusCode).toBe(401);
    expect(data(await signIn(fresh, account.password))).toMatchObject({
      second_factor_required: true,
    });
    const [user] = await test.db
      .select({ id: auditEvents.userId, details: auditEvents.details })
      .from(auditEvents)
      .where(eq(auditEvents.action, "account.email_changed"))
      .orderBy(auditEvents.id);
    expect(user?.details).toEqual({ from: account.email, to: fresh });
  });
});

describe("sudo mode", () => {
  it("asks for the password again 10 minutes after sign-in, then allows the change", async () => {
    const account = await signUp(test);
    advance(10 * 60_000 + 1_000);
    const stale = await mutate(test, "account.totp.begin", undefined, { cookie: account.cookie });
    expect(stale.statusCode).toBe(403);
    expect(appCode(stale)).toBe("reauthentication_required");
    const badPassword = await mutate(
      test,
      "account.reauthenticate",
      { password: "wrong wrong" },
      { cookie: account.cookie },
    );
    expect(badPassword.statusCode).toBe(401);
    const reauth = await mutate(
      test,
      "account.reauthenticate",
      { password: account.password },
      { cookie: account.cookie },
    );
    expect(reauth.statusCode).toBe(200);
    const fresh = await mutate(test, "account.totp.begin", undefined, { cookie: account.cookie });
    expect(fresh.statusCode).toBe(200);
  });
});

describe("TOTP and the two-step sign-in", () => {
  it("enrols with a QR code and the secret, confirms with a code, shows 10 recovery codes stored hashed", async () => {
    const account = await signUp(test);
    const begun = data(
      await mutate(test, "account.totp.begin", undefined, { cookie: account.cookie }),
    );
    expect(begun.secret).toMatch(/^[A-Z2-7]{32}$/);
    expect(begun.otpauth_uri).toMatch(/^otpauth:\/\/totp\/.*secret=/);
    expect(begun.qr_code).toMatch(/^data:image\/svg\+xml;base64,/);
    // Not enrolled until confirmed: the password alone still signs in.
    expect(data(await signIn(account.email, account.password))).toHaveProperty("user");
    const bad = await mutate(
      test,
      "account.totp.confirm",
      { code: "000000" },
      { cookie: account.cookie },
    );
    expect(bad.statusCode).toBe(401);
    const confirmed = await mutate(
      test,
      "account.totp.confirm",
      { code: totpCodeAt(begun.secret as string, clock) },
      { cookie: account.cookie },
    );
    const codes = data(confirmed).recovery_codes as string[];
    expect(codes).toHaveLength(10);
    expect(new Set(codes).size).toBe(10);
    const userId = (
      await test.db
        .select()
        .from(totpFactors)
        .where(eq(totpFactors.secret, begun.secret as string))
    )[0]!.userId;
    const stored = await test.db
      .select()
      .from(recoveryCodes)
      .where(eq(recoveryCodes.userId, userId));
    expect(stored).toHaveLength(10);
    for (const code of codes) expect(JSON.stringify(stored)).not.toContain(code);
  });

  it("answers a right password with second_factor_required and no session; a code creates it", async () => {
    const account = await enrolled();
    const step1 = await signIn(account.email, account.password);
    expect(step1.statusCode).toBe(200);
    expect(data(step1)).toEqual({
      second_factor_required: true,
      methods: ["totp", "recovery_code"],
    });
    expect(sessionCookie(step1)).toBeUndefined();
    const challenge = challengeCookie(step1)!;
    expect(challenge).toBeDefined();

    // Without the password step's cookie, a right code opens nothing.
    const code = totpCodeAt(account.secret, clock);
    const unbound = await mutate(test, "auth.verifySecondFactor", { code });
    expect(unbound.statusCode).toBe(401);
    expect(appCode(unbound)).toBe("second_factor_expired");

    const step2 = await mutate(test, "auth.verifySecondFactor", { code }, { cookie: challenge });
    expect(step2.statusCode).toBe(200);
    const cookie = sessionCookie(step2)!;
    expect(await me(cookie)).toMatchObject({ email: account.email });

    // The challenge is spent, and the same code is refused in its window even after a new password step.
    expect(
      (await mutate(test, "auth.verifySecondFactor", { code }, { cookie: challenge })).statusCode,
    ).toBe(401);
    const again = challengeCookie(await signIn(account.email, account.password))!;
    const replay = await mutate(test, "auth.verifySecondFactor", { code }, { cookie: again });
    expect(replay.statusCode).toBe(401);
    expect(appCode(replay)).toBe("invalid_second_factor");
    // The next window's code works.
    advance(30_000);
    const next = await mutate(
      test,
      "auth.verifySecondFactor",
      { code: totpCodeAt(account.secret, clock) },
      { cookie: again },
    );
    expect(next.statusCode).toBe(200);
  });

  it("accepts a code from the previous window (clock drift) but not from two windows ago", async () => {
    const account = await enrolled();
    advance(30_000);
    const challenge = challengeCookie(await signIn(account.email, account.password))!;
    const old = totpCodeAt(account.secret, new Date(clock.getTime() - 90_000));
    expect(
      (await mutate(test, "auth.verifySecondFactor", { code: old }, { cookie: challenge }))
        .statusCode,
    ).toBe(401);
    const previous = totpCodeAt(account.secret, new Date(clock.getTime() - 30_000));
    expect(
      (await mutate(test, "auth.verifySecondFactor", { code: previous }, { cookie: challenge }))
        .statusCode,
    ).toBe(200);
  });

  it("lets a recovery code sign in exactly once", async () => {
    const account = await enrolled();
    const [first] = account.codes;
    const challenge = challengeCookie(await signIn(account.email, account.password))!;
    const used = await mutate(
      test,
      "auth.verifySecondFactor",
      { recovery_code: first!.toUpperCase() },
      { cookie: challenge },
    );
    expect(used.statusCode).toBe(200);
    const again = challengeCookie(await signIn(account.email, account.password))!;
    const reused = await mutate(
      test,
      "auth.verifySecondFactor",
      { recovery_code: first },
      { cookie: again },
    );
    expect(reused.statusCode).toBe(401);
    const audit = await test.db
      .select()
      .from(auditEvents)
      .where(eq(auditEvents.action, "account.recovery_code_used"));
    expect(audit.at(-1)?.details).toEqual({ remaining: 9 });
  });

  it("expires the password step after 5 minutes and after 5 wrong codes", async () => {
    const account = await enrolled();
    const challenge = challengeCookie(await signIn(account.email, account.password))!;
    advance(5 * 60_000 + 1_000);
    const late = await mutate(
      test,
      "auth.verifySecondFactor",
      { code: totpCodeAt(account.secret, clock) },
      { cookie: challenge },
    );
    expect(appCode(late)).toBe("second_factor_expired");

    const fresh = challengeCookie(await signIn(account.email, account.password))!;
    for (let i = 0; i < 5; i++) {
      const wrong = await mutate(
        test,
        "auth.verifySecondFactor",
        { code: "000000" },
        { cookie: fresh },
      );
      expect(appCode(wrong)).toBe("invalid_second_factor");
    }
    const right = await mutate(
      test,
      "auth.verifySecondFactor",
      { code: totpCodeAt(account.secret, clock) },
      { cookie: fresh },
    );
    expect(appCode(right)).toBe("second_factor_expired");
  });

  it("needs the password and a current code to turn TOTP off or regenerate codes", async () => {
    const account = await enrolled();
    const cookie = await signInWithRecoveryCode(account, 1);
    const noCode = await mutate(
      test,
      "account.totp.disable",
      { password: account.password, code: "123456" },
      { cookie },
    );
    expect(noCode.statusCode).toBe(401);
    const regenerated = await mutate(
      test,
      "account.recoveryCodes.regenerate",
      { password: account.password, code: totpCodeAt(account.secret, clock) },
      { cookie },
    );
    expect(regenerated.statusCode).toBe(200);
    advance(30_000);
    const wrongPassword = await mutate(
      test,
      "account.totp.disable",
      { password: "not my password", code: totpCodeAt(account.secret, clock) },
      { cookie },
    );
    expect(wrongPassword.statusCode).toBe(401);
    const disabled = await mutate(
      test,
      "account.totp.disable",
      { password: account.password, code: totpCodeAt(account.secret, clock) },
      { cookie },
    );
    expect(disabled.statusCode).toBe(200);
    expect(data(await signIn(account.email, account.password))).toHaveProperty("user");
  });
});

describe("a slowed-down account with a second factor", () => {
  it("still lets its owner in with password and code, and a guess meanwhile learns nothing", async () => {
    const account = await enrolled();
    const from = (remoteAddress: string, password: string) =>
      test.app.inject({
        method: "POST",
        url: "/trpc/auth.signIn",
        remoteAddress,
        headers: SAME_ORIGIN,
        payload: JSON.stringify({ email: account.email, password }),
      });
    // Strangers from many addresses: after ten failures the account is slowed down (the
    // delay doubles with each further failure, so it is soon longer than this test).
    for (let i = 0; i < 10; i++) {
      expect((await from(`203.0.113.${i}`, `wrong ${i}`)).statusCode).toBe(401);
    }
    const during: number[] = [];
    for (let i = 10; i < 13; i++)
      during.push((await from(`203.0.113.${i}`, `wrong ${i}`)).statusCode);
    expect(during).toContain(200);

    // A wrong and a right password get the same answer: a second-factor step.
    const wrong = await from("198.51.100.9", "still not it");
    const right = await from("198.51.100.8", account.password);
    expect(wrong.statusCode).toBe(200);
    expect(right.statusCode).toBe(200);
    expect(wrong.body).toBe(right.body);
    expect(sessionCookie(wrong)).toBeUndefined();
    const decoy = challengeCookie(wrong)!;
    const real = challengeCookie(right)!;
    expect(decoy).toBeDefined();

    // No factor completes the wrong password's step, and a recovery code is not spent on it.
    const [recovery] = account.codes;
    const onDecoy = await mutate(
      test,
      "auth.verifySecondFactor",
      { recovery_code: recovery },
      { cookie: decoy },
    );
    expect(onDecoy.statusCode).toBe(401);
    expect(appCode(onDecoy)).toBe("invalid_second_factor");
    const codeOnDecoy = await mutate(
      test,
      "auth.verifySecondFactor",
      { code: totpCodeAt(account.secret, clock) },
      { cookie: decoy },
    );
    expect(codeOnDecoy.statusCode).toBe(401);

    // The owner's step completes with the same recovery code: the session is created.
    const owner = await mutate(
      test,
      "auth.verifySecondFactor",
      { recovery_code: recovery },
      { cookie: real },
    );
    expect(owner.statusCode, owner.body).toBe(200);
    expect(await me(sessionCookie(owner)!)).toMatchObject({ email: account.email });

    // Both factors passed: the slow-down is over, a wrong password is plainly wrong again.
    expect((await from("198.51.100.9", "still not it")).statusCode).toBe(401);
  });
});

describe("operator remedies", () => {
  it("a reset link works once, within the hour, and ends every session", async () => {
    const account = await signUp(test);
    const { link } = await issuePasswordReset(
      test.db,
      account.email,
      new URL("http://localhost:3000"),
      clock,
    );
    const token = new URL(link).hash.replace("#token=", "");
    expect(link).toMatch(/^http:\/\/localhost:3000\/reset-password#token=[A-Za-z0-9_-]{43}$/);
    const weak = await mutate(test, "auth.resetPassword", { token, new_password: "password123" });
    expect(weak.statusCode).toBe(400);
    const reset = await mutate(test, "auth.resetPassword", {
      token,
      new_password: "fresh start passphrase",
    });
    expect(reset.statusCode).toBe(200);
    expect(await me(account.cookie)).toBeNull();
    const reuse = await mutate(test, "auth.resetPassword", {
      token,
      new_password: "another one entirely",
    });
    expect(appCode(reuse)).toBe("invalid_reset_link");

    const second = await issuePasswordReset(
      test.db,
      account.email,
      new URL("http://localhost:3000"),
      clock,
    );
    advance(60 * 60_000 + 1_000);
    const expired = await mutate(test, "auth.resetPassword", {
      token: new URL(second.link).hash.replace("#token=", ""),
      new_password: "too late passphrase",
    });
    expect(appCode(expired)).toBe("invalid_reset_link");
  });

  it("revoke-sessions, reset-mfa, disable and enable", async () => {
    const account = await enrolled();
    const cookie = await signInWithRecoveryCode(account, 0);
    expect((await revokeSessions(test.db, account.email)).ended).toBe(2);
    expect(await me(cookie)).toBeNull();

    await resetSecondFactors(test.db, account.email);
    const plain = await signIn(account.email, account.password);
    expect(data(plain)).toHaveProperty("user");

    const disabled = await setAccountDisabled(test.db, account.email, true);
    expect(disabled.sessionsEnded).toBe(1);
    expect(await me(sessionCookie(plain)!)).toBeNull();
    const refused = await signIn(account.email, account.password);
    expect(refused.statusCode).toBe(403);
    expect(appCode(refused)).toBe("account_disabled");
    await setAccountDisabled(test.db, account.email, false);
    expect((await signIn(account.email, account.password)).statusCode).toBe(200);
  });
});

describe("abuse bounds", () => {
  it("answers a sign-in flood beyond the hashing queue with 503 at once, within the 2 s budget per excess request", async () => {
    const flood = await startTestApp({
      trustProxy: true,
      throttlePolicy: { ...DEFAULT_THROTTLE_POLICY, perAddress: 10_000, perAccountAddress: 10_000 },
    });
    try {
      const started = Date.now();
      const responses = await Promise.all(
        Array.from({ length: 30 }, (_, i) =>
          mutate(flood, "auth.signIn", { email: `flood${i}@example.com`, password: "guess guess" }),
        ),
      );
      const statuses = responses.map((r) => r.statusCode);
      const busy = responses.filter((r) => r.statusCode === 503);
      expect(busy.length).toBeGreaterThan(0);
      expect(busy[0]?.headers["retry-after"]).toBe("1");
      expect(statuses.every((s) => s === 401 || s === 503)).toBe(true);
      expect(Date.now() - started).toBeLessThan(20_000);
    } finally {
      await flood.close();
    }
  });

  it("caps anonymous failed-sign-in audit rows", async () => {
    for (let i = 0; i < 12; i++) await signIn(`nobody${i}@example.com`, "guess guess guess");
    await pruneAnonymousAudit(test.db, 5);
    const rows = await test.db.select().from(auditEvents).where(isNull(auditEvents.userId));
    expect(rows.length).toBe(5);
  });
});

describe("passkeys", () => {
  it("offers registration options for the RP id and origin of PUBLIC_URL, in sudo mode only", async () => {
    const account = await signUp(test);
    const options = data(
      await mutate(test, "account.passkeys.registrationOptions", undefined, {
        cookie: account.cookie,
      }),
    ) as {
      rp: { id: string };
      challenge: string;
      authenticatorSelection: { userVerification: string };
    };
    expect(options.rp.id).toBe("localhost");
    expect(options.authenticatorSelection.userVerification).toBe("required");
    const bogus = await mutate(
      test,
      "account.passkeys.register",
      {
        name: "laptop",
        response: {
          id: "abc",
          rawId: "abc",
          type: "public-key",
          response: { clientDataJSON: "e30" },
          clientExtensionResults: {},
        },
      },
      { cookie: account.cookie },
    );
    expect(bogus.statusCode).toBe(401);
    expect(appCode(bogus)).toBe("passkey_not_verified");
    advance(11 * 60_000);
    const stale = await mutate(test, "account.passkeys.registrationOptions", undefined, {
      cookie: account.cookie,
    });
    expect(appCode(stale)).toBe("reauthentication_required");
  });
});
