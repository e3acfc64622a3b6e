/** Where the machine's services are; CI and developers override with the usual variables. */
export const PG_ADMIN_URL = process.env.SPOOL_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
export const REDIS_URL = process.env.SPOOL_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
export const ROOT = new URL('../../', import.meta.url).pathname;
