/**
 * Builds the model layer of a worker process. The `openai` SDK is imported only when the
 * configured chain or embedding model uses it, so processes that never call a model (the API,
 * the dashboard) never load it.
 */
import type { Redis } from 'ioredis';
import type { Database } from '../db/client.ts';
import type { Logger } from '../logger.ts';
import { RedisSemanticCache, type SemanticCache } from './cache.ts';
import type { ModelsConfig } from './config.ts';
import { createLocalProvider } from './local.ts';
import { ModelService } from './models.ts';
import { PgVectorSemanticCache } from './semantic-pgvector.ts';
import type { Provider } from './types.ts';

export interface ModelRuntimeDeps {
  db: Database;
  /** A worker-role connection (retries forever). */
  redis: Redis;
  /** Redis key prefix: breakers, limiters and caches are shared by processes with the same one. */
  prefix: string;
  log: Logger;
  config: ModelsConfig;
}

/**
 * The one place the semantic cache's store is chosen: pgvector when the vector tables are
 * there (`db.vectors`, set by `migrate`), else Redis (a PostgreSQL without the extension).
 */
export function createSemanticCache(deps: Pick<ModelRuntimeDeps, 'db' | 'redis' | 'prefix' | 'config'>): SemanticCache {
  return deps.db.vectors
    ? new PgVectorSemanticCache(deps.db, deps.config.cache)
    : new RedisSemanticCache(deps.redis, deps.prefix, deps.config.cache);
}

export async function createModelService(deps: ModelRuntimeDeps): Promise<ModelService> {
  const providers = new Map<string, Provider>([['local', createLocalProvider()]]);
  const used = new Set([...deps.config.chatModels, deps.config.embedModel].map((r) => r.provider));
  // Configured counts as used: a job may name an OpenAI model the defaults don't (embed-refresh, ingest's `model`).
  if (used.has('openai') || deps.config.openai.baseURL || deps.config.openai.apiKey) {
    const { createOpenAIProvider } = await import('./openai.ts');
    providers.set('openai', createOpenAIProvider({ ...deps.config.openai, timeoutMs: deps.config.timeoutMs }));
  }
  const semantic = createSemanticCache(deps);
  deps.log.info(
    {
      chat: deps.config.chatModels.map((r) => `${r.provider}:${r.model}`),
      embed: `${deps.config.embedModel.provider}:${deps.config.embedModel.model}`,
      semanticCache: semantic.backend,
    },
    'model providers ready',
  );
  return new ModelService({ ...deps, providers, semantic });
}
