import { randomBytes } from "node:crypto";
import { asc, eq, sql, users, type Database, type Executor } from "@repo/db";
import type { Tier } from "@repo/core";
import { ApiError } from "@repo/core";
import { hashPassword } from "../auth/password.js";
import { recordAudit } from "./audit-log.js";
import { applyTierToActiveKeys } from "./key-service.js";

export function normalizeEmail(email: string): string {
  return email.trim().toLowerCase();
}

export async function findUserByEmail(db: Executor, email: string) {
  const [user] = await db
    .select()
    .from(users)
    .where(eq(sql`lower(${users.email})`, normalizeEmail(email)))
    .limit(1);
  return user;
}

/** Creates an account; `email_taken` when the email exists in any letter case. */
export async function createUser(
  db: Executor,
  input: { email: string; password: string; tier?: Tier },
) {
  const passwordHash = await hashPassword(input.password);
  const [user] = await db
    .insert(users)
    .values({
      id: randomBytes(15).toString("base64url"),
      email: normalizeEmail(input.email),
      passwordHash,
      tier: input.tier ?? "free",
    })
    .onConflictDoNothing()
    .returning({ id: users.id, email: users.email, tier: users.tier, createdAt: users.createdAt });
  if (!user) throw new ApiError("email_taken");
  return user;
}

export async function listUsers(db: Database) {
  return db
    .select({ id: users.id, email: users.email, tier: users.tier, createdAt: users.createdAt })
    .from(users)
    .orderBy(asc(users.createdAt));
}

/**
 * Changes an account's tier (operator action). Keys keep the tier they were minted with,
 * except that a downgrade cuts active keys above the new tier down to it.
 */
export async function setUserTier(db: Database, email: string, tier: Tier) {
  return db.transaction(async (tx) => {
    const [user] = await tx
      .select({ id: users.id, email: users.email, tier: users.tier })
      .from(users)
      .where(eq(sql`lower(${users.email})`, normalizeEmail(email)))
      .for("update");
    if (!user) throw new ApiError("not_found", { message: `No account with email ${email}.` });
    await tx.update(users).set({ tier }).where(eq(users.id, user.id));
    if (user.tier !== tier) {
      await recordAudit(tx, {
        userId: user.id,
        action: "account.tier_changed",
        details: { from: user.tier, to: tier },
      });
    }
    const keysDowngraded = await applyTierToActiveKeys(tx, user.id, tier);
    return { email: user.email, previousTier: user.tier, tier, keysDowngraded };
  });
}
