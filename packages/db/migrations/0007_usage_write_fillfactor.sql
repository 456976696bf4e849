-- The usage flush updates every active key's row in these tables each second. With room left
-- on each page, an update whose columns are in no index is written in place (a HOT update):
-- no new index entries and no page elsewhere. Applies to pages written from now on; existing
-- rows move to such pages as they are updated.
DROP INDEX "api_key_addresses_key_last_seen_idx";--> statement-breakpoint
ALTER TABLE "api_keys" SET (fillfactor = 70);--> statement-breakpoint
ALTER TABLE "usage_minutes" SET (fillfactor = 70);--> statement-breakpoint
ALTER TABLE "usage_days" SET (fillfactor = 70);--> statement-breakpoint
ALTER TABLE "api_key_addresses" SET (fillfactor = 70);
