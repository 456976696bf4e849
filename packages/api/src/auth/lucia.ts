// The only module that imports Lucia (v3 is deprecated upstream): replacing it touches this file.
import { DrizzlePostgreSQLAdapter } from "@lucia-auth/adapter-drizzle";
import { and, eq, isNull, sessions, sql, users, type Database } from "@repo/db";
import { Lucia, TimeSpan, type DatabaseSession, type DatabaseUser } from "lucia";
import type { Tier } from "@repo/core";

export interface LuciaOptions {
  cookieName: string;
  secureCookies: boolean;
  idleLifetimeSeconds: number;
}

/**
 * The drizzle adapter, with the per-request lookup replaced by one prepared query that reads
 * only what a session needs: the password hash never leaves the database on a page load, and
 * the query is not rebuilt on every request.
 */
class SessionAdapter extends DrizzlePostgreSQLAdapter {
  private readonly lookup;

  constructor(db: Database) {
    super(db, sessions, users);
    this.lookup = db
      .select({
        id: sessions.id,
        userId: sessions.userId,
        expiresAt: sessions.expiresAt,
        createdAt: sessions.createdAt,
        lastSeenAt: sessions.lastSeenAt,
        authenticatedAt: sessions.authenticatedAt,
        email: users.email,
        tier: users.tier,
      })
      .from(sessions)
      .innerJoin(users, eq(sessions.userId, users.id))
      // A disabled account's sessions are deleted when it is disabled; this is the backstop.
      .where(and(eq(sessions.id, sql.placeholder("id")), isNull(users.disabledAt)))
      .prepare("session_and_user");
  }

  override async getSessionAndUser(
    sessionId: string,
  ): Promise<[DatabaseSession | null, DatabaseUser | null]> {
    const [row] = await this.lookup.execute({ id: sessionId });
    if (!row) return [null, null];
    return [
      {
        id: row.id,
        userId: row.userId,
        expiresAt: row.expiresAt,
        attributes: {
          createdAt: row.createdAt,
          lastSeenAt: row.lastSeenAt,
          authenticatedAt: row.authenticatedAt,
        },
      },
      { id: row.userId, attributes: { email: row.email, tier: row.tier } },
    ];
  }
}

export function createLucia(db: Database, options: LuciaOptions) {
  return new Lucia(new SessionAdapter(db), {
    sessionExpiresIn: new TimeSpan(options.idleLifetimeSeconds, "s"),
    sessionCookie: {
      name: options.cookieName,
      expires: true,
      attributes: { secure: options.secureCookies, sameSite: "lax", path: "/" },
    },
    getSessionAttributes: (attributes) => ({
      createdAt: attributes.createdAt,
      lastSeenAt: attributes.lastSeenAt,
      authenticatedAt: attributes.authenticatedAt,
    }),
    // Only these columns leave the adapter: never the password hash.
    getUserAttributes: (attributes) => ({ email: attributes.email, tier: attributes.tier }),
  });
}

export type AuthLucia = ReturnType<typeof createLucia>;
export type { Session as LuciaSession, User as LuciaUser } from "lucia";

declare module "lucia" {
  interface Register {
    Lucia: AuthLucia;
    DatabaseSessionAttributes: {
      createdAt: Date;
      lastSeenAt: Date;
      authenticatedAt: Date;
      ip?: string | null;
      userAgent?: string | null;
    };
    DatabaseUserAttributes: { email: string; tier: Tier };
  }
}
