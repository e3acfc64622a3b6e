import { describe, expect, it } from 'vitest';
import { chunkByTokens, countChatTokens, countTokens, encodingFor } from './tokens.ts';

describe('tokens', () => {
  it('counts with the model’s encoding', () => {
    expect(encodingFor('gpt-4o-mini')).toBe('o200k_base');
    expect(encodingFor('openai:gpt-4o')).toBe('o200k_base');
    expect(encodingFor('gpt-3.5-turbo')).toBe('cl100k_base');
    expect(countTokens('hello world', 'gpt-4o-mini')).toBe(2);
    expect(countTokens('')).toBe(0);
  });

  it('adds the chat framing', () => {
    const n = countChatTokens([{ role: 'user', content: 'hello world' }], 'gpt-4o-mini');
    expect(n).toBe(3 + 3 + 2 + 1);
  });

  it('chunks on sentences within the limit', () => {
    const text = 'One sentence here. Another one follows! And a third? '.repeat(20);
    const chunks = chunkByTokens(text, 30);
    expect(chunks.length).toBeGreaterThan(3);
    for (const c of chunks) expect(countTokens(c)).toBeLessThanOrEqual(30);
    expect(chunks.join(' ').replace(/\s+/g, ' ')).toBe(text.trim().replace(/\s+/g, ' '));
  });

  it('cuts a sentence longer than the limit', () => {
    const chunks = chunkByTokens('word '.repeat(100), 10);
    expect(chunks.length).toBeGreaterThanOrEqual(10);
    for (const c of chunks) expect(countTokens(c)).toBeLessThanOrEqual(10);
  });
});
