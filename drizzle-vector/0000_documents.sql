-- Vector tables: applied only where `CREATE EXTENSION vector` succeeds (see packages/core/src/db/migrate.ts).
CREATE TABLE "documents" (
	"tenant_id" text NOT NULL REFERENCES "tenants"("id") ON DELETE CASCADE,
	"id" text NOT NULL,
	"collection" text NOT NULL,
	"title" text,
	"content_hash" text NOT NULL,
	"metadata" jsonb,
	"access_level" text NOT NULL DEFAULT 'public',
	"chunks" integer NOT NULL DEFAULT 0,
	"tokens" integer NOT NULL DEFAULT 0,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	PRIMARY KEY ("tenant_id", "id")
);
--> statement-breakpoint
CREATE INDEX "documents_tenant_collection_idx" ON "documents" ("tenant_id", "collection");
--> statement-breakpoint
CREATE TABLE "chunks" (
	"id" text PRIMARY KEY NOT NULL,
	"tenant_id" text NOT NULL,
	"collection" text NOT NULL,
	"document_id" text NOT NULL,
	"chunk_index" integer NOT NULL,
	"text" text NOT NULL,
	"token_count" integer NOT NULL,
	"content_hash" text NOT NULL,
	"metadata" jsonb,
	"access_level" text NOT NULL DEFAULT 'public',
	"embedding_model" text NOT NULL,
	"embedding_dims" integer NOT NULL,
	"embedding" vector NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	FOREIGN KEY ("tenant_id", "document_id") REFERENCES "documents"("tenant_id", "id") ON DELETE CASCADE
);
--> statement-breakpoint
CREATE UNIQUE INDEX "chunks_document_index_uq" ON "chunks" ("tenant_id", "document_id", "chunk_index");
--> statement-breakpoint
CREATE INDEX "chunks_tenant_collection_idx" ON "chunks" ("tenant_id", "collection", "embedding_model");
--> statement-breakpoint
-- HNSW needs a fixed dimension: one partial expression index per common size (local 384, OpenAI small 1536).
CREATE INDEX "chunks_embedding_384_hnsw" ON "chunks" USING hnsw (("embedding"::vector(384)) vector_cosine_ops) WHERE "embedding_dims" = 384;
--> statement-breakpoint
CREATE INDEX "chunks_embedding_1536_hnsw" ON "chunks" USING hnsw (("embedding"::vector(1536)) vector_cosine_ops) WHERE "embedding_dims" = 1536;
