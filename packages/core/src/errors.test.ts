import { describe, expect, it } from 'vitest';
import { isDataException, toSpoolError } from './errors.ts';

describe('toSpoolError', () => {
  it("keeps a failed statement's SQL and parameters out of the job's error (its tenant sees it)", () => {
    const driver = Object.assign(new Error('unsupported Unicode escape sequence'), { code: '22P05' });
    const drizzle = new Error('Failed query: UPDATE jobs SET result = $1 WHERE id = $2\nparams: {"secret":1},abc', {
      cause: driver,
    });
    const e = toSpoolError(drizzle);
    expect(e).toMatchObject({ code: 'internal', message: 'a database statement failed (SQLSTATE 22P05)', retryable: true });
    expect(e.cause).toBe(drizzle);
    expect(toSpoolError(new Error('Failed query: SELECT 1')).message).toBe('a database statement failed');
    expect(isDataException(drizzle)).toBe(true);
  });

  it('keeps the message of other errors, and reads no SQLSTATE into a Node error code', () => {
    expect(toSpoolError(new TypeError('x is not a function')).message).toBe('x is not a function');
    const pipe = Object.assign(new Error('write EPIPE'), { code: 'EPIPE' });
    expect(toSpoolError(pipe).message).toBe('write EPIPE');
    expect(isDataException(pipe)).toBe(false);
  });
});
