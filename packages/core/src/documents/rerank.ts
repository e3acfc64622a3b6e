/**
 * A deterministic lexical rerank of retrieved candidates: the share of the question's content
 * words that a chunk contains. Cheap and model-free, so it behaves the same with the `local`
 * provider and in tests; vector similarity breaks ties. A cross-encoder reranker would slot in
 * here behind the same signature.
 */

// Words that carry no topic: matching them says nothing about relevance.
const STOP_WORDS = new Set(
  'the and for are was were with that this from what which who whom whose when where why how does did has have had not but you your its into about than then them they their there these those can could would should will shall may might must our out all any'.split(
    ' ',
  ),
);

/** Lower-cased content words of at least three letters (letters and digits of any script). */
export function contentWords(text: string): Set<string> {
  const words = text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? [];
  return new Set(words.filter((w) => w.length >= 3 && !STOP_WORDS.has(w)));
}

/**
 * Orders `hits` by the share of the question's content words each contains (0–1, as
 * `rerankScore`), then by their vector `score`, then by their original rank: the same input
 * gives the same order every time.
 */
export function lexicalRerank<T extends { text: string; score: number }>(
  question: string,
  hits: T[],
): (T & { rerankScore: number })[] {
  const asked = contentWords(question);
  return hits
    .map((hit, rank) => {
      const words = contentWords(hit.text);
      let shared = 0;
      for (const w of asked) if (words.has(w)) shared++;
      const rerankScore = asked.size === 0 ? 0 : Math.round((shared / asked.size) * 1e6) / 1e6;
      return { hit: { ...hit, rerankScore }, rank };
    })
    .sort((a, b) => b.hit.rerankScore - a.hit.rerankScore || b.hit.score - a.hit.score || a.rank - b.rank)
    .map((x) => x.hit);
}
