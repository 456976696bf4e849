import {
  bigint,
  date,
  doublePrecision,
  index,
  integer,
  jsonb,
  pgTable,
  primaryKey,
  uuid,
} from "drizzle-orm/pg-core";
import { apiKeys } from "./api-keys.js";

/**
 * Usage rollups written by the data plane's batched recorder (never one row per request).
 * Latency histograms are arrays of counts over the fixed logarithmic buckets defined in
 * `@repo/api`'s gateway/histogram.ts (trailing zero buckets trimmed); they merge by adding
 * element-wise, so any window's percentiles come from summing its rows.
 */

/** One row per key per UTC day: what a 1–90 day analytics query reads (~90 rows). */
export const usageDays = pgTable(
  "usage_days",
  {
    keyId: uuid()
      .notNull()
      .references(() => apiKeys.id, { onDelete: "cascade" }),
    day: date({ mode: "string" }).notNull(),
    requests: bigint({ mode: "number" }).notNull(),
    byStatus: jsonb().$type<Record<string, number>>().notNull(),
    routes: jsonb().$type<Record<string, number>>().notNull(),
    latencySumMs: doublePrecision().notNull(),
    latencyBuckets: bigint({ mode: "number" }).array().notNull(),
    /** 429 responses per UTC hour of the day: 24 entries. */
    rateLimitedByHour: integer().array().notNull(),
    /** Quota consumed on the day (accepted requests only): what the daily limit counts. */
    quotaUsed: doublePrecision().notNull().default(0),
    /**
     * The day's highest per-minute quota use: the largest count of the key's per-minute
     * window the rate limiter reported (across processes with Redis), so it agrees with
     * `X-RateLimit-Remaining`.
     */
    peakMinuteQuota: doublePrecision().notNull().default(0),
  },
  (t) => [primaryKey({ columns: [t.keyId, t.day] }), index("usage_days_day_idx").on(t.day)],
);
