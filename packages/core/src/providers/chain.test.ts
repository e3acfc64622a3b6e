import { describe, expect, it } from 'vitest';
import { defaultChatModels, parseChain, parseModelRef, resolveChain } from './chain.ts';

describe('model chain', () => {
  it('parses references', () => {
    expect(parseModelRef('openai:gpt-4o-mini')).toEqual({ provider: 'openai', model: 'gpt-4o-mini' });
    expect(parseModelRef('local')).toEqual({ provider: 'local', model: 'local' });
    expect(parseModelRef('gpt-4o')).toEqual({ provider: 'openai', model: 'gpt-4o' });
    expect(parseModelRef('openai:llama3:8b')).toEqual({ provider: 'openai', model: 'llama3:8b' });
    expect(() => parseModelRef('anthropic:claude')).toThrow(/unknown provider/);
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
