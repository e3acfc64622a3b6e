import { describe, expect, it } from 'vitest';
import { extractiveAnswer } from '../providers/local.ts';
import { tokens } from '../providers/tokens.ts';
import { groupForReduce, joinChunks, mapPrompt, reducePrompt, stripInstructionEcho, trimWords } from './summary.ts';
import { chunkText } from './text.ts';

describe('summary helpers', () => {
  it('groups partials so each group fits the window, at least two per group', () => {
    expect(groupForReduce([40, 40, 40, 40, 40], 100)).toEqual([[0, 1], [2, 3], [4]]);
    expect(groupForReduce([10, 10, 10], 100)).toEqual([[0, 1, 2]]);
    // A partial that alone fills the window still pairs up: every level shrinks the list.
    expect(groupForReduce([500, 500, 500], 100)).toEqual([[0, 1], [2]]);
    for (let n = 2; n < 40; n++) expect(groupForReduce(Array(n).fill(90), 100).length).toBeLessThan(n);
  });

  it('trims to a word count, keeping the line breaks of the text', () => {
    expect(trimWords('  one two   three ', 5)).toBe('one two   three');
    expect(trimWords('one two three four', 2)).toBe('one two…');
    expect(trimWords('- a.\n- b.', 10)).toBe('- a.\n- b.');
    expect(trimWords('- a.\n- b.\n- c.', 4)).toBe('- a.\n- b.…');
  });

  it('drops an echo of the instruction, not a summary’s own rule line', () => {
    // The extractive provider quotes a short text's sentences and then the instruction.
    const echoed = extractiveAnswer(mapPrompt('Cats sleep a lot.', 1, 1, 50));
    expect(echoed).toContain('Summarize the text above');
    expect(stripInstructionEcho(echoed)).toBe('Cats sleep a lot.');
    expect(stripInstructionEcho(extractiveAnswer(reducePrompt(['A is one.'], 20)))).toBe('A is one.');
    expect(stripInstructionEcho('Intro --- details follow.')).toBe('Intro --- details follow.');
    expect(stripInstructionEcho(extractiveAnswer(mapPrompt('A b. C d.', 1, 1, 50)))).toBe('A b. C d.');
  });

  it('rebuilds a document from overlapping chunks without repeating the overlap', () => {
    const text = Array.from({ length: 40 }, (_, i) => `Sentence ${i} is about topic ${i % 5}.`).join(' ');
    const chunks = chunkText(text, 40, 12, tokens).map((c) => c.text);
    expect(chunks.length).toBeGreaterThan(4);
    const joined = joinChunks(chunks);
    for (let i = 0; i < 40; i++) expect(joined.split(`Sentence ${i} is`).length - 1).toBe(1);
    expect(joined.replace(/\s+/g, ' ')).toBe(text);
    // Without overlap the chunks are kept whole.
    expect(joinChunks(['A b.', 'C d.'])).toBe('A b.\nC d.');
  });
});
