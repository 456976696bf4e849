import { useQueryClient } from "@tanstack/react-query";
import { useEffect, useRef } from "react";
import { Toaster } from "./components/toaster.js";
import { ActivityPage } from "./features/activity/activity-page.js";
import { ResetPasswordPage } from "./features/account/reset-password-page.js";
import { SecurityPage } from "./features/account/security-page.js";
import { CanariesPage, CanaryPage } from "./features/alerts/canaries-page.js";
import { NotificationBell } from "./features/alerts/notification-bell.js";
import { WebhooksPage } from "./features/alerts/webhooks-page.js";
import { SignInPage } from "./features/auth/sign-in-page.js";
import { KeyDetailsPage } from "./features/keys/key-details-page.js";
import { KeysPage } from "./features/keys/keys-page.js";
import { PageHeading } from "./components/page.js";
import { Link, paths, useRoute, type Route } from "./lib/router.js";
import { getSessionNotice, setSessionNotice } from "./lib/session.js";
import { setSignedInUser, trpc, type User } from "./lib/trpc.js";

const TITLES: Record<Route["name"], string> = {
  keys: "API keys",
  key: "Key details",
  activity: "Activity",
  security: "Security",
  "reset-password": "Reset password",
  canaries: "Canary keys",
  canary: "Canary key",
  webhooks: "Alerts",
  "not-found": "Page not found",
};

export function App() {
  const me = trpc.auth.me.useQuery();
  const route = useRoute();
  const user = me.data?.user;

  // Signed in a moment ago, now not, and not by signing out here: the session ended elsewhere
  // (expiry noticed by a refetch of `auth.me`, sign-out in another tab).
  const previousUser = useRef(user);
  useEffect(() => {
    if (previousUser.current && !user && getSessionNotice() === null) setSessionNotice("expired");
    previousUser.current = user;
  }, [user]);

  useEffect(() => {
    document.title = `${user ? TITLES[route.name] : "Sign in"} · Threat Intel`;
  }, [route.name, user]);

  // A reset link works whether or not someone is signed in in this browser.
  if (route.name === "reset-password") return <ResetPasswordPage />;
  if (me.isPending) {
    return (
      <main className="center" aria-busy="true">
        <p className="muted">
          <span className="spinner" aria-hidden="true" /> Loading…
        </p>
      </main>
    );
  }
  if (!user) {
    return me.isError ? (
      <main className="center">
        <div className="alert error-alert" role="alert">
          <p className="alert-title">Could not reach the server.</p>
          <button type="button" onClick={() => void me.refetch()}>
            Try again
          </button>
        </div>
      </main>
    ) : (
      <SignInPage />
    );
  }

  return (
    <>
      <a href="#main" className="skip-link">
        Skip to content
      </a>
      <TopBar user={user} route={route} />
      <main id="main" className="page">
        <RouteView route={route} />
      </main>
      <Toaster />
    </>
  );
}

function RouteView({ route }: { route: Route }) {
  switch (route.name) {
    case "keys":
      return <KeysPage />;
    case "key":
      return <KeyDetailsPage key={route.id} id={route.id} />;
    case "activity":
      return <ActivityPage />;
    case "security":
      return <SecurityPage />;
    case "reset-password":
      return null;
    case "canaries":
      return <CanariesPage />;
    case "canary":
      return <CanaryPage key={route.id} id={route.id} />;
    case "webhooks":
      return <WebhooksPage />;
    case "not-found":
      return (
        <>
          <PageHeading title="Page not found" />
          <p>
            <Link to={paths.keys()}>Go to your API keys</Link>
          </p>
        </>
      );
  }
}

function TopBar({ user, route }: { user: User; route: Route }) {
  const queryClient = useQueryClient();
  const signOut = trpc.auth.signOut.useMutation({
    onSuccess: () => {
      setSessionNotice("signed-out");
      setSignedInUser(queryClient, null);
    },
  });
  const current = (name: Route["name"]) => (name === route.name ? "page" : undefined);
  return (
    <header className="topbar">
      <Link to={paths.keys()} className="brand">
        <span className="brand-mark" aria-hidden="true">
          ◆
        </span>
        Threat Intel <span className="brand-sub">API keys</span>
      </Link>
      <nav aria-label="Main">
        <ul>
          <li>
            <Link
              to={paths.keys()}
              aria-current={route.name === "key" ? "location" : current("keys")}
            >
              Keys
            </Link>
          </li>
          <li>
            <Link to={paths.activity()} aria-current={current("activity")}>
              Activity
            </Link>
          </li>
          <li>
            <Link
              to={paths.canaries()}
              aria-current={route.name === "canary" ? "location" : current("canaries")}
            >
              Canaries
            </Link>
          </li>
          <li>
            <Link to={paths.webhooks()} aria-current={current("webhooks")}>
              Alerts
            </Link>
          </li>
          <li>
            <Link to={paths.security()} aria-current={current("security")}>
              Security
            </Link>
          </li>
        </ul>
      </nav>
      <span className="spacer" />
      <NotificationBell />
      <span className="account">
        <span className="muted small" data-testid="account-email">
          {user.email}
        </span>
      </span>
      <button type="button" onClick={() => signOut.mutate()} disabled={signOut.isPending}>
        {signOut.isPending ? "Signing out…" : "Sign out"}
      </button>
    </header>
  );
}
