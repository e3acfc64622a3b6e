/** Job ids: UUIDv7, unique, and increasing within a process (they are the keyset cursor). */
import { describe, expect, it } from 'vitest';
import { newId } from './ids.ts';

describe('newId', () => {
  it('makes version-7 UUIDs that carry the time and increase strictly, across pool refills', () => {
    const before = Date.now();
    // Several times the random pool, so refills happen mid-sequence.
    const ids = Array.from({ length: 5_000 }, newId);
    const after = Date.now();
    for (const id of ids) expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    for (let i = 1; i < ids.length; i++) expect(ids[i]! > ids[i - 1]!).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
    const ms = (id: string) => Number.parseInt(id.replaceAll('-', '').slice(0, 12), 16);
    expect(ms(ids[0]!)).toBeGreaterThanOrEqual(before);
    expect(ms(ids.at(-1)!)).toBeLessThanOrEqual(after);
  });

  it('draws fresh randomness for every id (its last 32 bits), not only a counter', () => {
    // 2,000 draws of 32 bits: a repeat is rare (p ≈ 0.0005), a constant pool repeats them all.
    const tails = new Set(Array.from({ length: 2_000 }, () => newId().slice(-8)));
    expect(tails.size).toBeGreaterThan(1_990);
  });
});
