ALTER TABLE "model_calls" DROP CONSTRAINT "model_calls_job_id_jobs_id_fk";
--> statement-breakpoint
ALTER TABLE "model_calls" ALTER COLUMN "job_id" DROP NOT NULL;--> statement-breakpoint
ALTER TABLE "model_calls" ADD CONSTRAINT "model_calls_job_id_jobs_id_fk" FOREIGN KEY ("job_id") REFERENCES "public"."jobs"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "jobs_finished_idx" ON "jobs" USING btree ("finished_at") WHERE status IN ('completed', 'failed', 'canceled');