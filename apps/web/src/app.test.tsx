import { screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { beforeEach, describe, expect, it } from "vitest";
import { App } from "./app.js";
import { setSessionNotice } from "./lib/session.js";
import { ApiFailure, FREE_ALLOWANCE, mockApi, renderWithApi } from "./test/api.js";

const USER = { id: "u1", email: "analyst@soc.example", tier: "free" };

describe("App", () => {
  beforeEach(() => {
    window.history.replaceState(null, "", "/");
    setSessionNotice(null);
  });

  it("shows the sign-in page to visitors", async () => {
    mockApi({ "auth.me": () => ({ user: null }) });
    renderWithApi(<App />);
    expect(await screen.findByRole("heading", { name: "Threat Intel API keys" })).toBeTruthy();
    expect(screen.getByLabelText("Email")).toBeTruthy();
  });

  it("signs in and shows the keys", async () => {
    let signedIn = false;
    mockApi({
      "auth.me": () => ({ user: signedIn ? USER : null }),
      "auth.signIn": () => {
        signedIn = true;
        return { user: USER };
      },
      "keys.list": () => ({ data: [], meta: { total: 0 } }),
      "keys.allowance": () => FREE_ALLOWANCE,
    });
    const user = userEvent.setup();
    renderWithApi(<App />);
    await user.type(await screen.findByLabelText("Email"), USER.email);
    await user.type(screen.getByLabelText("Password"), "correct horse battery staple");
    await user.click(screen.getByRole("button", { name: "Sign in" }));
    expect(await screen.findByRole("heading", { level: 1, name: "API keys" })).toBeTruthy();
    expect(screen.getByText(USER.email)).toBeTruthy();
  });

  it("returns to sign-in with an explanation when the session has ended", async () => {
    let sessionAlive = true;
    mockApi({
      "auth.me": () => ({ user: sessionAlive ? USER : null }),
      "keys.list": () => ({ data: [], meta: { total: 0 } }),
      "keys.allowance": () => FREE_ALLOWANCE,
      "audit.list": () => {
        throw new ApiFailure("not_authenticated", "Sign in to continue.", null, 401);
      },
    });
    const user = userEvent.setup();
    renderWithApi(<App />);
    await screen.findByRole("heading", { level: 1, name: "API keys" });
    sessionAlive = false;
    await user.click(screen.getByRole("link", { name: "Activity" }));
    expect(
      await screen.findByText("Your session has ended. Sign in again to continue."),
    ).toBeTruthy();
    expect(screen.getByLabelText("Email")).toBeTruthy();
    expect(screen.queryByRole("heading", { name: "Activity" })).toBeNull();
  });

  it("notices a session that ended while the tab was in the background", async () => {
    let sessionAlive = true;
    mockApi({
      "auth.me": () => ({ user: sessionAlive ? USER : null }),
      "keys.list": () => ({ data: [], meta: { total: 0 } }),
      "keys.allowance": () => FREE_ALLOWANCE,
    });
    const { queryClient } = renderWithApi(<App />);
    await screen.findByRole("heading", { level: 1, name: "API keys" });
    sessionAlive = false;
    await queryClient.refetchQueries();
    expect(
      await screen.findByText("Your session has ended. Sign in again to continue."),
    ).toBeTruthy();
  });

  it("signs out", async () => {
    mockApi({
      "auth.me": () => ({ user: USER }),
      "auth.signOut": () => ({ signedOut: true }),
      "keys.list": () => ({ data: [], meta: { total: 0 } }),
      "keys.allowance": () => FREE_ALLOWANCE,
    });
    const user = userEvent.setup();
    renderWithApi(<App />);
    await user.click(await screen.findByRole("button", { name: "Sign out" }));
    expect(await screen.findByText("You have signed out.")).toBeTruthy();
  });
});
