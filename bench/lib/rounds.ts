/**
 * A goal measured in rounds interleaved with its baseline (scenarios/http.ts, drain.ts): both
 * sides up at once, baseline then Spool, Spool then baseline, and so on. This host's speed
 * drifts by tens of percent within minutes (other tenants of the hypervisor); measured minutes
 * apart, a ratio moved with that drift as much as with Spool. Every round's ratio is kept, so
 * the report shows the spread next to the pooled ratio.
 */

/** One goal's rounds: each side pooled over its rounds, and each round's Spool ÷ baseline. */
export interface Paired<B, S = B> {
  baseline: B;
  spool: S;
  ratios: number[];
}

/**
 * `n` rounds in the order B S, S B, B S, …: a drift that is steady over a pair of rounds
 * slows each side alike.
 */
export async function rounds<B, S, PB, PS>(
  n: number,
  side: {
    baseline: (round: number) => Promise<B>;
    spool: (round: number) => Promise<S>;
    /** The measure whose ratio is the goal. */
    value: (r: B | S) => number;
    /** How each side's rounds become one result. */
    pool: [(r: B[]) => PB, (r: S[]) => PS];
  },
): Promise<Paired<PB, PS>> {
  const b: B[] = [];
  const sp: S[] = [];
  for (let i = 0; i < n; i++) {
    if (i % 2 === 0) {
      b.push(await side.baseline(i));
      sp.push(await side.spool(i));
    } else {
      sp.push(await side.spool(i));
      b.push(await side.baseline(i));
    }
  }
  return { baseline: side.pool[0](b), spool: side.pool[1](sp), ratios: b.map((x, i) => side.value(sp[i]!) / side.value(x)) };
}
