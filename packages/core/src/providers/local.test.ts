import { describe, expect, it } from 'vitest';
import {
  cosine,
  createLocalProvider,
  extractiveAnswer,
  INSTANCE_LIMITS,
  instanceOf,
  LOCAL_EMBED_DIM,
  localEmbedding,
} from './local.ts';

const signal = new AbortController().signal;

describe('local provider', () => {
  it('answers extractively from the conversation, deterministically', async () => {
    const messages = [
      { role: 'system' as const, content: 'Paris is the capital of France. Berlin is the capital of Germany. Cats sleep a lot.' },
      { role: 'user' as const, content: 'What is the capital of Germany?' },
    ];
    expect(extractiveAnswer(messages)).toBe('Berlin is the capital of Germany.');
    const p = createLocalProvider();
    const a = await p.chat({ model: 'local', messages }, { signal });
    const b = await p.chat({ model: 'local', messages }, { signal });
    expect(a).toEqual(b);
    expect(a.usage.inputTokens).toBeGreaterThan(10);
    expect(a.usage.outputTokens).toBeGreaterThan(5);
  });

  it('summarizes the question itself when there is no other text', () => {
    expect(extractiveAnswer([{ role: 'user', content: 'First point. Second point. Third. Fourth.' }])).toBe(
      'First point. Second point. Third.',
    );
  });

  it('streams the same text it returns', async () => {
    const pieces: string[] = [];
    const r = await createLocalProvider().chat(
      { model: 'local', messages: [{ role: 'user', content: 'Stream these words please.' }] },
      { signal, onDelta: (t) => pieces.push(t) },
    );
    expect(pieces.length).toBeGreaterThan(1);
    expect(pieces.join('')).toBe(r.content);
  });

  it('fills a JSON Schema', () => {
    const schema = {
      type: 'object',
      properties: {
        title: { type: 'string', maxLength: 5 },
        count: { type: 'integer', minimum: 1 },
        tags: { type: 'array', items: { type: 'string' }, minItems: 1 },
        kind: { enum: ['a', 'b'] },
        ok: { type: 'boolean' },
      },
    };
    expect(instanceOf(schema, 'hello world')).toEqual({ title: 'hello', count: 1, tags: ['hello world'], kind: 'a', ok: false });
  });

  it('fills a schema that asks for more than an answer can hold only up to INSTANCE_LIMITS', () => {
    const huge = instanceOf({ type: 'array', minItems: 1e9, items: { type: 'integer' } }, 'x') as unknown[];
    expect(huge).toHaveLength(INSTANCE_LIMITS.values - 1);
    const cube = {
      type: 'array',
      minItems: 1000,
      items: { type: 'array', minItems: 1000, items: { type: 'array', minItems: 1000 } },
    };
    expect(JSON.stringify(instanceOf(cube, 'x')).length).toBeLessThan(100_000);
    const fields = Object.fromEntries(Array.from({ length: 500 }, (_, i) => [`f${i}`, { type: 'string', minLength: 1e8 }]));
    const filled = JSON.stringify(instanceOf({ type: 'object', properties: fields }, 'a'.repeat(1_000_000)));
    expect(filled.length).toBeLessThan(INSTANCE_LIMITS.chars + 10_000);
  });

  it('embeds into a fixed, normalized space where near-duplicates are close', () => {
    const a = localEmbedding('What is the capital of France?');
    const b = localEmbedding('what is the capital of france');
    const c = localEmbedding('How do I bake sourdough bread at home?');
    expect(a).toHaveLength(LOCAL_EMBED_DIM);
    expect(Math.hypot(...a)).toBeCloseTo(1, 6);
    expect(cosine(a, b)).toBeGreaterThan(0.99);
    expect(cosine(a, c)).toBeLessThan(0.5);
    expect(localEmbedding('same text')).toEqual(localEmbedding('same text'));
  });
});
