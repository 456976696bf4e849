import { createHash, randomBytes } from "node:crypto";
import { and, eq, lt, ne, sessions, type Database } from "@repo/db";
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
  /** When the holder last proved who they are (sign-in or re-authentication). */
  authenticatedAt: Date;
  /** Set-Cookie to send when Lucia extended the session. */
  refreshedCookie: string | undefined;
}

const LAST_SEEN_RESOLUTION_MS = 60_000;

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
    async create(
      userId: string,
      origin: { ip: string; userAgent: string | undefined },
    ): Promise<{ sessionId: string; cookie: string }> {
      const token = randomBytes(32).toString("base64url");
      const at = now();
      const session = await lucia.createSession(
        userId,
        {
          createdAt: at,
          lastSeenAt: at,
          authenticatedAt: at,
          ip: origin.ip,
          // User agents are attacker-controlled: keep them bounded.
          userAgent: origin.userAgent?.slice(0, 512) ?? null,
        },
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
      const at = now();
      const ageSeconds = (at.getTime() - session.createdAt.getTime()) / 1000;
      if (ageSeconds >= policy.absoluteLifetimeSeconds) {
        await lucia.invalidateSession(session.id);
        return null;
      }
      // "Last seen" for the Security page, written at most once a minute per session.
      if (at.getTime() - session.lastSeenAt.getTime() >= LAST_SEEN_RESOLUTION_MS) {
        await db.update(sessions).set({ lastSeenAt: at }).where(eq(sessions.id, session.id));
      }
      return {
        user: { id: user.id, email: user.email, tier: user.tier },
        sessionId: session.id,
        authenticatedAt: session.authenticatedAt,
        refreshedCookie: session.fresh ? lucia.createSessionCookie(token).serialize() : undefined,
      };
    },

    async invalidate(sessionId: string): Promise<void> {
      await lucia.invalidateSession(sessionId);
    },

    async invalidateAllForUser(userId: string): Promise<void> {
      await lucia.invalidateUserSessions(userId);
    },

    /** Ends every session of the user except `keepSessionId`; returns how many ended. */
    async invalidateOthers(userId: string, keepSessionId: string): Promise<number> {
      const ended = await db
        .delete(sessions)
        .where(and(eq(sessions.userId, userId), ne(sessions.id, keepSessionId)))
        .returning({ id: sessions.id });
      return ended.length;
    },

    /** Sudo mode: the holder just proved who they are again. */
    async markAuthenticated(sessionId: string): Promise<void> {
      await db.update(sessions).set({ authenticatedAt: now() }).where(eq(sessions.id, sessionId));
    },

    /** Deletes sessions past their idle expiry (housekeeping; validation already refuses them). */
    async deleteExpired(): Promise<void> {
      await db.delete(sessions).where(lt(sessions.expiresAt, now()));
    },

    /**
     * The short-lived cookie that binds a second-factor step (or a passkey ceremony) to the
     * browser that passed the first step. `null` clears it.
     */
    challengeCookie(value: string | null, maxAgeSeconds = 300): string {
      return [
        `${policy.cookieName}-challenge=${value ?? ""}`,
        "Path=/trpc",
        `Max-Age=${value === null ? 0 : maxAgeSeconds}`,
        "HttpOnly",
        "SameSite=Lax",
        ...(policy.secureCookies ? ["Secure"] : []),
      ].join("; ");
    },

    readChallenge(cookieHeader: string | undefined): string | undefined {
      const name = `${policy.cookieName}-challenge=`;
      for (const part of (cookieHeader ?? "").split(";")) {
        const trimmed = part.trim();
        if (trimmed.startsWith(name)) {
          const value = trimmed.slice(name.length);
          return /^[A-Za-z0-9_-]{43}$/.test(value) ? value : undefined;
        }
      }
      return undefined;
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
