import { baseEnv, budgetEnv, databaseEnv, jobsEnv, loadEnv, providerEnv, redisEnv, workerEnv } from '@spool/core/env';

export const WorkerEnvSchema = baseEnv.merge(databaseEnv).merge(redisEnv).merge(jobsEnv).merge(workerEnv).merge(providerEnv).merge(budgetEnv);
export type WorkerConfig = ReturnType<typeof loadWorkerEnv>;
export const loadWorkerEnv = (source: NodeJS.ProcessEnv = process.env) => loadEnv(WorkerEnvSchema, source);
