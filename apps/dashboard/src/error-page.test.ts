/**
 * A failure of the dashboard itself (not a refusal) shows what the API would show: a bare
 * `internal` 500 and the request id; the error's own text goes to the log only.
 */
import { createLogger } from '@spool/core/logger';
import { describe, expect, it } from 'vitest';
import { createDashboard, type DashboardDeps } from './app.ts';

describe('dashboard error pages', () => {
  it('a server failure: 500 with the code and request id, the error text only in the log', async () => {
    const logged: string[] = [];
    const log = createLogger('error', { write: (line: string) => void logged.push(line) });
    const secret = 'relation "jobs" does not exist on db-primary.internal:5432';
    const deps = {
      db: {
        query: async () => {
          throw new Error(secret);
        },
      },
      queues: [],
      keys: { authenticate: async () => undefined },
      adminToken: 'admin-token',
      jobs: {},
      webhooks: {},
      log,
    } as unknown as DashboardDeps;
    const res = await createDashboard(deps).request('/', { headers: { authorization: 'Bearer admin-token' } });
    expect(res.status).toBe(500);
    const page = await res.text();
    expect(page).toContain('<code id="error-code">internal</code>: internal error');
    const requestId = res.headers.get('x-request-id')!;
    expect(page).toContain(`<code id="request-id">${requestId}</code>`);
    expect(page).not.toContain('db-primary.internal');
    expect(logged.join('')).toContain('db-primary.internal');
    expect(logged.join('')).toContain(requestId);
  });
});
