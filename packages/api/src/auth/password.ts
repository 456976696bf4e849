import { randomBytes } from "node:crypto";
import { hash, verify } from "@node-rs/argon2";
import pLimit from "p-limit";
import { ApiError } from "@repo/core";

/**
 * argon2id with the OWASP baseline (19 MiB, t=2, p=1). Each hash holds 19 MiB for ~50 ms,
 * so concurrent hashes are capped, and so is the queue behind them: during a sign-in flood
 * the excess is told to retry (503 + Retry-After) at once instead of every sign-in waiting
 * seconds behind the flood.
 */
const ARGON2_OPTIONS = { memoryCost: 19_456, timeCost: 2, parallelism: 1, outputLen: 32 };
const hashing = pLimit(4);
export const HASH_QUEUE_LIMIT = 16;

function boundedHashing<T>(work: () => Promise<T>): Promise<T> {
  if (hashing.pendingCount >= HASH_QUEUE_LIMIT) {
    return Promise.reject(
      new ApiError("service_unavailable", {
        message: "Too many sign-ins are being processed right now. Retry in a moment.",
        headers: { "retry-after": "1" },
      }),
    );
  }
  return hashing(work);
}

export const PASSWORD_MIN_LENGTH = 8;
export const PASSWORD_MAX_LENGTH = 256;

export function hashPassword(password: string): Promise<string> {
  return boundedHashing(() => hash(password, ARGON2_OPTIONS));
}

export async function verifyPassword(passwordHash: string, password: string): Promise<boolean> {
  return boundedHashing(async () => {
    try {
      return await verify(passwordHash, password);
    } catch {
      return false;
    }
  });
}

let dummyHash: Promise<string> | undefined;

/**
 * Burns the same time as a real verification, for sign-ins on unknown emails, so response
 * timing does not reveal which emails have accounts.
 */
export async function verifyAgainstDummy(password: string): Promise<false> {
  dummyHash ??= hashPassword(randomBytes(16).toString("hex"));
  await verifyPassword(await dummyHash, password);
  return false;
}
