import { SignInPage } from "./features/auth/sign-in-page.js";
import { trpc } from "./lib/trpc.js";

export function App() {
  const utils = trpc.useUtils();
  const me = trpc.auth.me.useQuery();
  const signOut = trpc.auth.signOut.useMutation({
    onSettled: () => utils.invalidate(),
  });

  if (me.isPending) {
    return (
      <main className="center" aria-busy="true">
        <p>Loading…</p>
      </main>
    );
  }
  const user = me.data?.user;
  if (!user) return <SignInPage />;

  return (
    <>
      <header className="topbar">
        <span className="brand">Threat Intel · API keys</span>
        <span className="spacer" />
        <span className="muted">{user.email}</span>
        <button type="button" onClick={() => signOut.mutate()} disabled={signOut.isPending}>
          {signOut.isPending ? "Signing out…" : "Sign out"}
        </button>
      </header>
      <main className="page">
        <h1>Welcome, {user.email}</h1>
        <p className="muted">
          You are signed in on the <strong>{user.tier}</strong> tier.
        </p>
      </main>
    </>
  );
}
