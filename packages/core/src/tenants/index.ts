/**
 * Tenants and their API keys. Keys are shown once and stored as SHA-256 hashes; lookups are
 * cached for a few seconds so an authenticated request costs no database round trip.
 */
import { and, desc, eq, isNull } from 'drizzle-orm';
import { LRUCache } from 'lru-cache';
import type { Database } from '../db/client.ts';
import { apiKeys, tenants } from '../db/schema.ts';
import { SpoolError } from '../errors.ts';
import { API_KEY_PREFIX, hashApiKey, newApiKey, newId, newWebhookSecret } from '../ids.ts';

export const SCOPES = ['jobs:write', 'jobs:read'] as const;
export type Scope = (typeof SCOPES)[number];

export interface Principal {
  tenantId: string;
  keyId: string;
  scopes: Scope[];
}

export interface CreatedTenant {
  id: string;
  name: string;
  apiKey: string;
  /** The key's id, to revoke it (`DELETE /v1/admin/api-keys/:id`). */
  apiKeyId: string;
  webhookSecret: string;
}

export async function createTenant(db: Database, name: string): Promise<CreatedTenant> {
  const id = newId();
  const webhookSecret = newWebhookSecret();
  await db.orm.insert(tenants).values({ id, name, webhookSecret });
  const key = await createApiKey(db, id, { scopes: [...SCOPES], name: 'default' });
  return { id, name, apiKey: key.apiKey, apiKeyId: key.id, webhookSecret };
}

export interface CreatedApiKey {
  id: string;
  tenantId: string;
  name: string | null;
  scopes: Scope[];
  apiKey: string;
  createdAt: string;
}

export async function createApiKey(
  db: Database,
  tenantId: string,
  opts: { scopes: Scope[]; name?: string | undefined },
): Promise<CreatedApiKey> {
  await assertTenant(db, tenantId);
  const apiKey = newApiKey();
  const row = {
    id: newId(),
    tenantId,
    keyHash: hashApiKey(apiKey),
    keyPrefix: apiKey.slice(0, API_KEY_PREFIX.length + 4),
    name: opts.name ?? null,
    scopes: [...new Set(opts.scopes)], // a scope named twice is held once
  };
  const [inserted] = await db.orm.insert(apiKeys).values(row).returning({ createdAt: apiKeys.createdAt });
  return { id: row.id, tenantId, name: row.name, scopes: row.scopes, apiKey, createdAt: inserted!.createdAt.toISOString() };
}

/** A tenant's keys as an operator sees them: never the key, its first characters only. */
export interface ApiKeyInfo {
  id: string;
  tenantId: string;
  name: string | null;
  scopes: Scope[];
  keyPrefix: string;
  createdAt: string;
  revokedAt: string | null;
}

/** A tenant's keys, newest first, revoked ones included; 404 for a tenant that does not exist. */
export async function listApiKeys(db: Database, tenantId: string): Promise<ApiKeyInfo[]> {
  await assertTenant(db, tenantId);
  const rows = await db.orm
    .select()
    .from(apiKeys)
    .where(eq(apiKeys.tenantId, tenantId))
    .orderBy(desc(apiKeys.createdAt), desc(apiKeys.id));
  return rows.map((r) => ({
    id: r.id,
    tenantId: r.tenantId,
    name: r.name,
    scopes: r.scopes as Scope[],
    keyPrefix: r.keyPrefix,
    createdAt: r.createdAt.toISOString(),
    revokedAt: r.revokedAt?.toISOString() ?? null,
  }));
}

async function assertTenant(db: Database, tenantId: string): Promise<void> {
  const exists = await db.orm.select({ id: tenants.id }).from(tenants).where(eq(tenants.id, tenantId));
  if (exists.length === 0) throw new SpoolError('not_found', `tenant ${tenantId} not found`, { status: 404 });
}

export class KeyStore {
  // 10 s: long enough to take key lookups off the hot path, short enough that a key revoked
  // by another API process stops working quickly. This process forgets it at once.
  private readonly cache = new LRUCache<string, Principal | false>({ max: 10_000, ttl: 10_000 });
  // Revocations by this process. A lookup during which one happened is not cached: it may have
  // read its row before the revoke committed, and caching it after the revoke cleared the cache
  // kept a revoked key working for another 10 s in the very process that revoked it.
  private revocations = 0;

  constructor(private readonly db: Database) {}

  async authenticate(key: string): Promise<Principal | undefined> {
    if (!key.startsWith(API_KEY_PREFIX)) return undefined;
    const hash = hashApiKey(key);
    const cached = this.cache.get(hash);
    if (cached !== undefined) return cached || undefined;
    const revocations = this.revocations;
    const [row] = await this.db.orm
      .select({ id: apiKeys.id, tenantId: apiKeys.tenantId, scopes: apiKeys.scopes })
      .from(apiKeys)
      .where(and(eq(apiKeys.keyHash, hash), isNull(apiKeys.revokedAt)));
    const principal: Principal | false = row ? { tenantId: row.tenantId, keyId: row.id, scopes: row.scopes as Scope[] } : false;
    if (revocations === this.revocations) this.cache.set(hash, principal);
    return principal || undefined;
  }

  async revoke(keyId: string): Promise<boolean> {
    const rows = await this.db.orm
      .update(apiKeys)
      .set({ revokedAt: new Date() })
      .where(and(eq(apiKeys.id, keyId), isNull(apiKeys.revokedAt)))
      .returning({ id: apiKeys.id });
    this.revocations++;
    for (const [hash, p] of this.cache.entries()) if (p && p.keyId === keyId) this.cache.delete(hash);
    return rows.length > 0;
  }
}

export * from './rate-limit.ts';
