/** Redaction by default: what a tenant sent or a credential never reaches a log line. */
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger, redact, throttledWarn } from './logger.ts';

function capture() {
  const lines: Record<string, any>[] = [];
  const stream = new Writable({
    write(chunk, _enc, done) {
      for (const l of String(chunk).split('\n')) if (l.trim()) lines.push(JSON.parse(l));
      done();
    },
  });
  return { log: createLogger('debug', stream), lines, text: () => JSON.stringify(lines) };
}

describe('logger redaction', () => {
  it('redacts inputs, prompts, results and credentials at the top level and nested', () => {
    const { log, lines, text } = capture();
    log.info(
      {
        input: { password: 'p-4f1', text: 'doc-body-77' },
        job: { id: 'j1', input: { apiKey: 'sk-live-123' }, result: { summary: 'res-88' } },
        data: { job: { messages: [{ role: 'user', content: 'prompt-secret-1' }] } },
        headers: { authorization: 'Bearer sk-head-9', 'x-api-key': 'xk-5' },
        req: { headers: { authorization: 'Bearer sk-req-3', cookie: 'sid=c00k1e' } },
        webhookSecret: 'whsec_abc123',
        tenant: { secret: 'whsec_nested' },
      },
      'submitted',
    );
    for (const leaked of [
      'p-4f1',
      'doc-body-77',
      'sk-live-123',
      'res-88',
      'prompt-secret-1',
      'sk-head-9',
      'xk-5',
      'sk-req-3',
      'c00k1e',
      'whsec_',
    ])
      expect(text(), leaked).not.toContain(leaked);
    // The context stays: the keys are there, only their values are censored.
    expect(lines[0]).toMatchObject({ msg: 'submitted', job: { id: 'j1', input: '[redacted]' }, service: 'spool', level: 30 });
  });

  it('keeps the context fields of a child logger', () => {
    const { log, lines } = capture();
    log.child({ jobId: 'j2', type: 'chat', attempt: 2 }).warn({ code: 'timeout' }, 'attempt failed');
    expect(lines[0]).toMatchObject({ jobId: 'j2', type: 'chat', attempt: 2, code: 'timeout', msg: 'attempt failed' });
    expect(typeof lines[0]!.time).toBe('string');
  });

  it('redacts inside arrays, three levels down and in a child logger’s bindings', () => {
    const { log, text } = capture();
    log
      .child({ job: { input: 'bound-input-1' } })
      .info({ batch: [{ input: 'arr-input-2' }], a: { b: { headers: { authorization: 'Bearer deep-3' } } } }, 'deep');
    for (const leaked of ['bound-input-1', 'arr-input-2', 'deep-3']) expect(text(), leaked).not.toContain(leaked);
  });

  it('leaves a line with nothing sensitive as it is (no copy), and copies the one it censors', () => {
    const clean = { jobId: 'j3', type: 'chat', ms: 4, nested: { route: '/v1/jobs' } };
    expect(redact(clean)).toBe(clean);
    const dirty = { jobId: 'j4', nested: { input: 'x' } };
    expect(redact(dirty)).toEqual({ jobId: 'j4', nested: { input: '[redacted]' } });
    expect(dirty.nested.input).toBe('x');
  });
});

describe('throttled warnings', () => {
  it('logs the first at once, then at most once per interval with the count left out', async () => {
    const { log, lines } = capture();
    const warn = throttledWarn(log, 'queue error', 200);
    for (let i = 0; i < 50; i++) warn({ err: 'Connection is closed.' });
    await new Promise((r) => setTimeout(r, 250));
    warn({ err: 'Connection is closed.' });
    await new Promise((r) => setImmediate(r));
    expect(lines.map((l) => [l.msg, l.repeated])).toEqual([
      ['queue error', undefined],
      ['queue error', 49],
    ]);
  });
});
