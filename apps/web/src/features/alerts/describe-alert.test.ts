import { describe, expect, it } from "vitest";
import { describeAlert, EVENT_LABELS } from "./describe-alert.js";

const sample: Record<string, unknown> = {
  key_id: "5d9f3c1e-8a43-4c55-9f61-2a7d35e0c9b1",
  key_prefix: "sk_live_zIc8",
  name: "prod-splunk",
  canary_id: "0f3c9b1e-8a43-4c55-9f61-2a7d35e0c9b1",
  address: "203.0.113.9",
  state: "revoked",
  threshold_percent: 80,
  days_left: 7,
  method: "totp",
  change: "added",
  by: "owner",
};

describe("describeAlert", () => {
  it.each(Object.keys(EVENT_LABELS))("gives %s a sentence and the page it concerns", (type) => {
    const { title, to } = describeAlert({ type, data: sample });
    expect(title).not.toBe(type);
    expect(title).not.toMatch(/undefined|\(\)/);
    // Every subscribable event links somewhere more precise than the activity log.
    expect(to).not.toBe("/activity");
  });

  it("names the factor and the change of a second-factor event", () => {
    expect(
      describeAlert({
        type: "account.second_factor_changed",
        data: { method: "passkey", change: "removed" },
      }).title,
    ).toBe("Passkey removed");
    expect(
      describeAlert({
        type: "account.second_factor_changed",
        data: { method: "all", change: "reset_by_operator" },
      }).title,
    ).toBe("Every second factor reset by an operator");
  });
});
