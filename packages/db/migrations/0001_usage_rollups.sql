CREATE TABLE "usage_days" (
	"key_id" uuid NOT NULL,
	"day" date NOT NULL,
	"requests" bigint NOT NULL,
	"by_status" jsonb NOT NULL,
	"routes" jsonb NOT NULL,
	"latency_sum_ms" double precision NOT NULL,
	"latency_buckets" bigint[] NOT NULL,
	"peak_minute_requests" integer NOT NULL,
	"rate_limited_by_hour" integer[] NOT NULL,
	CONSTRAINT "usage_days_key_id_day_pk" PRIMARY KEY("key_id","day")
);
--> statement-breakpoint
CREATE TABLE "usage_minutes" (
	"key_id" uuid NOT NULL,
	"minute" timestamp with time zone NOT NULL,
	"requests" integer NOT NULL,
	"by_status" jsonb NOT NULL,
	"routes" jsonb NOT NULL,
	"latency_sum_ms" double precision NOT NULL,
	"latency_buckets" integer[] NOT NULL,
	CONSTRAINT "usage_minutes_key_id_minute_pk" PRIMARY KEY("key_id","minute")
);
--> statement-breakpoint
ALTER TABLE "usage_days" ADD CONSTRAINT "usage_days_key_id_api_keys_id_fk" FOREIGN KEY ("key_id") REFERENCES "public"."api_keys"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "usage_minutes" ADD CONSTRAINT "usage_minutes_key_id_api_keys_id_fk" FOREIGN KEY ("key_id") REFERENCES "public"."api_keys"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "usage_days_day_idx" ON "usage_days" USING btree ("day");--> statement-breakpoint
CREATE INDEX "usage_minutes_minute_idx" ON "usage_minutes" USING btree ("minute");