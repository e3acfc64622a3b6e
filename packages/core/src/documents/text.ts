/**
 * Document text: HTML stripped to text, and token-bounded chunks with overlap (whole
 * sentences where they fit; a sentence longer than a chunk is cut by tokens).
 */
import { createHash } from 'node:crypto';
import { SENTENCES, type Tokens } from '../providers/tokens.ts';

export type ContentType = 'text' | 'markdown' | 'html';

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: ' ' };

const TAG_START = /<[A-Za-z/!?]/y;
const RAW_TEXT = /<(script|style|noscript|template)\b/iy;
const BLOCK_TAG = /<\/?(?:p|div|br|li|ul|ol|h[1-6]|tr|table|section|article|header|footer|blockquote|pre)\b/iy;

/**
 * HTML → text: scripts, styles and comments dropped, block tags become line breaks, other tags
 * spaces, entities decoded. One pass, each character looked at once or twice: regexes with a
 * lazy `[\s\S]*?` rescanned to the end from every unclosed `<!--` or `<a`, so 128 KiB of them
 * took 6 s of a worker's event loop (outside audit). As in a browser, a `<` that starts no tag
 * (`a < b`) is text, and an unclosed comment, script or tag runs to the end.
 */
export function htmlToText(html: string): string {
  let out = '';
  let i = 0;
  while (i < html.length) {
    const lt = html.indexOf('<', i);
    if (lt < 0) {
      out += html.slice(i);
      break;
    }
    out += html.slice(i, lt);
    TAG_START.lastIndex = lt;
    if (!TAG_START.test(html)) {
      out += '<';
      i = lt + 1;
      continue;
    }
    RAW_TEXT.lastIndex = lt;
    BLOCK_TAG.lastIndex = lt;
    const raw = RAW_TEXT.exec(html);
    if (html.startsWith('<!--', lt) || html.startsWith('<![CDATA[', lt)) {
      const end = html[lt + 2] === '-' ? '-->' : ']]>';
      const close = html.indexOf(end, lt + 4);
      i = close < 0 ? html.length : close + 3;
    } else if (raw) {
      const close = new RegExp(`</${raw[1]}\\s*>`, 'gi');
      close.lastIndex = RAW_TEXT.lastIndex;
      i = close.exec(html) ? close.lastIndex : html.length;
    } else i = tagEnd(html, lt + 1);
    out += BLOCK_TAG.test(html) ? '\n' : ' ';
  }
  return out.replace(/&(#x[0-9a-f]+|#\d+|[a-z]+);/gi, (m, e: string) => {
    if (e[0] === '#') {
      const code = e[1] === 'x' || e[1] === 'X' ? Number.parseInt(e.slice(2), 16) : Number.parseInt(e.slice(1), 10);
      return Number.isFinite(code) && code > 0 && code <= 0x10ffff ? String.fromCodePoint(code) : ' ';
    }
    return ENTITIES[e.toLowerCase()] ?? m;
  });
}

/**
 * Just past the `>` that ends a tag, skipping quoted attribute values: `<a title="x > y">`
 * ended at the `>` inside the quotes, and the rest of the tag became text. Each character is
 * looked at once; an unclosed quote or tag runs to the end, as in a browser.
 */
function tagEnd(html: string, from: number): number {
  for (let j = from; j < html.length; j++) {
    const c = html[j];
    if (c === '>') return j + 1;
    if (c !== '=') continue;
    while (html[j + 1] === ' ' || html[j + 1] === '\t' || html[j + 1] === '\n') j++;
    const quote = html[j + 1];
    if (quote === '"' || quote === "'") {
      const close = html.indexOf(quote, j + 2);
      if (close < 0) return html.length;
      j = close;
    }
  }
  return html.length;
}

/** A document that opens with a page, or with a block or heading element, is HTML. */
const looksLikeHtml = (s: string) =>
  /^\s*(<!doctype html|<(html|head|body|div|p|article|section|main|header|nav|h[1-6]|ul|ol|table|blockquote|pre|figure)\b)/i.test(
    s,
  );

/** The text to chunk: HTML stripped (declared or detected), whitespace normalized. */
export function normalizeText(text: string, type?: ContentType): string {
  const raw = type === 'html' || (type === undefined && looksLikeHtml(text)) ? htmlToText(text) : text;
  return raw
    .replace(/\r\n?/g, '\n')
    .replace(/[ \t\f\v]+/g, ' ')
    .replace(/ *\n */g, '\n')
    .replace(/\n{3,}/g, '\n\n')
    .trim();
}

export interface Chunk {
  index: number;
  text: string;
  tokens: number;
  hash: string;
}

export const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

/**
 * Greedy packing of sentences into chunks of at most `maxTokens`; each chunk after the first
 * starts with the trailing sentences of the previous one that fit in `overlapTokens`.
 */
export function chunkText(text: string, maxTokens: number, overlapTokens: number, tokens: Tokens): Chunk[] {
  const pieces: { text: string; n: number }[] = [];
  for (const sentence of text.match(SENTENCES) ?? []) {
    const n = tokens.count(sentence);
    if (n <= maxTokens) pieces.push({ text: sentence, n });
    else for (const part of tokens.chunk(sentence, maxTokens)) pieces.push({ text: `${part} `, n: tokens.count(`${part} `) });
  }
  const out: string[] = [];
  let current: { text: string; n: number }[] = [];
  let size = 0;
  let fresh = 0; // pieces in `current` that no earlier chunk holds
  for (const p of pieces) {
    if (size + p.n > maxTokens && fresh > 0) {
      out.push(current.map((c) => c.text).join(''));
      const carried: { text: string; n: number }[] = [];
      let carriedSize = 0;
      for (let i = current.length - 1; i >= 0; i--) {
        const c = current[i]!;
        if (carriedSize + c.n > overlapTokens || carriedSize + c.n + p.n > maxTokens) break;
        carried.unshift(c);
        carriedSize += c.n;
      }
      current = carried;
      size = carriedSize;
      fresh = 0;
    }
    current.push(p);
    size += p.n;
    fresh++;
  }
  if (fresh > 0) out.push(current.map((c) => c.text).join(''));
  return out
    .map((t) => t.trim())
    .filter(Boolean)
    .map((t, index) => ({ index, text: t, tokens: tokens.count(t), hash: sha256(t) }));
}
