/** Identifiers and secrets: time-ordered job ids, API keys (stored hashed), webhook secrets. */
import { createHash, getRandomValues, randomBytes } from 'node:crypto';
import { V7Generator } from 'uuidv7';

// The package's default generator refills 8 random words at a time: one call into the CSPRNG
// per three ids, a visible cost in the API's submit profile. A 4 KiB pool makes it one per 340.
const pool = new Uint32Array(1_024);
let cursor = pool.length;
const ids = new V7Generator({
  nextUint32() {
    if (cursor === pool.length) {
      getRandomValues(pool);
      cursor = 0;
    }
    return pool[cursor++]!;
  },
});

/**
 * Time-ordered ids keep PostgreSQL's btree indexes hot and make `id` a keyset cursor; ids made
 * in the same millisecond by one process still increase (the generator's counter).
 */
export const newId = (): string => ids.generate().toString();

export const API_KEY_PREFIX = 'sk_spool_';

export function newApiKey(): string {
  return API_KEY_PREFIX + randomBytes(24).toString('base64url');
}

/** API keys are high-entropy random strings, so one SHA-256 is enough (no slow KDF needed). */
export function hashApiKey(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

/** Standard Webhooks secret: `whsec_` + standard padded base64 of 32 random bytes. */
export function newWebhookSecret(): string {
  return `whsec_${randomBytes(32).toString('base64')}`;
}

/** Stable hash of a JSON value (object keys sorted), for idempotency comparisons. */
export function hashJson(value: unknown): string {
  return createHash('sha256').update(stableStringify(value)).digest('hex');
}

function stableStringify(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map(stableStringify).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${stableStringify(v)}`).join(',')}}`;
}
