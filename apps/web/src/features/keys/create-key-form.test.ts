import { describe, expect, it } from "vitest";
import {
  initialValues,
  parseIpList,
  serverFieldErrors,
  toCreateInput,
  type CreateKeyValues,
} from "./create-key-form.js";

const FREE = ["read:iocs", "read:articles"];
const values = (overrides: Partial<CreateKeyValues> = {}): CreateKeyValues => ({
  ...initialValues(FREE),
  name: "prod-splunk-2026q2",
  ...overrides,
});

describe("toCreateInput", () => {
  it("starts with every scope of the tier and a 90-day expiry", () => {
    expect(initialValues(FREE)).toMatchObject({ scopes: FREE, expiry: "90", name: "" });
    expect(toCreateInput(values(), FREE)).toEqual({
      input: { name: "prod-splunk-2026q2", expires_in_days: 90 },
    });
  });

  it("trims the name and omits the expiry for keys that never expire", () => {
    expect(toCreateInput(values({ name: "  staging-sentinel ", expiry: "never" }), FREE)).toEqual({
      input: { name: "staging-sentinel" },
    });
  });

  it("sends a chosen subset of scopes, in the tier's order", () => {
    const result = toCreateInput(values({ scopes: ["read:articles"] }), FREE);
    expect(result.input?.scopes).toEqual(["read:articles"]);
  });

  it("accepts custom expiries from 1 to 365 days", () => {
    expect(toCreateInput(values({ expiry: "custom", customDays: "1" }), FREE).input).toMatchObject({
      expires_in_days: 1,
    });
    expect(
      toCreateInput(values({ expiry: "custom", customDays: "365" }), FREE).input,
    ).toMatchObject({ expires_in_days: 365 });
  });

  it.each(["0", "366", "2.5", "", "abc", "-3"])("refuses a custom expiry of %j", (customDays) => {
    expect(toCreateInput(values({ expiry: "custom", customDays }), FREE).errors).toEqual({
      expires_in_days: "Enter a whole number of days from 1 to 365.",
    });
  });

  it("collects every problem at once, per field", () => {
    const result = toCreateInput(
      values({
        name: "   ",
        scopes: [],
        allowedIps: Array.from({ length: 21 }, (_, i) => `10.0.0.${i}`).join("\n"),
      }),
      FREE,
    );
    expect(result.errors).toEqual({
      name: "Give the key a name.",
      scopes: "Choose at least one scope.",
      allowed_ips: "At most 20 addresses or ranges.",
    });
  });

  it("refuses names over 100 characters", () => {
    expect(toCreateInput(values({ name: "x".repeat(101) }), FREE).errors?.name).toBe(
      "Use at most 100 characters.",
    );
  });

  it("sends allowed IPs without duplicates", () => {
    const result = toCreateInput(
      values({ allowedIps: "203.0.113.7\n10.0.0.0/8, 203.0.113.7\n\n2001:db8::/32" }),
      FREE,
    );
    expect(result.input?.allowed_ips).toEqual(["203.0.113.7", "10.0.0.0/8", "2001:db8::/32"]);
  });
});

describe("parseIpList", () => {
  it("splits on lines, commas and spaces", () => {
    expect(parseIpList(" 1.2.3.4,5.6.7.8\n  ::1 \n")).toEqual(["1.2.3.4", "5.6.7.8", "::1"]);
    expect(parseIpList("   ")).toEqual([]);
  });
});

describe("serverFieldErrors", () => {
  it("maps the server's field paths onto the form's fields", () => {
    expect(
      serverFieldErrors({
        "allowed_ips.1": '"x" is not an IP address or CIDR range.',
        "allowed_ips.2": "second",
        name: "Give the key a name.",
        unknown: "ignored",
      }),
    ).toEqual({
      allowed_ips: '"x" is not an IP address or CIDR range.',
      name: "Give the key a name.",
    });
  });
});
