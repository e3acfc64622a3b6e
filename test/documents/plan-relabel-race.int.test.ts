/**
 * Two ingest plans of one document at once: an older plan's row write, chunk deletes and
 * relabels are one transaction, so a newer plan comes wholly after it. As three statements
 * (an outside audit), an older plan whose last two landed after a newer ingest had planned and
 * finished deleted the newer version's chunks and put its own access level back on them.
 */
import { upsertDocument } from '@spool/core/documents/store';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshPglite } from '../support/pglite.ts';
import { client, type Stack, startStack } from '../support/stack.ts';

describe('concurrent ingest plans of one document', () => {
  let stack: Stack;
  let api: ReturnType<typeof client>;
  let tenantId: string;

  beforeAll(async () => {
    stack = await startStack({ database: await freshPglite() });
    const t = await stack.tenant('plan-race');
    tenantId = t.id;
    api = client(stack.url, t.apiKey);
  }, 60_000);
  afterAll(async () => {
    await stack?.close();
    await stack?.database.drop();
  });

  it('an older plan held open after its row write: the newer plan waits for it, and its chunks and access level stand', async () => {
    const long = Array.from({ length: 12 }, (_, i) => `Sentence number ${i} talks about the quarterly merger plan.`).join(' ');
    const res = await api.submit({
      type: 'ingest',
      input: { collection: 'kb', chunkTokens: 40, overlapTokens: 0, documents: [{ id: 'd', text: long }] },
    });
    const first = await api.waitFor(res.body.id);
    expect(first.status, JSON.stringify(first.error)).toBe('completed');
    const n = first.result.chunks as number;
    expect(n).toBeGreaterThan(2);
    const db = stack.database.db;
    const stored = () =>
      db.query<{ chunk_index: number; access_level: string; content_hash: string }>(
        sql`SELECT chunk_index, access_level, content_hash FROM chunks WHERE tenant_id = ${tenantId} AND document_id = 'd'
          ORDER BY chunk_index`,
      );
    const hashes = (await stored()).map((r) => r.content_hash);

    // An older plan (public, one chunk) stops in its transaction right after its row write.
    let calls = 0;
    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    let rowWritten!: () => void;
    const written = new Promise<void>((r) => {
      rowWritten = r;
    });
    const gated = {
      ...db,
      orm: new Proxy(db.orm, {
        get: (target, prop, receiver) =>
          prop !== 'transaction'
            ? Reflect.get(target, prop, receiver)
            : (work: (tx: object) => Promise<unknown>) =>
                target.transaction((tx) =>
                  work(
                    new Proxy(tx, {
                      get: (t, p, r) =>
                        p !== 'execute'
                          ? Reflect.get(t, p, r)
                          : async (statement: never) => {
                              if (++calls === 2) {
                                rowWritten();
                                await gate;
                              }
                              return t.execute(statement);
                            },
                    }),
                  ),
                ),
      }),
    } as typeof db;
    const plan = (d: { db: typeof db; accessLevel: string; chunkHashes: string[]; ingestJobId: string }) =>
      upsertDocument(d.db, {
        tenantId,
        id: 'd',
        collection: 'kb',
        title: null,
        contentHash: d.ingestJobId,
        metadata: null,
        accessLevel: d.accessLevel,
        chunkHashes: d.chunkHashes,
        model: 'local',
        tokens: 5,
        ingestJobId: d.ingestJobId,
      });
    const older = plan({ db: gated, accessLevel: 'public', chunkHashes: [hashes[0]!], ingestJobId: 'older' });
    await written;

    // A newer plan of the whole text, restricted, starts meanwhile: it waits for the older one.
    let newerDone = false;
    const newer = plan({ db, accessLevel: 'restricted', chunkHashes: hashes, ingestJobId: 'newer' }).finally(() => {
      newerDone = true;
    });
    await new Promise((r) => setTimeout(r, 300));
    expect(newerDone).toBe(false);
    release();
    expect(await older).toEqual([0]);
    const kept = await newer;

    // The newer plan owns the document, and what it kept is what is stored, under its label.
    // Before, the older plan's delete and relabel landed after it: one public chunk was left.
    const doc = await api.call('GET', '/v1/documents/d');
    expect(doc.body).toMatchObject({ accessLevel: 'restricted', chunks: n });
    const rows = await stored();
    expect(rows.map((r) => r.chunk_index)).toEqual([...kept].sort((x, y) => x - y));
    expect(rows.map((r) => r.access_level)).toEqual(kept.map(() => 'restricted'));
  }, 60_000);
});
