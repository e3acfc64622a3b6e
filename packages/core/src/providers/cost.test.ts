import { describe, expect, it } from 'vitest';
import { costUsd, DEFAULT_PRICES, parsePrices, priceOf } from './cost.ts';

describe('cost', () => {
  it('prices by exact name, then as a dated snapshot of a priced model', () => {
    expect(priceOf(DEFAULT_PRICES, 'openai', 'gpt-4o-mini')).toEqual({ input: 0.15, output: 0.6 });
    expect(priceOf(DEFAULT_PRICES, 'openai', 'gpt-4o-mini-2024-07-18')).toEqual({ input: 0.15, output: 0.6 });
    expect(priceOf(DEFAULT_PRICES, 'openai', 'gpt-4o-2024-08-06')).toEqual({ input: 2.5, output: 10 });
    expect(priceOf(DEFAULT_PRICES, 'openai', 'llama3')).toBeUndefined();
    expect(priceOf({ 'gpt-4': { input: 30, output: 60 } }, 'openai', 'gpt-4-0613')).toEqual({ input: 30, output: 60 });
    // Other models whose names start like a priced one cost something else: not priced as it.
    for (const other of ['gpt-4o-audio-preview', 'o4-mini-deep-research', 'gpt-4o-2024-05-13-preview', 'gpt-4o-mini-tts']) {
      expect(priceOf(DEFAULT_PRICES, 'openai', other), other).toBeUndefined();
    }
    expect(priceOf(DEFAULT_PRICES, 'local', 'anything')).toEqual({ input: 0, output: 0 });
  });

  it('computes USD per 1M tokens', () => {
    expect(costUsd({ input: 0.15, output: 0.6 }, { inputTokens: 1_000_000, outputTokens: 500_000 })).toBe(0.45);
    expect(costUsd({ input: 0.15, output: 0.6 }, { inputTokens: 10, outputTokens: 5 })).toBe(0.0000045);
    expect(costUsd(undefined, { inputTokens: 10, outputTokens: 5 })).toBe(0);
  });

  it('parses overrides and rejects bad rows', () => {
    expect(parsePrices('llama3=1/2, openai:gpt-4o=3/12')).toEqual({
      llama3: { input: 1, output: 2 },
      'openai:gpt-4o': { input: 3, output: 12 },
    });
    expect(priceOf({ ...DEFAULT_PRICES, ...parsePrices('openai:gpt-4o=3/12') }, 'openai', 'gpt-4o')).toEqual({
      input: 3,
      output: 12,
    });
    expect(() => parsePrices('llama3=free')).toThrow(/model=input\/output/);
  });
});
