export * from './define-job.ts';
export * from './queues.ts';
export * from './reconciler.ts';
