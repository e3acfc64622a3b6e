CREATE TABLE "model_calls" (
	"id" text PRIMARY KEY NOT NULL,
	"job_id" text NOT NULL,
	"tenant_id" text NOT NULL,
	"job_type" text NOT NULL,
	"step" text,
	"attempt" integer NOT NULL,
	"call_try" integer DEFAULT 1 NOT NULL,
	"kind" text NOT NULL,
	"provider" text NOT NULL,
	"model" text NOT NULL,
	"prompt_version" text,
	"status" text NOT NULL,
	"input_tokens" integer DEFAULT 0 NOT NULL,
	"output_tokens" integer DEFAULT 0 NOT NULL,
	"cost_usd" numeric(14, 8) DEFAULT '0' NOT NULL,
	"latency_ms" integer DEFAULT 0 NOT NULL,
	"cache_layer" text,
	"fallback_from" text,
	"error_class" text,
	"error_message" text,
	"redacted" boolean DEFAULT false NOT NULL,
	"injection_suspected" boolean DEFAULT false NOT NULL,
	"retrieval" jsonb,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "tenants" ADD COLUMN "daily_budget_usd" numeric(14, 6);--> statement-breakpoint
ALTER TABLE "tenants" ADD COLUMN "monthly_budget_usd" numeric(14, 6);--> statement-breakpoint
ALTER TABLE "model_calls" ADD CONSTRAINT "model_calls_job_id_jobs_id_fk" FOREIGN KEY ("job_id") REFERENCES "public"."jobs"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "model_calls_job_idx" ON "model_calls" USING btree ("job_id","created_at");--> statement-breakpoint
CREATE INDEX "model_calls_tenant_idx" ON "model_calls" USING btree ("tenant_id","created_at");