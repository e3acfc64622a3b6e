export * from './client.ts';
export * from './locked.ts';
export * from './migrate.ts';
export * from './params.ts';
export * from './relaxed-commit.ts';
export type { ApiKeyRow, JobEventRow, JobRow, JobStepRow, TenantRow } from './schema.ts';
export * as schema from './schema.ts';
