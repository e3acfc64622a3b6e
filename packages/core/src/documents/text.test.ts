import { describe, expect, it } from 'vitest';
import { tokens } from '../providers/tokens.ts';
import { chunkText, htmlToText, normalizeText } from './text.ts';

describe('document text', () => {
  it('strips HTML to text (scripts, styles, comments, entities)', () => {
    const text = normalizeText(
      '<html><head><style>p{}</style></head><body><p>A &amp; B</p><!-- x --><script>evil()</script><p>C&#33;</p></body></html>',
    );
    expect(text).toBe('A & B\n\nC!');
    expect(htmlToText('<b>bold</b> text')).toBe(' bold  text');
    // Markdown and plain text are kept as they are.
    expect(normalizeText('# Title\n\n- a <b>tag</b>', 'markdown')).toBe('# Title\n\n- a <b>tag</b>');
  });

  it('chunks by tokens with sentence overlap', () => {
    const text = Array.from({ length: 60 }, (_, i) => `Sentence number ${i} talks about topic ${i % 7}.`).join(' ');
    const chunks = chunkText(text, 50, 15, tokens);
    expect(chunks.length).toBeGreaterThan(5);
    for (const c of chunks) expect(c.tokens).toBeLessThanOrEqual(50);
    // Each chunk after the first starts with the last sentence of the one before.
    for (let i = 1; i < chunks.length; i++) {
      const last = chunks[i - 1]!.text.match(/Sentence number \d+[^.]*\.$/)![0];
      expect(chunks[i]!.text.startsWith(last)).toBe(true);
    }
    // Every sentence is somewhere; the same text gives the same chunks and hashes.
    for (let i = 0; i < 60; i++) expect(chunks.some((c) => c.text.includes(`number ${i} `))).toBe(true);
    expect(chunkText(text, 50, 15, tokens)).toEqual(chunks);
    // A sentence longer than a chunk is cut by tokens.
    const long = chunkText('word '.repeat(300), 40, 0, tokens);
    expect(long.every((c) => c.tokens <= 40)).toBe(true);
  });
});
