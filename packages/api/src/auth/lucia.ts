// The only module that imports Lucia (v3 is deprecated upstream): replacing it touches this file.
import { DrizzlePostgreSQLAdapter } from "@lucia-auth/adapter-drizzle";
import { sessions, users, type Database } from "@repo/db";
import { Lucia, TimeSpan } from "lucia";
import type { Tier } from "../config/tiers.js";

export interface LuciaOptions {
  cookieName: string;
  secureCookies: boolean;
  idleLifetimeSeconds: number;
}

export function createLucia(db: Database, options: LuciaOptions) {
  return new Lucia(new DrizzlePostgreSQLAdapter(db, sessions, users), {
    sessionExpiresIn: new TimeSpan(options.idleLifetimeSeconds, "s"),
    sessionCookie: {
      name: options.cookieName,
      expires: true,
      attributes: { secure: options.secureCookies, sameSite: "lax", path: "/" },
    },
    getSessionAttributes: (attributes) => ({ createdAt: attributes.createdAt }),
    // Only these columns leave the adapter: never the password hash.
    getUserAttributes: (attributes) => ({ email: attributes.email, tier: attributes.tier }),
  });
}

export type AuthLucia = ReturnType<typeof createLucia>;
export type { Session as LuciaSession, User as LuciaUser } from "lucia";

declare module "lucia" {
  interface Register {
    Lucia: AuthLucia;
    DatabaseSessionAttributes: { createdAt: Date };
    DatabaseUserAttributes: { email: string; tier: Tier };
  }
}
