import { baseEnv, databaseEnv, jobsEnv, loadEnv, redisEnv, workerEnv } from '@spool/core/env';

export const WorkerEnvSchema = baseEnv.merge(databaseEnv).merge(redisEnv).merge(jobsEnv).merge(workerEnv);
export type WorkerConfig = ReturnType<typeof loadWorkerEnv>;
export const loadWorkerEnv = (source: NodeJS.ProcessEnv = process.env) => loadEnv(WorkerEnvSchema, source);
