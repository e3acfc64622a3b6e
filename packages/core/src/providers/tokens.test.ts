import { get_encoding } from 'tiktoken';
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

  it('counts long runs without a space in bounded time, and ordinary text beside them as tiktoken does', () => {
    // Unsplit, tiktoken took minutes over these (quadratic in a piece's length).
    expect(countTokens('a'.repeat(1_000_000), 'gpt-4o-mini')).toBe(125_000);
    expect(countTokens('中'.repeat(300_000), 'gpt-4o-mini')).toBe(300_000);
    expect(countTokens(' '.repeat(1_000_000))).toBeGreaterThan(0);
    expect(countTokens('😀'.repeat(200_000))).toBeGreaterThan(0);
    expect(chunkByTokens('b'.repeat(500_000), 1_000).length).toBeGreaterThan(50);
    // Beside a long run, ordinary text is cut only before its words: the count is tiktoken's
    // own, give or take a token where the run itself is cut.
    const prose = 'The quick brown fox jumps over the lazy dog, and then it rests. '.repeat(50);
    const text = `${prose}\n${'x'.repeat(1_000)}\n${prose}`;
    const exact = get_encoding('o200k_base').encode_ordinary(text).length;
    const windowed = countTokens(text, 'gpt-4o-mini');
    expect(windowed).toBeGreaterThanOrEqual(exact);
    expect(windowed).toBeLessThanOrEqual(exact + 1_000 / 128);
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
