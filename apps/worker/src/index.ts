export * from './worker.ts';
export * from './env.ts';
