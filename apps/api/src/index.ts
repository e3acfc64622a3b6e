export * from './app.ts';
export * from './build.ts';
export type { ApiDeps } from './deps.ts';
export * from './env.ts';
export * from './serve.ts';
