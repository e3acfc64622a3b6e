export * from './registry.ts';
export * from './serialize.ts';
export * from './service.ts';
export { debugSteps } from './debug-steps.job.ts';
export { chat, ChatInput, ChatOutput } from './chat.job.ts';
export { createSubmitGuard, type SubmitGuard } from './submit-guard.ts';
export { ingest, IngestInput, IngestOutput } from './ingest.job.ts';
export { ragQuery, RagQueryInput, RagQueryOutput } from './rag-query.job.ts';
