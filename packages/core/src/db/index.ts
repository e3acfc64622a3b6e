export * from './client.ts';
export * from './migrate.ts';
export * as schema from './schema.ts';
export type { JobRow, JobStepRow, JobEventRow, TenantRow, ApiKeyRow } from './schema.ts';
