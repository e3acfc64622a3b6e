/**
 * The model layer, for worker processes (`@spool/core/providers`). Importing this never loads
 * the `openai` SDK: runtime.ts imports it on demand. The API uses the narrower subpaths
 * `@spool/core/providers/budget` and `@spool/core/providers/tokens`.
 */

export { type BreakerOptions, type BreakerState, SharedBreaker } from './breaker.ts';
export { type BudgetDefaults, Budgets } from './budget.ts';
export {
  type CachedAnswer,
  type CacheOptions,
  ModelCache,
  RedisSemanticCache,
  type SemanticCache,
  type SemanticHit,
  type SemanticQuery,
} from './cache.ts';
export { ModelCatalog } from './catalog.ts';
export * from './chain.ts';
export * from './config.ts';
export * from './cost.ts';
export { type Reservation, SharedLimiter } from './limiter.ts';
export { cosine, createLocalProvider, LOCAL_EMBED_DIM, localEmbedding } from './local.ts';
export * from './models.ts';
export * from './resilience.ts';
export * from './runtime.ts';
export { PgVectorSemanticCache } from './semantic-pgvector.ts';
export { type Tokens, tokens } from './tokens.ts';
export * from './types.ts';
