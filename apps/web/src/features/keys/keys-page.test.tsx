import { screen, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { FREE_ALLOWANCE, keyItem, mockApi, renderWithApi } from "../../test/api.js";
import { KeysPage } from "./keys-page.js";

const NOW = new Date("2026-05-17T12:00:00Z");
const DAY = 86_400_000;
const iso = (offsetMs: number) => new Date(NOW.getTime() + offsetMs).toISOString();

const KEYS = [
  keyItem({
    id: "00000000-0000-4000-8000-000000000001",
    name: "prod-splunk-2026q2",
    key_prefix: "sk_live_aaaa",
    last_used_at: iso(-3 * 60_000),
    expires_at: iso(12 * DAY),
    total_requests: 142587,
  }),
  keyItem({
    id: "00000000-0000-4000-8000-000000000002",
    name: "partner-acme",
    key_prefix: "sk_live_bbbb",
    expires_at: iso(3 * DAY),
  }),
  keyItem({
    id: "00000000-0000-4000-8000-000000000003",
    name: "old-ci",
    key_prefix: "sk_live_cccc",
    expires_at: iso(-DAY),
  }),
  keyItem({
    id: "00000000-0000-4000-8000-000000000004",
    name: "leaked-laptop",
    key_prefix: "sk_live_dddd",
    revoked_at: iso(-2 * DAY),
  }),
];

function row(name: string) {
  return screen.getByRole("row", { name: new RegExp(name) });
}

describe("KeysPage", () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: NOW, toFake: ["Date"] });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("lists every key with prefix, status, usage and times", async () => {
    mockApi({
      "keys.list": () => ({ data: KEYS, meta: { total: KEYS.length } }),
      "keys.allowance": () => ({ ...FREE_ALLOWANCE, active_keys: 2 }),
    });
    renderWithApi(<KeysPage />);
    await screen.findByRole("table");

    expect(screen.getByTestId("allowance").textContent).toContain("2 of 3 active keys");

    const prod = row("prod-splunk-2026q2");
    expect(within(prod).getByText("sk_live_aaaa").tagName).toBe("CODE");
    expect(within(prod).getByText("Active")).toBeTruthy();
    expect(within(prod).getByText("142,587")).toBeTruthy();
    const lastUsed = within(prod).getByText("3 minutes ago");
    expect(lastUsed.tagName).toBe("TIME");
    expect(lastUsed.getAttribute("title")).toMatch(/May 17, 2026/);
    expect(within(prod).getByText("in 12 days").closest(".expiring")).toBeNull();

    // Under 7 days left: highlighted, and said in words too.
    const partner = row("partner-acme");
    expect(within(partner).getByText("in 3 days").closest(".expiring")).not.toBeNull();
    expect(within(partner).getByText("(expires soon)")).toBeTruthy();

    expect(within(row("old-ci")).getByText("Expired")).toBeTruthy();
    const revoked = row("leaked-laptop");
    expect(within(revoked).getByText("Revoked")).toBeTruthy();
    expect(within(revoked).queryByRole("button", { name: /Revoke/ })).toBeNull();
    expect(within(prod).getByRole("button", { name: "Revoke prod-splunk-2026q2" })).toBeTruthy();

    // Within the table: the status filter's options carry the same words.
    const statuses = within(screen.getByRole("table"))
      .getAllByText(/^(Active|Expired|Revoked)$/)
      .map((el) => el.closest("[data-status]")?.getAttribute("data-status"));
    expect(statuses).toEqual(["active", "active", "expired", "revoked"]);
  });

  it("explains what a key is for when there is none, and offers to create one", async () => {
    mockApi({
      "keys.list": () => ({ data: [], meta: { total: 0 } }),
      "keys.allowance": () => ({ ...FREE_ALLOWANCE, active_keys: 0 }),
    });
    vi.useRealTimers();
    const user = userEvent.setup();
    renderWithApi(<KeysPage />);
    const empty = await screen.findByRole("region", { name: "Create your first API key" });
    expect(empty.textContent).toContain("SIEM");
    await user.click(within(empty).getByRole("button", { name: "Create your first key" }));
    expect(screen.getByRole("dialog", { name: "Create API key" })).toBeTruthy();
  });

  it("revokes after a confirmation naming the key, with the reason, and updates the row", async () => {
    let revoked = false;
    const calls = mockApi({
      "keys.list": () => ({
        data: [{ ...KEYS[0]!, revoked_at: revoked ? iso(0) : null }],
        meta: { total: 1 },
      }),
      "keys.allowance": () => FREE_ALLOWANCE,
      "keys.revoke": () => {
        revoked = true;
        return { success: true, message: "API key revoked successfully" };
      },
      "audit.list": () => ({ events: [], next_cursor: null }),
    });
    vi.useRealTimers();
    const user = userEvent.setup();
    renderWithApi(<KeysPage />);
    await user.click(await screen.findByRole("button", { name: "Revoke prod-splunk-2026q2" }));

    const dialog = screen.getByRole("dialog", { name: "Revoke “prod-splunk-2026q2”?" });
    expect(dialog.textContent).toContain("sk_live_aaaa");
    expect(dialog.textContent).toContain("This cannot be undone.");
    expect(document.activeElement).toBe(within(dialog).getByLabelText(/Reason/));
    await user.type(within(dialog).getByLabelText(/Reason/), "  Rotated after migration ");
    await user.click(within(dialog).getByRole("button", { name: "Revoke key" }));

    expect(await within(row("prod-splunk-2026q2")).findByText("Revoked")).toBeTruthy();
    expect(screen.queryByRole("dialog")).toBeNull();
    expect(calls.find((call) => call.path === "keys.revoke")?.input).toEqual({
      id: KEYS[0]!.id,
      reason: "Rotated after migration",
    });
  });
});
