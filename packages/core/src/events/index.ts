export * from './follow.ts';
export * from './hub.ts';
export * from './redis-buffer.ts';
export * from './types.ts';
export * from './writer.ts';
