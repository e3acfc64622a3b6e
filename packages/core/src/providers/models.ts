/**
 * Governed model calls: what `ctx.models` does around every provider call — caches, the
 * fallback chain, the shared circuit breaker, RPM/TPM admission, spend caps, timeout,
 * retries honouring Retry-After, cost, metrics, and one trace row per HTTP attempt.
 */
import type { Redis } from 'ioredis';
import type { Database } from '../db/client.ts';
import { SpoolError } from '../errors.ts';
import { newId } from '../ids.ts';
import { truncate } from '../jobs/storable-json.ts';
import type { Logger } from '../logger.ts';
import {
  modelBreakerState,
  modelCacheHits,
  modelCost,
  modelLatency,
  modelLimiterWait,
  modelRequests,
  modelTokens,
} from '../metrics.ts';
import { insertModelCall, type NewModelCall } from '../store/model-calls.ts';
import { type BreakerState, SharedBreaker } from './breaker.ts';
import { Budgets } from './budget.ts';
import { type CachedAnswer, ModelCache, type SemanticCache, type SemanticQuery } from './cache.ts';
import { ModelCatalog } from './catalog.ts';
import { resolveChain } from './chain.ts';
import { limitsFor, type ModelsConfig } from './config.ts';
import { addUsage, costUsd, priceOf } from './cost.ts';
import { looksLikeInjection, redactMessages } from './hygiene.ts';
import { SharedLimiter } from './limiter.ts';
import { type Classified, classifiedOf, triesAgain, withRetries } from './resilience.ts';
import { countChatTokens, countTokens } from './tokens.ts';
import { billedUsageOf, type ChatMessage, type ModelRef, type Provider, type ProviderChatResult, refName } from './types.ts';

export type CacheMode = 'exact' | 'semantic' | 'off';

export interface ChatCall {
  messages: ChatMessage[];
  /** "provider:model" (or a bare OpenAI model name) to try first; the configured chain follows. */
  model?: string | undefined;
  temperature?: number | undefined;
  maxTokens?: number | undefined;
  /** Asks for JSON matching this JSON Schema (validation is the caller's). */
  responseSchema?: Record<string, unknown> | undefined;
  /** Emit each fragment as a `delta` event. */
  stream?: boolean | undefined;
  /** Default: `exact` when temperature is 0, else `off`. `semantic` looks up both layers. */
  cache?: CacheMode | undefined;
  promptVersion?: string | undefined;
  /** The step making the call, for the trace. */
  step?: string | undefined;
  /**
   * Whether an answer may be cached and served from the cache: a structured answer that fails
   * its schema, cached, made every identical job pay for its repair call again.
   */
  cacheable?: ((content: string) => boolean) | undefined;
}

export interface CallUsage {
  inputTokens: number;
  outputTokens: number;
  costUsd: number;
}

export interface ChatCallResult {
  content: string;
  /** The model reference that answered (`openai:gpt-4o-mini`, `local`). */
  model: string;
  usage: CallUsage;
  cached: false | 'exact' | 'semantic';
  fallbackUsed: boolean;
}

/** What `ctx.models` offers a handler. */
export interface ModelClient {
  chat(call: ChatCall): Promise<ChatCallResult>;
  /** Embeddings with `SPOOL_EMBED_MODEL` (or `model`); no fallback: vectors of two models don't mix. */
  embed(
    texts: string[],
    opts?: { model?: string; step?: string },
  ): Promise<{ vectors: number[][]; model: string; usage: CallUsage }>;
  /** The model name `embed` would use (and report) for `model` or the default: vectors are stored under it. */
  embedModel?(model?: string): string;
}

/** The job an attempt's model calls belong to. */
export interface JobScope {
  jobId: string;
  tenantId: string;
  type: string;
  attempt: number;
  signal: AbortSignal;
  log: Logger;
  /** Sends a `delta` event (ctx.emit). */
  emit(delta: { text: string; restart?: boolean }): void;
}

export interface ModelServiceDeps {
  db: Database;
  redis: Redis;
  prefix: string;
  log: Logger;
  providers: ReadonlyMap<string, Provider>;
  config: ModelsConfig;
  /** The semantic cache's store (runtime.ts chooses pgvector or Redis). */
  semantic: SemanticCache;
}

// Reserved for the answer when a call sets no maxTokens, in the rate limiter and in the
// budget hold: a typical short reply. The provider's reported usage corrects both after the call.
const DEFAULT_OUTPUT_ESTIMATE = 256;
/**
 * OpenAI refuses an embeddings request of more than 300,000 tokens over all its inputs (400),
 * and ingest sends 64 chunks of up to 8,000: a larger call goes out as several requests.
 */
const EMBED_REQUEST_TOKENS = 250_000;

const STATE_VALUE: Record<BreakerState, number> = { closed: 0, half_open: 1, open: 2 };

/** `texts` in order, cut into groups of at most `max` tokens (a text larger than that alone). */
function groupByTokens(texts: string[], counts: number[], max: number): string[][] {
  const groups: string[][] = [];
  let tokens = Infinity;
  texts.forEach((text, i) => {
    if (tokens + counts[i]! > max) {
      groups.push([]);
      tokens = 0;
    }
    groups.at(-1)!.push(text);
    tokens += counts[i]!;
  });
  return groups;
}

export class ModelService {
  readonly cache: ModelCache;
  readonly semantic: SemanticCache;
  readonly budgets: Budgets;
  private readonly breakers = new Map<string, SharedBreaker>();
  private readonly limiters = new Map<string, SharedLimiter>();
  private readonly catalog: ModelCatalog;

  constructor(private readonly deps: ModelServiceDeps) {
    this.catalog = new ModelCatalog(deps.config);
    this.cache = new ModelCache(deps.redis, deps.prefix, deps.config.cache);
    this.semantic = deps.semantic;
    this.budgets = new Budgets(deps.db, deps.config.budgets);
  }

  /** Metric labels of a model: the catalog's bounded name (every model that gets here is offered). */
  private labels(ref: ModelRef): { provider: string; model: string } {
    return { provider: ref.provider, model: this.catalog.label(ref) ?? 'other' };
  }

  breaker(ref: ModelRef): SharedBreaker {
    const name = refName(ref);
    let b = this.breakers.get(name);
    if (!b) {
      b = new SharedBreaker(this.deps.redis, this.deps.prefix, name, this.deps.config.breaker);
      this.breakers.set(name, b);
    }
    return b;
  }

  limiter(ref: ModelRef): SharedLimiter {
    const name = refName(ref);
    let l = this.limiters.get(name);
    if (!l) {
      l = new SharedLimiter(
        this.deps.redis,
        this.deps.prefix,
        name,
        limitsFor(this.deps.config.limits, ref),
        this.deps.config.limitWindowMs,
      );
      this.limiters.set(name, l);
    }
    return l;
  }

  forJob(scope: JobScope): ModelClient {
    return {
      chat: (call) => this.chat(scope, call),
      embed: (texts, opts) => this.embed(scope, texts, opts),
      embedModel: (model) => refName(model ? resolveChain([], model)[0]! : this.deps.config.embedModel),
    };
  }

  private async chat(scope: JobScope, call: ChatCall): Promise<ChatCallResult> {
    const { config } = this.deps;
    if (call.model) this.catalog.check(call.model);
    const chain = resolveChain(config.chatModels, call.model);
    const primary = chain[0]!;
    const injectionSuspected = looksLikeInjection(call.messages);
    const hygiene = config.redactPii ? redactMessages(call.messages) : { messages: call.messages, redacted: false };
    const messages = hygiene.messages;
    const params = { temperature: call.temperature, maxTokens: call.maxTokens, responseSchema: call.responseSchema };
    const base = {
      scope,
      kind: 'chat' as const,
      step: call.step ?? null,
      promptVersion: call.promptVersion ?? null,
      redacted: hygiene.redacted,
      injectionSuspected,
    };
    if (injectionSuspected)
      scope.log.warn({ jobId: scope.jobId }, 'prompt looks like an injection attempt (flagged on the trace)');

    // Caches: keyed on the first model of the chain; a fallback's answer is never cached.
    const mode: CacheMode = call.cache ?? (call.temperature === 0 ? 'exact' : 'off');
    let exactKey: string | undefined;
    let semantic: SemanticQuery | undefined;
    if (mode !== 'off') {
      const started = performance.now();
      exactKey = this.cache.exactKey(scope.tenantId, {
        model: refName(primary),
        promptVersion: call.promptVersion ?? null,
        messages,
        params,
      });
      const hit = await this.cache.getExact(exactKey).catch((err) => void scope.log.warn({ err }, 'cache read failed'));
      const usable = (answer: CachedAnswer) => call.cacheable?.(answer.content) ?? true;
      if (hit && usable(hit)) return this.cacheHit(base, primary, 'exact', hit, started, call);
      // Only the last user message is compared by meaning; the rest of the conversation must
      // match exactly. Embedded whole, a long shared history (a pasted contract) outweighed the
      // question, and "who is the supplier?" was answered for "can the buyer terminate early?".
      const asked = messages.findLastIndex((m) => m.role === 'user');
      if (mode === 'semantic' && asked >= 0) {
        semantic = await this.semanticQuery(
          scope,
          messages[asked]!.content,
          {
            model: refName(primary),
            promptVersion: call.promptVersion ?? null,
            params,
            context: messages.map((m, i) => (i === asked ? null : m)),
          },
          call.step,
        );
        const near = semantic
          ? await this.semantic.get(semantic).catch((err) => void scope.log.warn({ err }, 'cache read failed'))
          : undefined;
        if (near && usable(near.answer)) return this.cacheHit(base, primary, 'semantic', near.answer, started, call);
      }
    }

    let fallbackFrom: string | null = null;
    let last: Classified | undefined;
    // Set when a model's billed try left no room in the budget for another: the chain goes on
    // (a later model may be free), and the call fails with it if none answers.
    let overBudget: unknown;
    let streamed = false;
    // What the current try has streamed so far.
    let partial = '';
    for (const ref of chain) {
      const provider = this.deps.providers.get(ref.provider);
      if (!provider)
        throw new SpoolError('model_unavailable', `provider "${ref.provider}" is not configured`, { retryable: false });
      const name = refName(ref);
      const admitted = await this.admit(base, ref, fallbackFrom);
      if ('skip' in admitted) {
        last = admitted.skip;
        fallbackFrom = name;
        continue;
      }

      const price = priceOf(config.prices, ref.provider, ref.model);
      const inputEstimate = countChatTokens(messages, ref.model);
      const outputEstimate = call.maxTokens ?? DEFAULT_OUTPUT_ESTIMATE;
      const costEstimate = costUsd(price, { inputTokens: inputEstimate, outputTokens: outputEstimate });
      const limiter = this.limiter(ref);
      const breaker = this.breaker(ref);
      const probe = probeSlot(breaker, admitted.probe);
      let release = costEstimate > 0 ? await probe.unlessFails(this.budgets.hold(scope.tenantId, costEstimate)) : undefined;
      // What a failed try was billed for: a stream that broke, or was canceled, after the model
      // began to answer (the prompt and what it streamed), or an answer its content filter
      // stopped (as the provider reported it). It counts for the rate limiter and the trace.
      const billedTokens = (err: unknown) =>
        billedUsageOf(err) ??
        (partial ? { inputTokens: inputEstimate, outputTokens: countTokens(partial, ref.model) } : undefined);

      try {
        let latencyMs = 0;
        let lastTry = 1;
        const out = await withRetries(
          config.retry,
          scope.signal,
          async (tryNumber): Promise<ProviderChatResult> => {
            lastTry = tryNumber;
            partial = '';
            if (streamed) {
              // The client saw part of an answer that is being asked for again.
              scope.emit({ text: '', restart: true });
              streamed = false;
            }
            const reservation = await limiter.admit(inputEstimate + outputEstimate, scope.signal);
            modelLimiterWait.observe(this.labels(ref), reservation.waitedMs / 1000);
            // A stream that keeps delivering is not hung: each delta pushes the deadline back,
            // so SPOOL_MODEL_TIMEOUT_MS bounds the wait for the first token and between tokens.
            // As a deadline for the whole try, a long answer was cut, paid and asked again.
            const timeout = new AbortController();
            const deadline = setTimeout(() => timeout.abort(), config.timeoutMs);
            const started = performance.now();
            try {
              const result = await provider.chat(
                {
                  model: ref.model,
                  messages,
                  temperature: call.temperature,
                  maxTokens: call.maxTokens,
                  responseSchema: call.responseSchema,
                },
                {
                  signal: AbortSignal.any([scope.signal, timeout.signal]),
                  onDelta: call.stream
                    ? (text) => {
                        deadline.refresh();
                        streamed = true;
                        partial += text;
                        scope.emit({ text });
                      }
                    : undefined,
                },
              );
              latencyMs = Math.round(performance.now() - started);
              await limiter.settle(reservation, result.usage.inputTokens + result.usage.outputTokens);
              return result;
            } catch (err) {
              latencyMs = Math.round(performance.now() - started);
              const billed = billedTokens(err);
              await limiter.settle(reservation, billed ? billed.inputTokens + billed.outputTokens : 0).catch(() => {});
              if (timeout.signal.aborted && !scope.signal.aborted)
                throw new SpoolError('timeout', `nothing from ${name} for ${config.timeoutMs} ms`, { cause: err });
              throw err;
            } finally {
              clearTimeout(deadline);
              modelLatency.observe({ ...this.labels(ref), kind: 'chat' }, latencyMs / 1000);
            }
          },
          async (c, callTry, err) => {
            // Priced on the error row, so the job's usage and the tenant's spend caps see it.
            const tokens = billedTokens(err);
            const billed = tokens && { ...tokens, costUsd: costUsd(price, tokens) };
            const row = {
              status: 'error' as const,
              callTry,
              latencyMs,
              errorClass: c.class,
              errorMessage: c.message,
              ...billed,
              fallbackFrom,
            };
            if (c.class === 'canceled') {
              if (billed) await this.trace(base, ref, row);
              return;
            }
            const state = await breakerAfter(breaker, c.breaker);
            probe.judged();
            if (state) modelBreakerState.set(this.labels(ref), STATE_VALUE[state]);
            // Everyone backs off, not just this job: the provider said the whole key is over its limit.
            if (c.class === 'rate_limit') await limiter.pause(c.retryAfterMs ?? config.retry.baseMs);
            await this.trace(base, ref, row);
            if (billed && release && state !== 'open' && triesAgain(config.retry, c, callTry)) {
              // The billed try now counts as spend: the next try must fit in what is left, as
              // the first did. Holding once for all of them let three cut streams spend twice
              // the cap.
              await release();
              release = undefined;
              try {
                release = await this.budgets.hold(scope.tenantId, costEstimate);
              } catch (err) {
                overBudget = err;
                return 'stop';
              }
            }
            // The breaker just opened (here or in another process): stop retrying this model.
            return state === 'open' ? 'stop' : undefined;
          },
        );
        await breaker.success();
        probe.judged();
        modelBreakerState.set(this.labels(ref), 0);

        const cost = costUsd(price, out.usage);
        await this.trace(base, ref, {
          status: 'ok',
          callTry: lastTry,
          latencyMs,
          inputTokens: out.usage.inputTokens,
          outputTokens: out.usage.outputTokens,
          costUsd: cost,
          fallbackFrom,
        });
        const answer: CachedAnswer = { content: out.content, model: name, usage: out.usage, createdAt: new Date().toISOString() };
        if (ref === primary && (call.cacheable?.(out.content) ?? true)) {
          if (exactKey) await this.cache.setExact(exactKey, answer).catch((err) => scope.log.warn({ err }, 'cache write failed'));
          if (semantic) await this.semantic.set(semantic, answer).catch((err) => scope.log.warn({ err }, 'cache write failed'));
        }
        return {
          content: out.content,
          model: name,
          usage: { ...out.usage, costUsd: cost },
          cached: false,
          fallbackUsed: ref !== primary,
        };
      } catch (err) {
        if (scope.signal.aborted) throw scope.signal.reason ?? err;
        const c = classifiedOf(err);
        if (!c.fallback)
          throw overBudget ?? new SpoolError(c.class, `${name}: ${c.message}`, { status: 422, retryable: false, cause: err });
        last = c;
        fallbackFrom = name;
      } finally {
        await probe.giveBack();
        await release?.(); // after the trace with the call's cost, which now counts instead
      }
    }
    throw (
      overBudget ??
      new SpoolError(
        'model_unavailable',
        `no model of the chain answered (${chain.map(refName).join(' → ')}); last: ${last?.class ?? 'unknown'}: ${last?.message ?? ''}`,
        {
          retryable: true,
          retryAfterMs: last?.retryAfterMs,
        },
      )
    );
  }

  private async embed(
    scope: JobScope,
    texts: string[],
    opts: { model?: string; step?: string } = {},
  ): Promise<{ vectors: number[][]; model: string; usage: CallUsage }> {
    const { config } = this.deps;
    if (opts.model) this.catalog.check(opts.model);
    const ref = opts.model ? resolveChain([], opts.model)[0]! : config.embedModel;
    const name = refName(ref);
    const provider = this.deps.providers.get(ref.provider);
    if (!provider)
      throw new SpoolError('model_unavailable', `provider "${ref.provider}" is not configured`, { retryable: false });
    const counts = texts.map((t) => countTokens(t, ref.model));
    const estimate = counts.reduce((n, c) => n + c, 0);
    if (texts.length > 1 && estimate > EMBED_REQUEST_TOKENS) {
      // Each part is a call of its own: admitted, priced and traced like any other.
      const parts = [];
      for (const group of groupByTokens(texts, counts, EMBED_REQUEST_TOKENS)) parts.push(await this.embed(scope, group, opts));
      return {
        vectors: parts.flatMap((p) => p.vectors),
        model: parts[0]!.model,
        usage: parts.map((p) => p.usage).reduce(addUsage),
      };
    }
    const base = {
      scope,
      kind: 'embed' as const,
      step: opts.step ?? null,
      promptVersion: null,
      redacted: false,
      injectionSuspected: false,
    };
    // No fallback for an embedding: fail at once, and the job's backoff (at least retryAfterMs)
    // waits instead of a worker slot. A semantic-cache lookup then skips the cache.
    const admitted = await this.admit(base, ref, null);
    if ('skip' in admitted) {
      const { skip } = admitted;
      throw new SpoolError('model_unavailable', skip.message, { retryable: true, retryAfterMs: skip.retryAfterMs });
    }
    const price = priceOf(config.prices, ref.provider, ref.model);
    const costEstimate = costUsd(price, { inputTokens: estimate, outputTokens: 0 });
    const limiter = this.limiter(ref);
    const breaker = this.breaker(ref);
    const probe = probeSlot(breaker, admitted.probe);
    const release = costEstimate > 0 ? await probe.unlessFails(this.budgets.hold(scope.tenantId, costEstimate)) : undefined;
    let latencyMs = 0;
    let lastTry = 1;
    try {
      const out = await withRetries(
        config.retry,
        scope.signal,
        async (tryNumber) => {
          lastTry = tryNumber;
          const reservation = await limiter.admit(estimate, scope.signal);
          const timeout = AbortSignal.timeout(config.timeoutMs);
          const started = performance.now();
          try {
            const r = await provider.embed(ref.model, texts, { signal: AbortSignal.any([scope.signal, timeout]) });
            latencyMs = Math.round(performance.now() - started);
            await limiter.settle(reservation, r.inputTokens);
            return r;
          } catch (err) {
            latencyMs = Math.round(performance.now() - started);
            await limiter.settle(reservation, 0).catch(() => {});
            if (timeout.aborted && !scope.signal.aborted)
              throw new SpoolError('timeout', `no answer from ${name} within ${config.timeoutMs} ms`, { cause: err });
            throw err;
          }
        },
        async (c, callTry) => {
          if (c.class === 'canceled') return;
          const state = await breakerAfter(breaker, c.breaker);
          probe.judged();
          if (c.class === 'rate_limit') await limiter.pause(c.retryAfterMs ?? config.retry.baseMs);
          await this.trace(base, ref, { status: 'error', callTry, latencyMs, errorClass: c.class, errorMessage: c.message });
          return state === 'open' ? 'stop' : undefined;
        },
      );
      await breaker.success();
      probe.judged();
      const cost = costUsd(price, { inputTokens: out.inputTokens, outputTokens: 0 });
      await this.trace(base, ref, { status: 'ok', callTry: lastTry, latencyMs, inputTokens: out.inputTokens, costUsd: cost });
      return { vectors: out.vectors, model: name, usage: { inputTokens: out.inputTokens, outputTokens: 0, costUsd: cost } };
    } catch (err) {
      if (scope.signal.aborted) throw scope.signal.reason ?? err;
      const c = classifiedOf(err);
      throw new SpoolError(c.retryable || c.fallback ? 'model_unavailable' : c.class, `${name}: ${c.message}`, {
        retryable: c.retryable || c.fallback,
        retryAfterMs: c.retryAfterMs,
        cause: err,
      });
    } finally {
      await probe.giveBack();
      await release?.();
    }
  }

  /**
   * The semantic cache's question (the last user message; the rest of the conversation is
   * part of the scope), embedded with SPOOL_EMBED_MODEL through `embed` (limited, traced,
   * priced). A failed embedding skips the cache, never the call.
   */
  private async semanticQuery(
    scope: JobScope,
    question: string,
    scopeKey: unknown,
    step: string | undefined,
  ): Promise<SemanticQuery | undefined> {
    try {
      const { vectors, model } = await this.embed(scope, [question], { step });
      const vector = vectors[0];
      return vector ? { tenantId: scope.tenantId, scope: scopeKey, embeddingModel: model, vector } : undefined;
    } catch (err) {
      if (scope.signal.aborted) throw err;
      scope.log.warn({ err }, 'semantic cache skipped: the question could not be embedded');
      return undefined;
    }
  }

  private async cacheHit(
    base: TraceBase,
    ref: ModelRef,
    layer: 'exact' | 'semantic',
    hit: CachedAnswer,
    started: number,
    call: ChatCall,
  ): Promise<ChatCallResult> {
    modelCacheHits.inc({ layer });
    await this.trace(base, ref, { status: 'cached', cacheLayer: layer, latencyMs: Math.round(performance.now() - started) });
    if (call.stream) base.scope.emit({ text: hit.content });
    return {
      content: hit.content,
      model: hit.model,
      usage: { inputTokens: 0, outputTokens: 0, costUsd: 0 },
      cached: layer,
      fallbackUsed: false,
    };
  }

  /**
   * Whether `ref` may be called now: if not, why (`skip`, traced as a skipped call). Its circuit
   * is open, or a 429 whose Retry-After passed maxWaitMs paused it for every process: the call
   * that got that 429 moved on at once (onFailure), and so must later calls, instead of sitting
   * the pause (minutes or hours) out in limiter.admit. `probe`: this call is the half-open
   * breaker's one probe, and must give the breaker a verdict or give the slot back.
   */
  private async admit(
    base: TraceBase,
    ref: ModelRef,
    fallbackFrom: string | null,
  ): Promise<{ skip: Classified } | { probe: boolean }> {
    const name = refName(ref);
    const pausedMs = await this.limiter(ref).pausedMs();
    if (pausedMs > this.deps.config.retry.maxWaitMs) {
      const message = `rate limited for another ${pausedMs} ms`;
      await this.trace(base, ref, { status: 'skipped', errorClass: 'rate_limit', errorMessage: message, fallbackFrom });
      return {
        skip: {
          class: 'rate_limit',
          retryable: true,
          fallback: true,
          breaker: false,
          retryAfterMs: pausedMs,
          message: `${name}: ${message}`,
        },
      };
    }
    const admission = await this.breaker(ref).allow();
    modelBreakerState.set(this.labels(ref), STATE_VALUE[admission.state]);
    if (admission.allowed) return { probe: admission.state === 'half_open' };
    const message = `circuit open for another ${admission.retryInMs} ms`;
    await this.trace(base, ref, { status: 'skipped', errorClass: 'breaker_open', errorMessage: message, fallbackFrom });
    return {
      skip: {
        class: 'breaker_open',
        retryable: false,
        fallback: true,
        breaker: false,
        retryAfterMs: admission.retryInMs,
        message: `${name}: circuit open`,
      },
    };
  }

  /** One trace row (and the job's usage). A failed write is logged: it must not fail a paid call. */
  private async trace(base: TraceBase, ref: ModelRef, row: Partial<NewModelCall> & Pick<NewModelCall, 'status'>): Promise<void> {
    const { scope } = base;
    const outcome = row.status === 'error' ? (row.errorClass ?? 'error') : row.status;
    modelRequests.inc({ ...this.labels(ref), kind: base.kind, outcome });
    if (row.inputTokens) modelTokens.inc({ ...this.labels(ref), direction: 'input' }, row.inputTokens);
    if (row.outputTokens) modelTokens.inc({ ...this.labels(ref), direction: 'output' }, row.outputTokens);
    if (row.costUsd) modelCost.inc(this.labels(ref), row.costUsd);
    await insertModelCall(this.deps.db, {
      id: newId(),
      jobId: scope.jobId,
      tenantId: scope.tenantId,
      jobType: scope.type,
      step: base.step,
      attempt: scope.attempt,
      callTry: row.callTry ?? 1,
      kind: base.kind,
      provider: ref.provider,
      model: ref.model,
      promptVersion: base.promptVersion,
      inputTokens: 0,
      outputTokens: 0,
      costUsd: 0,
      latencyMs: 0,
      cacheLayer: null,
      fallbackFrom: null,
      errorClass: null,
      redacted: base.redacted,
      injectionSuspected: base.injectionSuspected,
      retrieval: null,
      ...row,
      // Provider error bodies can be long; the trace keeps the gist.
      errorMessage: row.errorMessage ? truncate(row.errorMessage, 500) : null,
    }).catch((err) => scope.log.warn({ err, jobId: scope.jobId }, 'trace write failed'));
  }
}

interface TraceBase {
  scope: JobScope;
  kind: 'chat' | 'embed';
  step: string | null;
  promptVersion: string | null;
  redacted: boolean;
  injectionSuspected: boolean;
}

/**
 * The half-open breaker's one probe slot, when this call holds it: a call that ends without a
 * verdict (canceled, refused by a spend cap) gives it back. Held, the model stayed skipped for
 * every caller until the slot lapsed (at least 30 s).
 */
function probeSlot(breaker: SharedBreaker, held: boolean) {
  let open = held;
  /** Gives the slot back unless judged. */
  const giveBack = async (): Promise<void> => {
    if (!open) return;
    open = false;
    await breaker.abandonProbe().catch(() => {}); // unreturned, it lapses on its own
  };
  return {
    giveBack,
    /** The breaker heard how the call went (success or failure): the slot is spent. */
    judged: () => {
      open = false;
    },
    /** `work`'s result; the slot given back if it fails (a spend cap refusing the call). */
    async unlessFails<T>(work: Promise<T>): Promise<T> {
      try {
        return await work;
      } catch (err) {
        await giveBack();
        throw err;
      }
    },
  };
}

/**
 * The breaker after a failed try. An error that counts against the provider (5xx, timeout…)
 * is a failure; any other (a 429, a 400) is an answer: the provider is up, so the breaker
 * closes. A half-open probe answered by a 429 used to leave the probe slot taken, and the
 * model looked open to every caller until the slot expired.
 */
async function breakerAfter(breaker: SharedBreaker, counts: boolean): Promise<BreakerState> {
  if (counts) return breaker.failure();
  await breaker.success();
  return 'closed';
}
