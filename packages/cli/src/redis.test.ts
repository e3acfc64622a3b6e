import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { answers, ensureRedis, withoutPassword } from './redis.ts';

describe('Redis for the one-process mode', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'spool-redis-'));
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  it('a loopback REDIS_URL that does not answer is replaced by a redis-server of its own', async () => {
    const own = await ensureRedis('redis://127.0.0.1:1', dataDir);
    try {
      expect(own.child).toBeDefined();
      expect(own.url).not.toBe('redis://127.0.0.1:1');
      expect(await answers(own.url)).toBe(true);
    } finally {
      own.child?.kill();
    }
  });

  it('a REDIS_URL on another host that does not answer is an error naming it, its password hidden', async () => {
    // TEST-NET-1 (RFC 5737): routed nowhere, so the connect times out.
    const err = await ensureRedis('redis://app:s3cret@192.0.2.1:6379', dataDir).catch((e: Error) => e);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toContain('redis://app:***@192.0.2.1:6379');
    expect((err as Error).message).not.toContain('s3cret');
    expect(withoutPassword('redis://127.0.0.1:6379')).toBe('redis://127.0.0.1:6379');
    expect(withoutPassword('redis://10.0.0.5:6379/0?password=s3cret')).toBe('redis://10.0.0.5:6379/0?password=***');
  });

  it('any loopback spelling counts as this machine: 127.0.1.1 (Debian’s hostname address), LOCALHOST', async () => {
    for (const url of ['redis://127.0.1.1:1', 'redis://LOCALHOST:1']) {
      const own = await ensureRedis(url, dataDir);
      own.child?.kill();
      expect(own.child, url).toBeDefined();
    }
  });
});
