export * from './define-job.ts';
export * from './depth.ts';
export * from './queues.ts';
export * from './reconciler.ts';
export * from './step-aside.ts';
export * from './tenant-slots.ts';
