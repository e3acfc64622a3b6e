import { describe, expect, it } from 'vitest';
import { ModelCatalog } from './catalog.ts';
import { parseChain, parseModelRef } from './chain.ts';
import { DEFAULT_PRICES, parsePrices } from './cost.ts';

const catalog = (chain = 'local', prices = '') =>
  new ModelCatalog({
    chatModels: parseChain(chain),
    embedModel: parseModelRef('local'),
    prices: { ...DEFAULT_PRICES, ...parsePrices(prices) },
  });
const label = (c: ModelCatalog, raw: string) => c.label(parseModelRef(raw));

describe('model catalog', () => {
  it('offers the configured models and the priced ones, and nothing else', () => {
    const c = catalog('openai:llama3,local', 'mistral=0/0');
    for (const ok of ['local', 'openai:gpt-4o-mini', 'gpt-4o', 'openai:llama3', 'openai:mistral', 'text-embedding-3-small'])
      expect(() => c.check(ok), ok).not.toThrow();
    // Unpriced: free past every spend cap. `local:x` is not the local model; the `local` price row
    // does not price a remote model whose name starts with it.
    for (const bad of ['openai:no-such-model', 'openai:llama2', 'local:free-text', 'openai:local-7b'])
      expect(() => c.check(bad), bad).toThrow(expect.objectContaining({ code: 'unknown_model', status: 422, retryable: false }));
    expect(() => c.check('openai:nope', 'jobs[3]: ')).toThrow(/^jobs\[3\]: model "openai:nope" is not offered here/);
  });

  it('labels metrics from a bounded set: a snapshot by its price row', () => {
    const c = catalog('openai:llama3,local');
    expect(label(c, 'openai:gpt-4o-mini-2024-07-18')).toBe('gpt-4o-mini');
    expect(label(c, 'openai:gpt-4o-2024-08-06')).toBe('gpt-4o');
    expect(label(c, 'openai:llama3')).toBe('llama3');
    expect(label(c, 'local')).toBe('local');
    expect(label(c, 'openai:whatever')).toBeUndefined();
    expect(c.offered()).toEqual(expect.arrayContaining(['openai:llama3', 'local', 'openai:gpt-4o-mini']));
  });
});
