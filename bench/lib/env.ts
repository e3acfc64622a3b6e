/** Where the machine's PostgreSQL is, and the repository root. */
export const PG_ADMIN_URL =
  process.env.SPOOL_BENCH_PG_URL ?? process.env.SPOOL_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
export const ROOT = new URL('../../', import.meta.url).pathname;
