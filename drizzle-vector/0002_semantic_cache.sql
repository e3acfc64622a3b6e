-- The semantic cache of model answers (packages/core/src/providers/semantic-pgvector.ts): vector
-- tables only, so it is applied only where `CREATE EXTENSION vector` succeeds. Elsewhere the
-- cache stays in Redis.
CREATE TABLE "semantic_cache" (
	"id" text PRIMARY KEY NOT NULL,
	"tenant_id" text NOT NULL REFERENCES "tenants"("id") ON DELETE CASCADE,
	-- Hash of what must match for an answer to be reused: chat model, prompt version, parameters, system prompt.
	"scope_hash" text NOT NULL,
	-- The model that made the embedding: vectors of two models never compare.
	"embedding_model" text NOT NULL,
	"embedding_dims" integer NOT NULL,
	"embedding" vector NOT NULL,
	"answer" jsonb NOT NULL,
	"expires_at" timestamp with time zone NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE INDEX "semantic_cache_scope_idx" ON "semantic_cache" ("tenant_id", "scope_hash", "embedding_model");
--> statement-breakpoint
-- Pruning deletes expired rows oldest first.
CREATE INDEX "semantic_cache_expires_idx" ON "semantic_cache" ("expires_at");
--> statement-breakpoint
-- HNSW needs a fixed dimension: one partial expression index per common size (local 384, OpenAI small 1536), as for chunks.
CREATE INDEX "semantic_cache_embedding_384_hnsw" ON "semantic_cache" USING hnsw (("embedding"::vector(384)) vector_cosine_ops) WHERE "embedding_dims" = 384;
--> statement-breakpoint
CREATE INDEX "semantic_cache_embedding_1536_hnsw" ON "semantic_cache" USING hnsw (("embedding"::vector(1536)) vector_cosine_ops) WHERE "embedding_dims" = 1536;
