import { hash, randomInt } from "node:crypto";

/**
 * API key format: `sk_live_` + 32 random base62 characters + 6 base62 characters of the
 * CRC32 of everything before them (46 characters). The checksum lets us, and secret
 * scanners, reject typos and garbage without touching the database; it is not a secret.
 */
export const KEY_PREFIX = "sk_live_";
const RANDOM_LENGTH = 32;
const CHECKSUM_LENGTH = 6;
export const KEY_LENGTH = KEY_PREFIX.length + RANDOM_LENGTH + CHECKSUM_LENGTH;
/** What is stored and shown for a key: `sk_live_` and the first 4 random characters. */
export const DISPLAY_PREFIX_LENGTH = 12;

const BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const KEY_PATTERN = /^sk_live_[0-9A-Za-z]{38}$/;

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

export function crc32(text: string): number {
  let crc = 0xffffffff;
  for (let i = 0; i < text.length; i++) {
    crc = CRC_TABLE[(crc ^ text.charCodeAt(i)) & 0xff]! ^ (crc >>> 8);
  }
  return (crc ^ 0xffffffff) >>> 0;
}

/** Fixed-width base62 (6 characters hold any 32-bit value: 62^6 > 2^32). */
function checksumOf(body: string): string {
  let value = crc32(body);
  let out = "";
  for (let i = 0; i < CHECKSUM_LENGTH; i++) {
    out = BASE62[value % 62]! + out;
    value = Math.floor(value / 62);
  }
  return out;
}

export interface GeneratedKey {
  key: string;
  prefix: string;
  hash: string;
}

export function hashKey(key: string): string {
  // One-shot hash: no Hash object per call (this runs on every data-plane request).
  return hash("sha256", key, "hex");
}

/** A new key; `randomInt` draws each character uniformly (no modulo bias). */
export function generateKey(): GeneratedKey {
  let random = "";
  for (let i = 0; i < RANDOM_LENGTH; i++) random += BASE62[randomInt(62)];
  const body = KEY_PREFIX + random;
  const key = body + checksumOf(body);
  return { key, prefix: key.slice(0, DISPLAY_PREFIX_LENGTH), hash: hashKey(key) };
}

/** Prefix, length, alphabet and checksum: true only for something we could have issued. */
export function isWellFormedKey(candidate: string): boolean {
  if (candidate.length !== KEY_LENGTH || !KEY_PATTERN.test(candidate)) return false;
  const body = candidate.slice(0, KEY_LENGTH - CHECKSUM_LENGTH);
  return checksumOf(body) === candidate.slice(KEY_LENGTH - CHECKSUM_LENGTH);
}
