-- embed-refresh: each collection has one active embedding model; a refresh stages the new
-- model's vectors beside the old ones and switches the collection over in one statement, so
-- no query ever compares vectors of two models (see docs/documents.md).
CREATE TABLE "collections" (
	"tenant_id" text NOT NULL REFERENCES "tenants"("id") ON DELETE CASCADE,
	"name" text NOT NULL,
	"embedding_model" text NOT NULL,
	"refresh_model" text,
	"refresh_job_id" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	PRIMARY KEY ("tenant_id", "name")
);
--> statement-breakpoint
-- Collections ingested before this migration: the model of their most recently written chunk.
INSERT INTO "collections" ("tenant_id", "name", "embedding_model")
SELECT DISTINCT ON ("tenant_id", "collection") "tenant_id", "collection", "embedding_model"
FROM "chunks" ORDER BY "tenant_id", "collection", "updated_at" DESC;
--> statement-breakpoint
CREATE TABLE "chunk_embeddings" (
	"chunk_id" text NOT NULL REFERENCES "chunks"("id") ON DELETE CASCADE,
	"model" text NOT NULL,
	"tenant_id" text NOT NULL,
	"collection" text NOT NULL,
	"content_hash" text NOT NULL,
	"embedding_dims" integer NOT NULL,
	"embedding" vector NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	PRIMARY KEY ("chunk_id", "model")
);
--> statement-breakpoint
CREATE INDEX "chunk_embeddings_collection_idx" ON "chunk_embeddings" ("tenant_id", "collection", "model");
