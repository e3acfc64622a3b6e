export * from './cron.ts';
export * from './queue.ts';
export * from './service.ts';
export { newScheduleId, type ScheduleRow } from './store.ts';
export * from './worker.ts';
