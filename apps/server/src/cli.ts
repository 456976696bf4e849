import { parseArgs } from "node:util";
import {
  createUser,
  issuePasswordReset,
  listUsers,
  passwordWeakness,
  resetSecondFactors,
  revokeSessions,
  setAccountDisabled,
  setUserTier,
} from "@repo/api";
import { ApiError, TIER_NAMES, isTier } from "@repo/core";
import { openConfiguredDatabase } from "./database.js";
import { loadEnv } from "./env.js";
import { startupFailure } from "./startup-failure.js";

const USAGE = `Operator commands for accounts (same database as the server: DATABASE_URL or DATA_DIR).

  npm run users -- create --email E --password P [--tier free|pro]
  npm run users -- set-tier --email E --tier free|pro
  npm run users -- list
  npm run users -- reset-password --email E    prints a one-time link to choose a new password (valid 1 hour)
  npm run users -- revoke-sessions --email E   signs the account out everywhere
  npm run users -- reset-mfa --email E         removes the authenticator app, recovery codes and passkeys
  npm run users -- disable --email E           no sign-in by any means; every session ends
  npm run users -- enable --email E

A disabled account's API keys keep working (SIEM feeds depend on them); revoke them in the
dashboard or REST API as well if they may be compromised. Every command is audited.

With the embedded database (no DATABASE_URL), stop the server first: one process at a time
may open DATA_DIR, and a command run while the server holds it is refused without touching it.`;

class UsageError extends Error {}

function required(values: Record<string, string | undefined>, name: string): string {
  const value = values[name];
  if (!value) throw new UsageError(`--${name} is required`);
  return value;
}

function tierOption(value: string | undefined) {
  if (value === undefined) return undefined;
  if (!isTier(value)) throw new UsageError(`--tier must be one of: ${TIER_NAMES.join(", ")}`);
  return value;
}

async function run(argv: string[]): Promise<string> {
  const [command, ...rest] = argv;
  if (!command || command === "help" || command === "--help") return USAGE;
  const ACCOUNT_COMMANDS = ["reset-password", "revoke-sessions", "reset-mfa", "disable", "enable"];
  if (!["create", "set-tier", "list", ...ACCOUNT_COMMANDS].includes(command)) {
    throw new UsageError(`unknown command "${command}"`);
  }
  let values: Record<string, string | undefined>;
  try {
    ({ values } = parseArgs({
      args: rest,
      options: {
        email: { type: "string" },
        password: { type: "string" },
        tier: { type: "string" },
      },
      strict: true,
    }));
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }

  const email = command === "list" ? "" : required(values, "email");
  const tier = tierOption(values.tier);
  const password = command === "create" ? required(values, "password") : "";
  if (command === "create" && (password.length < 8 || password.length > 256)) {
    throw new UsageError("--password must be 8 to 256 characters");
  }
  const weakness = command === "create" ? passwordWeakness(password, email) : null;
  if (weakness) throw new UsageError(`--password: ${weakness}`);
  if (command === "set-tier" && !tier) throw new UsageError("--tier is required");

  const env = loadEnv();
  const database = await openConfiguredDatabase(env);
  try {
    switch (command) {
      case "reset-password": {
        const reset = await issuePasswordReset(database.db, email, env.publicUrl);
        return (
          `One-time password-reset link for ${reset.email} (valid until ${reset.expiresAt.toISOString()}):\n` +
          `${reset.link}\nHand it over privately; a new link voids this one.`
        );
      }
      case "revoke-sessions": {
        const result = await revokeSessions(database.db, email);
        return `${result.email}: ${result.ended} session(s) ended`;
      }
      case "reset-mfa": {
        const result = await resetSecondFactors(database.db, email);
        return `${result.email}: authenticator app and recovery codes removed, ${result.passkeysRemoved} passkey(s) removed`;
      }
      case "disable": {
        const result = await setAccountDisabled(database.db, email, true);
        return (
          `${result.email}: disabled, ${result.sessionsEnded} session(s) ended. ` +
          "Its API keys keep working; revoke them too if they may be compromised."
        );
      }
      case "enable": {
        const result = await setAccountDisabled(database.db, email, false);
        return `${result.email}: enabled`;
      }
    }
    if (command === "create") {
      const user = await createUser(database.db, { email, password, tier: tier ?? "free" });
      return `created ${user.email} (tier ${user.tier}, id ${user.id})`;
    }
    if (command === "set-tier") {
      const result = await setUserTier(database.db, email, tier!);
      return (
        `${result.email}: tier ${result.previousTier} -> ${result.tier}` +
        (result.keysDowngraded
          ? ` (${result.keysDowngraded} active keys cut to ${result.tier})`
          : "")
      );
    }
    const users = await listUsers(database.db);
    if (users.length === 0) return "no users";
    return users
      .map((u) => `${u.email.padEnd(40)} ${u.tier.padEnd(5)} ${u.createdAt.toISOString()}`)
      .join("\n");
  } finally {
    await database.close();
  }
}

run(process.argv.slice(2)).then(
  (output) => {
    process.stdout.write(`${output}\n`);
  },
  (error: unknown) => {
    if (error instanceof UsageError) {
      process.stderr.write(`error: ${error.message}\n\n${USAGE}\n`);
      process.exit(2);
    }
    if (error instanceof ApiError) {
      process.stderr.write(`error: ${error.message}\n`);
      process.exit(1);
    }
    process.stderr.write(`error: ${startupFailure(error)}\n`);
    process.exit(1);
  },
);
