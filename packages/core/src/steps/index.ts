export * from './context.ts';
export * from './execute.ts';
