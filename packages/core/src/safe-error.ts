import { describeError } from "@repo/db";

/**
 * What the data plane logs about an error: class and codes only. Driver and ORM messages
 * can carry SQL and its parameters (key hashes, key ids), so no message is ever logged here.
 */
export function safeError(error: unknown): Record<string, string> {
  const safe = describeError(error);
  delete safe.message;
  return safe;
}
