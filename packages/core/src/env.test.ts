import { describe, expect, it } from 'vitest';
import { apiEnv, loadEnv } from './env.ts';

describe('SPOOL_ADMIN_TOKEN', () => {
  it('drops the trailing newline of a secret file, and refuses a token no Bearer header can carry', () => {
    expect(loadEnv(apiEnv, { SPOOL_ADMIN_TOKEN: 'abcdef0123456789abcdef\n' }).SPOOL_ADMIN_TOKEN).toBe('abcdef0123456789abcdef');
    expect(() => loadEnv(apiEnv, { SPOOL_ADMIN_TOKEN: 'correct horse battery staple' })).toThrow(
      'SPOOL_ADMIN_TOKEN: SPOOL_ADMIN_TOKEN must not contain spaces (it is sent as a Bearer token)',
    );
    expect(() => loadEnv(apiEnv, { SPOOL_ADMIN_TOKEN: '  short\n' })).toThrow(/at least 16 characters/);
  });
});
