import { describe, expect, it } from 'vitest';
import { contentWords, lexicalRerank } from './rerank.ts';

describe('lexicalRerank', () => {
  const hits = [
    { id: 'a', text: 'Trains in Japan are fast.', score: 0.9 },
    { id: 'b', text: 'Mount Etna is an active volcano in Sicily.', score: 0.5 },
    { id: 'c', text: 'Sicily has beaches.', score: 0.7 },
  ];

  it('puts the chunk sharing most of the question’s content words first', () => {
    const out = lexicalRerank('Which volcano in Sicily is active?', hits);
    expect(out.map((h) => h.id)).toEqual(['b', 'c', 'a']);
    expect(out.map((h) => h.rerankScore)).toEqual([1, 0.333333, 0]);
  });

  it('breaks ties by vector score, then by original rank, and is deterministic', () => {
    const tied = [
      { id: 'x', text: 'nothing shared', score: 0.2 },
      { id: 'y', text: 'nothing here', score: 0.8 },
      { id: 'z', text: 'nothing again', score: 0.8 },
    ];
    const once = lexicalRerank('volcano', tied).map((h) => h.id);
    expect(once).toEqual(['y', 'z', 'x']);
    expect(lexicalRerank('volcano', tied).map((h) => h.id)).toEqual(once);
  });

  it('ignores case, punctuation and stop words', () => {
    expect([...contentWords('What is THE Shinkansen, and how fast?')].sort()).toEqual(['fast', 'shinkansen']);
  });
});
