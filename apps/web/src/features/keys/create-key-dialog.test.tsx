import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it, vi } from "vitest";
import { ApiFailure, FREE_ALLOWANCE, keyItem, mockApi, renderWithApi } from "../../test/api.js";
import { CreateKeyDialog } from "./create-key-dialog.js";

const SECRET = "sk_live_zIc8AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
const WARNING = "Store this API key securely. It will not be shown again.";

function created(name: string, nameHint?: string) {
  return {
    data: {
      ...keyItem({ name }),
      key_preview: "sk_live_zIc8••••••••",
      rate_limit_per_minute: 10,
      rate_limit_per_day: 1000,
      allowed_ips: null,
      key: SECRET,
      full_key: SECRET,
    },
    meta: { warning: WARNING, ...(nameHint ? { name_hint: nameHint } : {}) },
  };
}

function setup(create: (input: unknown) => unknown, existing: unknown[] = []) {
  const all = mockApi({ "keys.create": create, "keys.list": () => ({ data: existing }) });
  // The form reads the key list (same-name warning): only the create calls matter here.
  const calls = {
    get made() {
      return all.filter((call) => call.path === "keys.create");
    },
  };
  const onClose = vi.fn();
  const user = userEvent.setup();
  renderWithApi(<CreateKeyDialog allowance={FREE_ALLOWANCE} onClose={onClose} />);
  return { calls, onClose, user };
}

describe("CreateKeyDialog", () => {
  it("shows validation errors next to their fields without calling the server", async () => {
    const { calls, user } = setup(() => created("x"));
    await user.click(screen.getByRole("checkbox", { name: "read:iocs" }));
    await user.click(screen.getByRole("checkbox", { name: "read:articles" }));
    await user.click(screen.getByRole("radio", { name: "Custom" }));
    await user.type(screen.getByLabelText(/Days until expiry/), "400");
    await user.click(screen.getByRole("button", { name: "Create key" }));

    const name = screen.getByLabelText("Name");
    expect(name.getAttribute("aria-invalid")).toBe("true");
    expect(name.getAttribute("aria-describedby")).toContain(
      screen.getByText("Give the key a name.").id,
    );
    expect(screen.getByText("Enter a whole number of days from 1 to 365.")).toBeTruthy();
    expect(screen.getByText("Choose at least one scope.")).toBeTruthy();
    expect(document.activeElement).toBe(name);
    expect(calls.made).toEqual([]);
  });

  it("warns while the name is that of another active key, not of a revoked one", async () => {
    const { user } = setup(
      () => created("x"),
      [
        keyItem({ name: "prod-splunk", key_prefix: "sk_live_Ab12" }),
        keyItem({ name: "old-sentinel", revoked_at: "2026-02-01T00:00:00Z" }),
      ],
    );
    const name = screen.getByLabelText("Name");
    await user.type(name, "  Prod-Splunk ");
    const warning = await screen.findByText(/An active key is already called “prod-splunk”/);
    expect(warning.textContent).toContain("sk_live_Ab12…");
    expect(name.getAttribute("aria-describedby")).toContain(warning.id);
    await user.clear(name);
    await user.type(name, "old-sentinel");
    expect(screen.queryByText(/An active key is already called/)).toBeNull();
  });

  it("creates the key and shows it once, copyable, until the user confirms storing it", async () => {
    const { calls, onClose, user } = setup(() => created("prod-splunk-2026q2"));
    const writeText = vi.fn().mockResolvedValue(undefined);
    Object.defineProperty(navigator, "clipboard", { value: { writeText }, configurable: true });
    Object.defineProperty(window, "isSecureContext", { value: true, configurable: true });

    await user.type(screen.getByLabelText("Name"), "prod-splunk-2026q2");
    await user.click(screen.getByRole("radio", { name: "30 days" }));
    await user.click(screen.getByRole("checkbox", { name: "read:articles" }));
    await user.type(screen.getByLabelText(/Allowed IP addresses/), "203.0.113.7{enter}10.0.0.0/8");
    await user.click(screen.getByRole("button", { name: "Create key" }));

    const dialog = await screen.findByRole("dialog", { name: "Your new API key" });
    expect(calls.made).toEqual([
      {
        path: "keys.create",
        input: {
          name: "prod-splunk-2026q2",
          expires_in_days: 30,
          scopes: ["read:iocs"],
          allowed_ips: ["203.0.113.7", "10.0.0.0/8"],
        },
      },
    ]);
    expect(within(dialog).getByRole<HTMLInputElement>("textbox").value).toBe(SECRET);
    expect(dialog.textContent).toContain(WARNING);

    await user.click(within(dialog).getByRole("button", { name: "Copy key" }));
    expect(writeText).toHaveBeenCalledWith(SECRET);
    expect(within(dialog).getByRole("button", { name: "✓ Copied" })).toBeTruthy();
    expect(within(dialog).getByText("Copied to the clipboard.")).toBeTruthy();

    const done = within(dialog).getByRole<HTMLButtonElement>("button", { name: "Done" });
    expect(done.disabled).toBe(true);
    expect(within(dialog).queryByRole("button", { name: "Close" })).toBeNull();
    await user.click(within(dialog).getByRole("checkbox", { name: /I have stored this key/ }));
    await user.click(done);
    expect(onClose).toHaveBeenCalledOnce();
  });

  it("explains the naming convention when the name is weak", async () => {
    const hint = 'Descriptive names keep audit trails useful, e.g. "prod-splunk-2026q2".';
    const { user } = setup(() => created("key1", hint));
    await user.type(screen.getByLabelText("Name"), "key1");
    await user.click(screen.getByRole("button", { name: "Create key" }));
    const dialog = await screen.findByRole("dialog", { name: "Your new API key" });
    expect(dialog.textContent).toContain(hint);
  });

  it("puts the server's field errors next to the field", async () => {
    const { user } = setup(() => {
      throw new ApiFailure("validation_error", "The request is invalid.", {
        field: "allowed_ips.0",
        issues: [{ field: "allowed_ips.0", message: '"nope" is not an IP address or CIDR range.' }],
      });
    });
    await user.type(screen.getByLabelText("Name"), "prod-splunk-2026q2");
    await user.type(screen.getByLabelText(/Allowed IP addresses/), "nope");
    await user.click(screen.getByRole("button", { name: "Create key" }));
    const message = await screen.findByText('"nope" is not an IP address or CIDR range.');
    expect(
      screen.getByLabelText(/Allowed IP addresses/).getAttribute("aria-describedby"),
    ).toContain(message.id);
    expect(screen.queryByRole("alert")).toBeNull();
  });

  it("says what to do when the tier's key limit is reached, never showing raw JSON", async () => {
    const { user } = setup(() => {
      throw new ApiFailure(
        "key_limit_reached",
        "Your free tier allows 3 active keys. Revoke a key you no longer use, or upgrade.",
        { tier: "free", limit: 3, active: 3 },
        403,
      );
    });
    await user.type(screen.getByLabelText("Name"), "ci-github-actions");
    await user.click(screen.getByRole("button", { name: "Create key" }));
    const alert = await screen.findByRole("alert");
    expect(alert.textContent).toContain("Your free tier allows 3 active keys.");
    expect(alert.textContent).toContain("Revoke a key you no longer use");
    expect(alert.textContent).not.toContain("{");
    // The form stays, so nothing typed is lost.
    expect(screen.getByLabelText<HTMLInputElement>("Name").value).toBe("ci-github-actions");
  });

  it("shows that it is working while the request is in flight", async () => {
    let release: (value: unknown) => void = () => {};
    const { user } = setup(() => new Promise((resolve) => (release = resolve)));
    await user.type(screen.getByLabelText("Name"), "prod-splunk-2026q2");
    await user.click(screen.getByRole("button", { name: "Create key" }));
    const pending = await screen.findByRole<HTMLButtonElement>("button", { name: /Creating/ });
    expect(pending.disabled).toBe(true);
    expect(screen.getByRole<HTMLButtonElement>("button", { name: "Close" }).disabled).toBe(true);
    release(created("prod-splunk-2026q2"));
    await waitFor(() =>
      expect(screen.getByRole("dialog", { name: "Your new API key" })).toBeTruthy(),
    );
  });
});
