/**
 * Times as clients see them: ISO 8601 in UTC. Rows read through jsonb (or raw SQL) carry
 * timestamps in PostgreSQL's text form; they are turned into this everywhere the API answers.
 */
export const isoTime = (v: string | Date | null | undefined): string | null => (v ? new Date(v).toISOString() : null);
