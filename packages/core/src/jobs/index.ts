export * from './registry.ts';
export * from './serialize.ts';
export * from './service.ts';
export { debugSteps } from './debug-steps.job.ts';
