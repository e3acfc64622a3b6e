/**
 * The pure parts of map-reduce summarization: the prompts, how partial summaries are grouped
 * into reduce calls that each fit one context window, word trimming, and rebuilding a stored
 * document's text from its overlapping chunks. The `summarize` job (jobs/summarize.job.ts)
 * runs the model calls.
 */
import type { ChatMessage } from '../providers/types.ts';

export const SUMMARIZE_PROMPT_VERSION = 'summarize-v1';

// The instruction comes after the text, behind a marker line: a model reads the whole text
// first, and the extractive `local` provider (which quotes the leading sentences of a lone
// user message) quotes the text rather than the instruction.
const MARKER = '\n\n---\n';

/** The one message of a map call: summarize a part of a longer text. */
export function mapPrompt(text: string, part: number, parts: number, words: number): ChatMessage[] {
  const where = parts > 1 ? ` This is part ${part} of ${parts} of a longer text.` : '';
  return [
    {
      role: 'user',
      content: `${text}${MARKER}Summarize the text above in at most ${words} words, keeping its key facts.${where} Reply with the summary only.`,
    },
  ];
}

/** The one message of a reduce call: merge partial summaries (in text order) into one. */
export function reducePrompt(partials: string[], words: number): ChatMessage[] {
  return [
    {
      role: 'user',
      content: `${partials.join('\n\n')}${MARKER}Combine the partial summaries above, which follow the order of the original text, into one summary of at most ${words} words. Reply with the summary only.`,
    },
  ];
}

/** Tokens the instruction adds to a call (an upper bound, for the window arithmetic). */
export const PROMPT_OVERHEAD_TOKENS = 64;

/** The answer's token cap for a summary of `words` words (~1.3 tokens a word in English, with room). */
export const answerTokens = (words: number) => Math.ceil(words * 2) + 16;

/**
 * Drops an echo of our own instruction: a model (or the extractive provider, on a text of
 * fewer sentences than it quotes) may repeat it. Only the marker followed by our wording, or
 * left alone at the very end, is cut.
 */
export function stripInstructionEcho(content: string): string {
  return content.replace(/\s*-{3,}(\s*(Summarize the text above|Combine the partial summaries)[\s\S]*)?\s*$/, '').trim();
}

/**
 * The first `max` words of `text` (whitespace-separated), with `…` when it was cut. The text
 * keeps its own spacing: re-joined with single spaces, a bulleted summary became one line.
 */
export function trimWords(text: string, max: number): string {
  const trimmed = text.trim();
  const words = /\S+/g;
  for (let n = 0; words.exec(trimmed) !== null; ) if (++n === max) break;
  const end = words.lastIndex;
  return end === 0 || end >= trimmed.length ? trimmed : `${trimmed.slice(0, end)}…`;
}

/**
 * Groups consecutive partial summaries so each group's tokens fit `windowTokens`. Every group
 * but a lone leftover holds at least two partials, so each reduce level strictly shrinks the
 * list and the recursion ends even when a partial alone fills the window (the caller trims).
 */
export function groupForReduce(partialTokens: number[], windowTokens: number): number[][] {
  const groups: number[][] = [];
  let current: number[] = [];
  let size = 0;
  partialTokens.forEach((n, i) => {
    if (current.length >= 2 && size + n > windowTokens) {
      groups.push(current);
      current = [];
      size = 0;
    }
    current.push(i);
    size += n;
  });
  if (current.length > 0) groups.push(current);
  return groups;
}

/**
 * A stored document's text from its chunks in order. Ingest makes each chunk start with the
 * last sentences of the one before (the overlap); those are dropped so no sentence counts
 * twice. An overlap is recognized only when it ends at a sentence or line end.
 */
export function joinChunks(chunks: string[]): string {
  let out = '';
  let prev = '';
  for (const chunk of chunks) {
    let start = 0;
    // Candidate overlap ends: sentence ends, longest first (few per chunk, so this stays linear-ish).
    const ends = [...chunk.matchAll(/[.!?\n](?=\s|$)/g)].map((m) => m.index + 1).reverse();
    for (const k of ends) {
      if (k <= prev.length && prev.endsWith(chunk.slice(0, k))) {
        start = k;
        break;
      }
    }
    const rest = chunk.slice(start).trim();
    if (rest) out += out ? `\n${rest}` : rest;
    prev = chunk;
  }
  return out;
}
