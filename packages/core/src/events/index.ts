export * from './types.ts';
export * from './redis-buffer.ts';
export * from './writer.ts';
export * from './hub.ts';
export * from './follow.ts';
