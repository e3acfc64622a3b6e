/**
 * A revoked key stops working at once in the process that revoked it, also when a lookup of
 * that key was under way: its row, read before the revoke committed, must not be cached after
 * the revoke cleared the cache (it kept the key working for the cache's 10 s).
 */
import type { Database } from '@spool/core/db';
import { createApiKey, createTenant, KeyStore } from '@spool/core/tenants';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshDatabase, type TestDatabase } from '../support/database.ts';

describe('KeyStore revoke', () => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await freshDatabase();
  });
  afterAll(() => database?.drop());

  /** The database, with the replies of key lookups (SELECTs) held until `release()`. */
  function heldLookups(db: Database) {
    let gate: Promise<void> = Promise.resolve();
    let release = () => {};
    let read = () => {};
    let lookups = 0;
    const orm = new Proxy(db.orm, {
      get(target, prop, receiver) {
        if (prop !== 'select') return Reflect.get(target, prop, receiver);
        return (...args: unknown[]) => {
          const query = (target.select as (...a: unknown[]) => any)(...args);
          return {
            from: (...f: unknown[]) => ({
              where: (...w: unknown[]) => {
                lookups++;
                const held = gate;
                return query
                  .from(...f)
                  .where(...w)
                  .then(async (rows: unknown) => {
                    read();
                    await held;
                    return rows;
                  });
              },
            }),
          };
        };
      },
    });
    return {
      db: { ...db, orm } as Database,
      /** Holds the next lookups' replies; resolves when one has been read. */
      hold: () => {
        gate = new Promise((r) => (release = r));
        return new Promise<void>((r) => (read = r));
      },
      release: () => release(),
      lookups: () => lookups,
    };
  }

  it('a lookup under way while the key is revoked does not cache it as valid', async () => {
    const tenant = await createTenant(database.db, 'revoke-race');
    const key = await createApiKey(database.db, tenant.id, { scopes: ['jobs:read'] });
    const held = heldLookups(database.db);
    const keys = new KeyStore(held.db);

    const read = held.hold();
    const during = keys.authenticate(key.apiKey);
    // Its SELECT has read the row (the key still valid); the reply waits.
    await read;
    expect(await keys.revoke(key.id)).toBe(true);
    held.release();
    // Sent before the revoke: it may be let through.
    expect((await during)?.keyId).toBe(key.id);

    const before = held.lookups();
    expect(await keys.authenticate(key.apiKey)).toBeUndefined();
    expect(held.lookups()).toBe(before + 1);
    // Without a revocation meanwhile, lookups are cached as before.
    const other = await createApiKey(database.db, tenant.id, { scopes: ['jobs:read'] });
    expect((await keys.authenticate(other.apiKey))?.keyId).toBe(other.id);
    expect((await keys.authenticate(other.apiKey))?.keyId).toBe(other.id);
    expect(held.lookups()).toBe(before + 2);
  });
});
