import { parseArgs } from "node:util";
import { ApiError, TIER_NAMES, createUser, isTier, listUsers, setUserTier } from "@repo/api";
import { describeError } from "@repo/db";
import { openConfiguredDatabase } from "./database.js";
import { ConfigError, loadEnv } from "./env.js";

const USAGE = `Operator commands for accounts (same database as the server: DATABASE_URL or DATA_DIR).

  npm run users -- create --email E --password P [--tier free|pro]
  npm run users -- set-tier --email E --tier free|pro
  npm run users -- list

With the embedded database, stop the server first: PGlite allows one process at a time.`;

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
  if (!["create", "set-tier", "list"].includes(command)) {
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
  if (command === "set-tier" && !tier) throw new UsageError("--tier is required");

  const database = await openConfiguredDatabase(loadEnv());
  try {
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
    if (error instanceof ApiError || error instanceof ConfigError) {
      process.stderr.write(`error: ${error.message}\n`);
      process.exit(1);
    }
    process.stderr.write(`error: ${JSON.stringify(describeError(error))}\n`);
    process.exit(1);
  },
);
