export * from './registry.ts';
export * from './serialize.ts';
export * from './service.ts';
export { debugSteps } from './debug-steps.job.ts';
export { chat, ChatInput, ChatOutput } from './chat.job.ts';
export { createSubmitGuard, type SubmitGuard } from './submit-guard.ts';
