import { createHash, randomBytes } from "node:crypto";
import type { Database } from "@repo/db";
import { createLucia, type AuthLucia } from "./lucia.js";

export interface SessionPolicy {
  cookieName: string;
  secureCookies: boolean;
  /** A session not used for this long expires (Lucia extends it while it is used). */
  idleLifetimeSeconds: number;
  /** No session lives longer than this from sign-in, however active. */
  absoluteLifetimeSeconds: number;
}

export interface SignedInUser {
  id: string;
  email: string;
  tier: "free" | "pro";
}

export interface ValidatedSession {
  user: SignedInUser;
  /** Session row id (the token's hash). */
  sessionId: string;
  /** Set-Cookie to send when Lucia extended the session. */
  refreshedCookie: string | undefined;
}

export type SessionManager = ReturnType<typeof createSessionManager>;

/**
 * Sessions on top of Lucia, with two additions: the cookie carries a random token whose
 * SHA-256 is the stored session id, and an absolute lifetime counted from sign-in.
 */
export function createSessionManager(db: Database, policy: SessionPolicy, now: () => Date) {
  const lucia: AuthLucia = createLucia(db, policy);

  const hashToken = (token: string) => createHash("sha256").update(token).digest("hex");

  return {
    cookieName: policy.cookieName,

    /** Starts a session for a user who just proved who they are. Returns the Set-Cookie. */
    async create(userId: string): Promise<{ sessionId: string; cookie: string }> {
      const token = randomBytes(32).toString("base64url");
      const session = await lucia.createSession(
        userId,
        { createdAt: now() },
        { sessionId: hashToken(token) },
      );
      return { sessionId: session.id, cookie: lucia.createSessionCookie(token).serialize() };
    },

    /** Null for a missing, unknown, idle-expired or absolutely-expired session. */
    async validate(token: string | undefined): Promise<ValidatedSession | null> {
      // Tokens we issue are 43 base64url characters; anything else is not worth a query.
      if (!token || !/^[A-Za-z0-9_-]{43}$/.test(token)) return null;
      const { session, user } = await lucia.validateSession(hashToken(token));
      if (!session) return null;
      const ageSeconds = (now().getTime() - session.createdAt.getTime()) / 1000;
      if (ageSeconds >= policy.absoluteLifetimeSeconds) {
        await lucia.invalidateSession(session.id);
        return null;
      }
      return {
        user: { id: user.id, email: user.email, tier: user.tier },
        sessionId: session.id,
        refreshedCookie: session.fresh ? lucia.createSessionCookie(token).serialize() : undefined,
      };
    },

    async invalidate(sessionId: string): Promise<void> {
      await lucia.invalidateSession(sessionId);
    },

    async invalidateAllForUser(userId: string): Promise<void> {
      await lucia.invalidateUserSessions(userId);
    },

    /** Set-Cookie that removes the session cookie from the browser. */
    blankCookie(): string {
      return lucia.createBlankSessionCookie().serialize();
    },

    readToken(cookieHeader: string | undefined): string | undefined {
      return lucia.readSessionCookie(cookieHeader ?? "") ?? undefined;
    },
  };
}
