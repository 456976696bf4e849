import { screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it, vi } from "vitest";
import { ApiFailure, keyItem, mockApi, renderWithApi } from "../../test/api.js";
import { EditKeyAccessDialog } from "./edit-key-access-dialog.js";
import { accessValues, soonerChoices, toUpdateInput } from "./edit-key-access.js";

const KEY = {
  id: "00000000-0000-4000-8000-000000000123",
  scopes: ["read:iocs", "read:articles"],
  allowed_ips: ["203.0.113.7"],
  expires_at: "2026-06-03T12:00:00Z",
};
const NOW = new Date("2026-06-01T12:00:00Z");

describe("toUpdateInput", () => {
  it("sends only what changed, and nothing when nothing did", () => {
    expect(toUpdateInput(KEY, accessValues(KEY))).toEqual({ input: null });
    expect(
      toUpdateInput(KEY, {
        scopes: ["read:iocs"],
        allowedIps: "203.0.113.7",
        expiresInHours: null,
      }),
    ).toEqual({ input: { id: KEY.id, scopes: ["read:iocs"] } });
    expect(
      toUpdateInput(KEY, {
        scopes: KEY.scopes,
        allowedIps: " 10.0.0.0/8, 203.0.113.7 \n10.0.0.0/8",
        expiresInHours: 8,
      }),
    ).toEqual({
      input: { id: KEY.id, allowed_ips: ["10.0.0.0/8", "203.0.113.7"], expires_in_hours: 8 },
    });
  });

  it("clears the address list to any address, and refuses dropping every scope", () => {
    expect(toUpdateInput(KEY, { ...accessValues(KEY), allowedIps: "  " })).toEqual({
      input: { id: KEY.id, allowed_ips: null },
    });
    expect(toUpdateInput(KEY, { ...accessValues(KEY), scopes: [] })).toEqual({
      error: "Keep at least one scope.",
    });
  });

  it("offers only expiries sooner than the current one", () => {
    expect(soonerChoices(KEY, NOW).map((c) => c.hours)).toEqual([1, 8, 24]);
    expect(soonerChoices({ ...KEY, expires_at: null }, NOW)).toHaveLength(5);
  });
});

describe("EditKeyAccessDialog", () => {
  it("drops a scope and an address and makes the key expire sooner in one PATCH", async () => {
    const editable = { ...KEY, expires_at: null, allowed_ips: ["203.0.113.7", "10.0.0.0/8"] };
    const detail = keyItem(editable);
    const calls = mockApi({ "keys.update": () => ({ data: detail }) });
    const onClose = vi.fn();
    const user = userEvent.setup();
    renderWithApi(<EditKeyAccessDialog keyToEdit={editable} onClose={onClose} />);
    await user.click(screen.getByRole("checkbox", { name: "read:articles" }));
    const ips = screen.getByLabelText(/Allowed IP addresses/);
    await user.clear(ips);
    await user.type(ips, "10.0.0.0/8");
    await user.click(screen.getByRole("radio", { name: "In 24 hours" }));
    await user.click(screen.getByRole("button", { name: "Save changes" }));
    await vi.waitFor(() => expect(onClose).toHaveBeenCalled(), { timeout: 10_000 });
    expect(calls).toEqual([
      {
        path: "keys.update",
        input: {
          id: KEY.id,
          scopes: ["read:iocs"],
          allowed_ips: ["10.0.0.0/8"],
          expires_in_hours: 24,
        },
      },
    ]);
  });

  it("shows the server's refusal next to the addresses and keeps the dialog open", async () => {
    mockApi({
      "keys.update": () => {
        throw new ApiFailure("validation_error", "Enter IPv4/IPv6 addresses or CIDR ranges.", {
          field: "allowed_ips",
        });
      },
    });
    const onClose = vi.fn();
    const user = userEvent.setup();
    renderWithApi(<EditKeyAccessDialog keyToEdit={KEY} onClose={onClose} />);
    const ips = screen.getByLabelText(/Allowed IP addresses/);
    await user.type(ips, "\nnot-an-address");
    await user.click(screen.getByRole("button", { name: "Save changes" }));
    await screen.findByText("Enter IPv4/IPv6 addresses or CIDR ranges.");
    expect(ips.getAttribute("aria-invalid")).toBe("true");
    expect(onClose).not.toHaveBeenCalled();
  });
});
