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
/** Character code → base62 digit value, or -1 (codes above 127 are never digits). */
const DIGIT_VALUE = new Int8Array(128).fill(-1);
for (let i = 0; i < BASE62.length; i++) DIGIT_VALUE[BASE62.charCodeAt(i)] = i;

const CRC_TABLE = new Int32Array(256);
for (let n = 0; n < 256; n++) {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  CRC_TABLE[n] = c;
}

/** One byte (here: one ASCII character code) into a running CRC-32. */
function crcStep(crc: number, code: number): number {
  return CRC_TABLE[(crc ^ code) & 0xff]! ^ (crc >>> 8);
}

export function crc32(text: string): number {
  let crc = -1;
  for (let i = 0; i < text.length; i++) crc = crcStep(crc, text.charCodeAt(i));
  return (crc ^ -1) >>> 0;
}

function digitValue(code: number): number {
  return code < 128 ? DIGIT_VALUE[code]! : -1;
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

/**
 * Prefix, length, alphabet and checksum: true only for something we could have issued.
 * One pass without allocations (it runs on every data-plane request): the CRC is taken while
 * the alphabet is checked, and the checksum characters are decoded to a number rather than
 * the CRC encoded to a string.
 */
export function isWellFormedKey(candidate: string): boolean {
  if (candidate.length !== KEY_LENGTH || !candidate.startsWith(KEY_PREFIX)) return false;
  const checksumAt = KEY_LENGTH - CHECKSUM_LENGTH;
  let crc = -1;
  for (let i = 0; i < checksumAt; i++) {
    const code = candidate.charCodeAt(i);
    if (i >= KEY_PREFIX.length && digitValue(code) < 0) return false;
    crc = crcStep(crc, code);
  }
  let checksum = 0;
  for (let i = checksumAt; i < KEY_LENGTH; i++) {
    const digit = digitValue(candidate.charCodeAt(i));
    if (digit < 0) return false;
    checksum = checksum * 62 + digit;
  }
  return checksum === (crc ^ -1) >>> 0;
}
