import { describe, expect, it } from 'vitest';
import { defaultChatModels, ModelRefInput, parseChain, parseModelRef, resolveChain } from './chain.ts';

describe('model chain', () => {
  it('parses references', () => {
    expect(parseModelRef('openai:gpt-4o-mini')).toEqual({ provider: 'openai', model: 'gpt-4o-mini' });
    expect(parseModelRef('local')).toEqual({ provider: 'local', model: 'local' });
    expect(parseModelRef('gpt-4o')).toEqual({ provider: 'openai', model: 'gpt-4o' });
    expect(parseModelRef('openai:llama3:8b')).toEqual({ provider: 'openai', model: 'llama3:8b' });
    expect(() => parseModelRef('anthropic:claude')).toThrow(/unknown provider/);
    expect(() => parseModelRef(':')).toThrow(/no provider named/);
    expect(() => parseModelRef('local:')).toThrow(/no model named/);
  });

  it("checks a job input's model reference the same way", () => {
    for (const ok of ['local', 'openai:gpt-4o-mini', 'text-embedding-3-small'])
      expect(ModelRefInput.safeParse(ok).success, ok).toBe(true);
    for (const bad of ['bogus:zzz', ':', 'local:', '']) expect(ModelRefInput.safeParse(bad).success, bad).toBe(false);
    expect(ModelRefInput.safeParse('bogus:zzz').error?.issues[0]?.message).toMatch(/unknown provider "bogus"/);
  });

  it('puts a requested model before the configured fallback', () => {
    const chain = parseChain('openai:gpt-4o-mini, local');
    expect(resolveChain(chain)).toEqual(chain);
    expect(resolveChain(chain, 'openai:gpt-4o')).toEqual([
      { provider: 'openai', model: 'gpt-4o' },
      { provider: 'openai', model: 'gpt-4o-mini' },
      { provider: 'local', model: 'local' },
    ]);
    expect(resolveChain(chain, 'local')).toEqual([
      { provider: 'local', model: 'local' },
      { provider: 'openai', model: 'gpt-4o-mini' },
    ]);
  });

  it('defaults to local without OpenAI configuration', () => {
    expect(defaultChatModels(false)).toBe('local');
    expect(parseChain(defaultChatModels(true)).map((r) => r.provider)).toEqual(['openai', 'local']);
  });
});
