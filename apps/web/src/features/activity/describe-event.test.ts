import { describe, expect, it } from "vitest";
import { describeEvent } from "./describe-event.js";

describe("describeEvent", () => {
  it("shows a revocation with its reason", () => {
    expect(
      describeEvent({ action: "key.revoked", details: { name: "prod-splunk", reason: "Leaked" } }),
    ).toEqual({ title: "Key revoked", facts: ["“prod-splunk”", "Reason: Leaked"], tone: "danger" });
  });

  it("says so when a revocation has no reason", () => {
    expect(describeEvent({ action: "key.revoked", details: { reason: null } }).facts).toEqual([
      "No reason given",
    ]);
  });

  it("summarises a created key", () => {
    const { title, facts } = describeEvent({
      action: "key.created",
      details: {
        name: "ci",
        scopes: ["read:iocs"],
        expires_at: "2026-08-10T08:00:00Z",
        allowed_ips: ["10.0.0.0/8"],
      },
    });
    expect(title).toBe("Key created");
    expect(facts).toEqual([
      "“ci”",
      "Scopes: read:iocs",
      "Expires Aug 10, 2026",
      "Allowed IPs: 10.0.0.0/8",
    ]);
    expect(describeEvent({ action: "key.created", details: { expires_at: null } }).facts).toContain(
      "Never expires",
    );
  });

  it("names sign-ins, failures and tier changes", () => {
    expect(describeEvent({ action: "auth.sign_in", details: {} }).title).toBe("Signed in");
    expect(
      describeEvent({ action: "auth.sign_in_failed", details: { reason: "wrong_password" } }),
    ).toMatchObject({ title: "Failed sign-in attempt", tone: "warn", facts: ["Wrong password"] });
    expect(
      describeEvent({ action: "account.tier_changed", details: { from: "free", to: "pro" } }).title,
    ).toBe("Tier changed from free to pro");
  });

  it("falls back to the raw action for events it does not know", () => {
    expect(describeEvent({ action: "key.renamed", details: null }).title).toBe("key.renamed");
  });
});
