export * from './define-job.ts';
export * from './queues.ts';
export * from './reconciler.ts';
export * from './tenant-slots.ts';
export * from './depth.ts';
