/**
 * Auth contract: 401 for a missing, malformed, unknown or revoked key; 403 for a missing scope
 * and for tenant keys on admin routes; 404 (never 403) for another tenant's job on every route.
 */
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer, expectError, issueKey, jsonHeaders, request } from '../support/http.ts';
import { client, type Stack, startStack } from '../support/stack.ts';

const submitBody = JSON.stringify({ type: 'debug-steps', input: { steps: 1 } });

describe('API auth', () => {
  let stack: Stack;
  let tenant: { id: string; apiKey: string };

  beforeAll(async () => {
    // No worker: jobs stay queued, so cancel and retry answers depend on auth alone.
    stack = await startStack({ worker: false });
    tenant = await stack.tenant('auth-a');
  });
  afterAll(() => stack?.close());

  const submitWith = (headers: Record<string, string>) =>
    request(stack.url, '/v1/jobs', {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: submitBody,
    });

  it('401 without an Authorization header, on write and read routes', async () => {
    expectError(await submitWith({}), 401, 'unauthorized');
    expectError(await request(stack.url, '/v1/jobs'), 401, 'unauthorized');
    expectError(await request(stack.url, '/v1/jobs/some-id'), 401, 'unauthorized');
    expectError(await request(stack.url, '/v1/jobs/some-id/events'), 401, 'unauthorized');
    expectError(await request(stack.url, '/v1/job-types'), 401, 'unauthorized');
    expectError(
      await request(stack.url, '/v1/jobs/batch', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{"jobs":[]}',
      }),
      401,
    );
  });

  it('401 for malformed and unknown keys', async () => {
    for (const authorization of [
      'Bearer',
      'Bearer ',
      'Basic dXNlcjpwYXNz',
      `Token ${tenant.apiKey}`,
      'Bearer not-a-key',
      'Bearer sk_spool_thisKeyWasNeverIssued000000000000',
      `Bearer ${tenant.apiKey}x`,
      `Bearer ${tenant.apiKey.slice(0, -1)}`,
    ]) {
      const res = await submitWith({ authorization });
      expectError(res, 401, 'unauthorized');
    }
  });

  it('the scheme name is case-insensitive', async () => {
    const res = await submitWith({ authorization: `bearer ${tenant.apiKey}` });
    expect(res.status).toBe(202);
  });

  it('401 once a key is revoked (and 404 when revoking it again)', async () => {
    const key = await issueKey(stack.url, stack.adminToken, tenant.id, ['jobs:read', 'jobs:write']);
    expect(key.apiKey).toMatch(/^sk_spool_/);
    // Used once first, so a cached lookup must be forgotten by the revoke.
    expect((await submitWith(bearer(key.apiKey))).status).toBe(202);
    expect((await request(stack.url, '/v1/jobs', { headers: bearer(key.apiKey) })).status).toBe(200);

    const revoke = await request(stack.url, `/v1/admin/api-keys/${key.id}`, {
      method: 'DELETE',
      headers: bearer(stack.adminToken),
    });
    expect(revoke.status).toBe(204);
    expect(revoke.text).toBe('');

    expectError(await submitWith(bearer(key.apiKey)), 401, 'unauthorized');
    expectError(await request(stack.url, '/v1/jobs', { headers: bearer(key.apiKey) }), 401, 'unauthorized');

    const again = await request(stack.url, `/v1/admin/api-keys/${key.id}`, {
      method: 'DELETE',
      headers: bearer(stack.adminToken),
    });
    expectError(again, 404, 'not_found');
    // The tenant's other keys still work.
    expect((await submitWith(bearer(tenant.apiKey))).status).toBe(202);
  });

  it("admin: a tenant's keys are listed without the keys themselves, and its first key can be revoked", async () => {
    const created = await request(stack.url, '/v1/admin/tenants', {
      method: 'POST',
      headers: jsonHeaders(stack.adminToken),
      body: JSON.stringify({ name: 'first-key' }),
    });
    expect(created.status).toBe(201);
    const { id, apiKey, apiKeyId } = created.body;
    expect(apiKeyId).toEqual(expect.any(String));
    const second = await issueKey(stack.url, stack.adminToken, id, ['jobs:read']);

    const listed = await request(stack.url, `/v1/admin/tenants/${id}/api-keys`, { headers: bearer(stack.adminToken) });
    expect(listed.status).toBe(200);
    expect(listed.body.nextCursor).toBeNull();
    expect(listed.body.data.map((k: any) => k.id)).toEqual([second.id, apiKeyId]);
    expect(listed.body.data[1]).toMatchObject({
      tenantId: id,
      name: 'default',
      scopes: ['jobs:write', 'jobs:read'],
      keyPrefix: apiKey.slice(0, 13),
      revokedAt: null,
    });
    expect(JSON.stringify(listed.body)).not.toContain(apiKey);

    expect((await submitWith(bearer(apiKey))).status).toBe(202);
    const revoke = await request(stack.url, `/v1/admin/api-keys/${apiKeyId}`, {
      method: 'DELETE',
      headers: bearer(stack.adminToken),
    });
    expect(revoke.status).toBe(204);
    expectError(await submitWith(bearer(apiKey)), 401, 'unauthorized');
    const after = await request(stack.url, `/v1/admin/tenants/${id}/api-keys`, { headers: bearer(stack.adminToken) });
    expect(after.body.data[1].revokedAt).toEqual(expect.any(String));

    expectError(
      await request(stack.url, '/v1/admin/tenants/nope/api-keys', { headers: bearer(stack.adminToken) }),
      404,
      'not_found',
    );
    expectError(await request(stack.url, `/v1/admin/tenants/${id}/api-keys`, { headers: bearer(second.apiKey) }), 403);
  });

  it('403 for a key with only jobs:read on every write route; reads still work', async () => {
    const reader = await issueKey(stack.url, stack.adminToken, tenant.id, ['jobs:read']);
    expect(reader.scopes).toEqual(['jobs:read']);
    const job = (await client(stack.url, tenant.apiKey).submit({ type: 'debug-steps', input: { steps: 1 } })).body;

    const submit = await submitWith(bearer(reader.apiKey));
    expect(expectError(submit, 403, 'forbidden').message).toContain('jobs:write');
    const batch = await request(stack.url, '/v1/jobs/batch', {
      method: 'POST',
      headers: jsonHeaders(reader.apiKey),
      body: JSON.stringify({ jobs: [{ type: 'debug-steps', input: { steps: 1 } }] }),
    });
    expectError(batch, 403, 'forbidden');
    expectError(
      await request(stack.url, `/v1/jobs/${job.id}/cancel`, { method: 'POST', headers: bearer(reader.apiKey) }),
      403,
      'forbidden',
    );
    expectError(
      await request(stack.url, `/v1/jobs/${job.id}/retry`, { method: 'POST', headers: bearer(reader.apiKey) }),
      403,
      'forbidden',
    );

    expect((await request(stack.url, `/v1/jobs/${job.id}`, { headers: bearer(reader.apiKey) })).status).toBe(200);
    expect((await request(stack.url, '/v1/jobs', { headers: bearer(reader.apiKey) })).status).toBe(200);
    expect((await request(stack.url, '/v1/job-types', { headers: bearer(reader.apiKey) })).status).toBe(200);
    // The forbidden calls changed nothing.
    expect((await client(stack.url, tenant.apiKey).get(job.id)).body.status).toBe('queued');
  });

  it('403 for a key with only jobs:write on read routes', async () => {
    const writer = await issueKey(stack.url, stack.adminToken, tenant.id, ['jobs:write']);
    const res = await submitWith(bearer(writer.apiKey));
    expect(res.status).toBe(202);
    expectError(await request(stack.url, `/v1/jobs/${res.body.id}`, { headers: bearer(writer.apiKey) }), 403, 'forbidden');
    expectError(await request(stack.url, '/v1/jobs', { headers: bearer(writer.apiKey) }), 403, 'forbidden');
  });

  it('admin routes: 401 without or with a wrong token, 403 for a tenant key', async () => {
    const create = (headers: Record<string, string>) =>
      request(stack.url, '/v1/admin/tenants', {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: '{"name":"x"}',
      });
    expectError(await create({}), 401, 'unauthorized');
    expectError(await create(bearer(`${stack.adminToken}-wrong`)), 401, 'unauthorized');
    expectError(await create(bearer(tenant.apiKey)), 403, 'forbidden');
    expectError(
      await request(stack.url, `/v1/admin/tenants/${tenant.id}/api-keys`, {
        method: 'POST',
        headers: jsonHeaders(tenant.apiKey),
        body: '{"scopes":["jobs:read"]}',
      }),
      403,
      'forbidden',
    );
    expectError(
      await request(stack.url, '/v1/admin/api-keys/whatever', { method: 'DELETE', headers: bearer(tenant.apiKey) }),
      403,
      'forbidden',
    );
    // A tenant key cannot revoke its own keys either.
    const own = await issueKey(stack.url, stack.adminToken, tenant.id, ['jobs:read']);
    expectError(
      await request(stack.url, `/v1/admin/api-keys/${own.id}`, { method: 'DELETE', headers: bearer(tenant.apiKey) }),
      403,
      'forbidden',
    );
    expect((await request(stack.url, '/v1/jobs', { headers: bearer(own.apiKey) })).status).toBe(200);

    expect((await create(bearer(stack.adminToken))).status).toBe(201);
  });

  it('admin: issuing keys validates scopes and the tenant', async () => {
    const issue = (tenantId: string, body: string) =>
      request(stack.url, `/v1/admin/tenants/${tenantId}/api-keys`, {
        method: 'POST',
        headers: jsonHeaders(stack.adminToken),
        body,
      });
    expectError(await issue(tenant.id, '{"scopes":["root"]}'), 422, 'validation_failed');
    expectError(await issue(tenant.id, '{"scopes":[]}'), 422, 'validation_failed');
    expectError(await issue('no-such-tenant', '{"scopes":["jobs:read"]}'), 404, 'not_found');
    const all = await issue(tenant.id, '{}');
    expect(all.status).toBe(201);
    expect(all.body.scopes.sort()).toEqual(['jobs:read', 'jobs:write']);
    const twice = await issue(tenant.id, '{"scopes":["jobs:read","jobs:read"]}');
    expect(twice.body.scopes).toEqual(['jobs:read']);
    const [stored] = await stack.database.db.query<{ scopes: string[] }>(
      sql`SELECT scopes FROM api_keys WHERE id = ${twice.body.id}`,
    );
    expect(stored!.scopes).toEqual(['jobs:read']);
  });

  it("404 for another tenant's job on get, events, cancel and retry", async () => {
    const other = await stack.tenant('auth-b');
    const mine = client(stack.url, tenant.apiKey);
    const queued = (await mine.submit({ type: 'debug-steps', input: { steps: 1 } })).body;
    const canceled = (await mine.submit({ type: 'debug-steps', input: { steps: 1 } })).body;
    expect((await mine.call('POST', `/v1/jobs/${canceled.id}/cancel`)).status).toBe(200);

    for (const id of [queued.id, canceled.id]) {
      expectError(await request(stack.url, `/v1/jobs/${id}`, { headers: bearer(other.apiKey) }), 404, 'not_found');
      expectError(await request(stack.url, `/v1/jobs/${id}/events`, { headers: bearer(other.apiKey) }), 404, 'not_found');
      expectError(
        await request(stack.url, `/v1/jobs/${id}/cancel`, { method: 'POST', headers: bearer(other.apiKey) }),
        404,
        'not_found',
      );
      expectError(
        await request(stack.url, `/v1/jobs/${id}/retry`, { method: 'POST', headers: bearer(other.apiKey) }),
        404,
        'not_found',
      );
    }
    // The same answer as for an id that does not exist at all: no existence leak.
    const missing = await request(stack.url, '/v1/jobs/01900000-0000-7000-8000-000000000000', { headers: bearer(other.apiKey) });
    expectError(missing, 404, 'not_found');

    // Nothing changed for the owner, and the other tenant's list does not show them.
    expect((await mine.get(queued.id)).body.status).toBe('queued');
    expect((await mine.get(canceled.id)).body.status).toBe('canceled');
    const list = await request(stack.url, '/v1/jobs?limit=100', { headers: bearer(other.apiKey) });
    expect(list.status).toBe(200);
    expect(list.body.data).toEqual([]);
  });

  it('every response of the app carries x-request-id, and a valid incoming one is echoed', async () => {
    const responses = await Promise.all([
      request(stack.url, '/readyz'),
      request(stack.url, '/v1/jobs'),
      request(stack.url, '/nope'),
      submitWith(bearer(tenant.apiKey)),
    ]);
    const ids = responses.map((r) => r.headers.get('x-request-id'));
    for (const id of ids) expect(id).toMatch(/^[\w.:-]{1,128}$/);
    expect(new Set(ids).size).toBe(ids.length);

    const echoed = await request(stack.url, '/v1/jobs', {
      headers: { ...bearer(tenant.apiKey), 'x-request-id': 'trace-123.abc' },
    });
    expect(echoed.headers.get('x-request-id')).toBe('trace-123.abc');
    // A hostile one is replaced, not reflected.
    const hostile = await request(stack.url, '/readyz', { headers: { 'x-request-id': '<script>alert(1)</script>' } });
    expect(hostile.headers.get('x-request-id')).not.toContain('<');
  });
});
