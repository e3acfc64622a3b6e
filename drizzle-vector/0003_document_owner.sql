-- The ingest whose plan wrote the document row last. Only that ingest's chunk writes land: an
-- older ingest of the same document (slow, or retried after a newer one) writes nothing, so
-- it cannot put back old text or an old access level (see upsertChunks).
ALTER TABLE "documents" ADD COLUMN "ingest_job_id" text;
