/**
 * The one table of what each subscription tier allows. Nothing else hard-codes these numbers:
 * keys copy their tier's scopes and limits from here when they are minted.
 */
export const TIERS = {
  free: {
    rateLimitPerMinute: 10,
    rateLimitPerDay: 1_000,
    maxActiveKeys: 3,
    scopes: ["read:iocs", "read:articles"],
  },
  pro: {
    rateLimitPerMinute: 1_000,
    rateLimitPerDay: 1_000_000,
    maxActiveKeys: 50,
    scopes: [
      "read:iocs",
      "read:articles",
      "read:articles:export",
      "read:stix",
      "read:cef",
      "read:misp",
      "read:openioc",
    ],
  },
} as const satisfies Record<string, TierPolicy>;

export interface TierPolicy {
  rateLimitPerMinute: number;
  rateLimitPerDay: number;
  maxActiveKeys: number;
  scopes: readonly string[];
}

export type Tier = keyof typeof TIERS;
export const TIER_NAMES = Object.keys(TIERS) as Tier[];
export const ALL_SCOPES = [...TIERS.pro.scopes];
export type Scope = (typeof TIERS)["pro"]["scopes"][number];

export function isTier(value: string): value is Tier {
  return Object.hasOwn(TIERS, value);
}
