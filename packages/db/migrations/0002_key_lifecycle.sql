CREATE TABLE "api_key_addresses" (
	"key_id" uuid NOT NULL,
	"address" text NOT NULL,
	"first_seen_at" timestamp with time zone NOT NULL,
	"last_seen_at" timestamp with time zone NOT NULL,
	"requests" bigint NOT NULL,
	CONSTRAINT "api_key_addresses_key_id_address_pk" PRIMARY KEY("key_id","address")
);
--> statement-breakpoint
ALTER TABLE "api_keys" ADD COLUMN "lifetime_seconds" integer;--> statement-breakpoint
ALTER TABLE "api_keys" ADD COLUMN "rotated_to_id" uuid;--> statement-breakpoint
ALTER TABLE "api_keys" ADD COLUMN "rotated_from_id" uuid;--> statement-breakpoint
ALTER TABLE "usage_days" ADD COLUMN "quota_used" double precision DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "usage_days" ADD COLUMN "peak_minute_quota" double precision DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "usage_minutes" ADD COLUMN "quota_used" double precision DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "api_key_addresses" ADD CONSTRAINT "api_key_addresses_key_id_api_keys_id_fk" FOREIGN KEY ("key_id") REFERENCES "public"."api_keys"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "api_key_addresses_key_last_seen_idx" ON "api_key_addresses" USING btree ("key_id","last_seen_at" DESC NULLS LAST);--> statement-breakpoint
ALTER TABLE "api_keys" ADD CONSTRAINT "api_keys_rotated_to_id_api_keys_id_fk" FOREIGN KEY ("rotated_to_id") REFERENCES "public"."api_keys"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "api_keys" ADD CONSTRAINT "api_keys_rotated_from_id_api_keys_id_fk" FOREIGN KEY ("rotated_from_id") REFERENCES "public"."api_keys"("id") ON DELETE set null ON UPDATE no action;