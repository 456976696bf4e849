-- The per-minute rows existed only to find each day's busiest minute; the rate limiter's own
-- count of the minute (the sum over processes with Redis) now gives it to the day rows
-- directly, so the usage flush writes two rows per key instead of three. Nothing read the
-- minute rows or the traffic peak (the usage endpoint reports the quota peak).
DROP TABLE "usage_minutes" CASCADE;--> statement-breakpoint
ALTER TABLE "usage_days" DROP COLUMN "peak_minute_requests";
