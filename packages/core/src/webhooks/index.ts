export * from './body.ts';
export * from './queue.ts';
export * from './schedule.ts';
export * from './sign.ts';
export * from './ssrf.ts';
export * from './worker.ts';
