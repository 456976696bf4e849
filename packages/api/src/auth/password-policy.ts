import { dictionary } from "@zxcvbn-ts/language-common";
import { ApiError } from "@repo/core";

let common: ReadonlySet<string> | undefined;

/**
 * The ~49,000 most common passwords from breach corpora, as zxcvbn-ts ships them (a
 * maintained list, installed with the code: nothing is fetched at run time).
 */
function commonPasswords(): ReadonlySet<string> {
  common ??= new Set(dictionary["passwords-common"]);
  return common;
}

/** Why a new password is refused, in words for the person choosing it; null = acceptable. */
export function passwordWeakness(password: string, email: string): string | null {
  const lowered = password.toLowerCase();
  if (commonPasswords().has(lowered)) {
    return "This password is one of the most common passwords and is guessed first. Choose a longer passphrase.";
  }
  const localPart = email.split("@")[0]?.toLowerCase() ?? "";
  if (localPart.length >= 3 && lowered.includes(localPart)) {
    return "The password must not contain the first part of your email address.";
  }
  return null;
}

/** Throws `validation_error` naming `field` when the password would be refused. */
export function assertAcceptablePassword(password: string, email: string, field: string): void {
  const weakness = passwordWeakness(password, email);
  if (weakness) {
    throw new ApiError("validation_error", {
      message: weakness,
      details: { field, issues: [{ field, message: weakness }] },
    });
  }
}
