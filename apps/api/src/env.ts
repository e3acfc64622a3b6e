import { apiEnv, baseEnv, budgetEnv, databaseEnv, jobsEnv, loadEnv, redisEnv } from '@spool/core/env';

export const ApiEnvSchema = baseEnv.merge(databaseEnv).merge(redisEnv).merge(jobsEnv).merge(apiEnv).merge(budgetEnv);
export type ApiConfig = ReturnType<typeof loadApiEnv>;
export const loadApiEnv = (source: NodeJS.ProcessEnv = process.env) => loadEnv(ApiEnvSchema, source);
