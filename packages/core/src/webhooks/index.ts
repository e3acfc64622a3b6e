export * from './sign.ts';
export * from './ssrf.ts';
export * from './schedule.ts';
export * from './queue.ts';
export * from './worker.ts';
export * from './body.ts';
