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
    expect(htmlToText('a < b and c <= d<br/>e')).toBe('a < b and c <= d\ne');
    expect(htmlToText('x<!-- never closed <p>gone')).toBe('x ');
    expect(htmlToText('x<SCRIPT>1</script >y<a href="z"')).toBe('x y ');
    // A document that opens with a heading is HTML too; a quoted attribute's `>` ends no tag; a
    // CDATA section is dropped whole.
    expect(normalizeText('<h1>Pump manual</h1><p>Check the valve &amp; the seal.</p>')).toBe(
      'Pump manual\n\nCheck the valve & the seal.',
    );
    expect(htmlToText('<a title="x > y" href=\'/z\'>link</a>')).toBe(' link ');
    expect(htmlToText('a<![CDATA[ x > y ]]>b')).toBe('a b');
    expect(htmlToText('a<b title="never closed>b')).toBe('a ');
    // Markdown and plain text are kept as they are.
    expect(normalizeText('# Title\n\n- a <b>tag</b>', 'markdown')).toBe('# Title\n\n- a <b>tag</b>');
  });

  it('strips 1 MiB of unclosed comments, scripts or tags without holding the event loop', () => {
    for (const unit of ['<!--', '<script>', '<a', '<a>']) {
      const html = `<html>${unit.repeat(Math.floor((1024 * 1024) / unit.length))}`;
      const started = performance.now();
      expect(normalizeText(html), unit).toBe('');
      // A hang guard, not a benchmark: lazy regexes took minutes here (0.3–6 s at 128 KiB), one
      // pass takes milliseconds; 5 s leaves a loaded machine a hundredfold margin.
      expect(performance.now() - started, unit).toBeLessThan(5_000);
    }
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
    // No character is lost: marks that open a sentence or stand alone are kept.
    const marks = '.NET is a framework. ...and then! ![diagram](d.png) ??? Done.';
    expect(chunkText(marks, 50, 0, tokens).map((c) => c.text)).toEqual([marks]);
    expect(chunkText('???', 50, 0, tokens).map((c) => c.text)).toEqual(['???']);
    // A sentence longer than a chunk is cut by tokens.
    const long = chunkText('word '.repeat(300), 40, 0, tokens);
    expect(long.every((c) => c.tokens <= 40)).toBe(true);
  });
});

describe('chunking text whose sentences are longer than a chunk', () => {
  it('cuts between characters: emoji and CJK take several tokens each, and a cut inside one made U+FFFD', () => {
    const emoji = '🌋🔥'.repeat(300);
    const chunks = chunkText(emoji, 50, 0, tokens);
    expect(chunks.length).toBeGreaterThan(1);
    expect(chunks.map((c) => c.text).join('')).toBe(emoji);
    for (const c of chunks) expect(c.tokens).toBeLessThanOrEqual(50);
  });

  it('ends sentences at 。！？ too, so Chinese text is chunked on sentences, every character intact', () => {
    const sentence = '火山是地壳中的岩浆喷出地表形成的山体，埃特纳火山位于意大利西西里岛，是欧洲最活跃的火山之一。';
    const chunks = chunkText(normalizeText(sentence.repeat(20)), 64, 0, tokens);
    expect(chunks.length).toBeGreaterThan(1);
    for (const c of chunks) {
      expect(c.text).not.toContain('\uFFFD');
      expect(c.text.endsWith('。')).toBe(true);
    }
  });
});
