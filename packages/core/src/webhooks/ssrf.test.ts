import { describe, expect, it } from 'vitest';
import { checkWebhookTarget, isPrivateAddress } from './ssrf.ts';

describe('isPrivateAddress', () => {
  it.each([
    '127.0.0.1', '10.1.2.3', '172.16.0.1', '192.168.1.1', '169.254.169.254', '100.64.0.1', '0.0.0.0',
    '224.0.0.1', '255.255.255.255', '::1', '::', 'fc00::1', 'fd12::1', 'fe80::1', '::ffff:10.0.0.1', '::ffff:127.0.0.1', 'ff02::1',
  ])('refuses %s', (ip) => expect(isPrivateAddress(ip)).toBe(true));

  it.each(['8.8.8.8', '1.1.1.1', '2606:4700:4700::1111', '::ffff:8.8.8.8'])('allows %s', (ip) =>
    expect(isPrivateAddress(ip)).toBe(false),
  );
});

describe('checkWebhookTarget', () => {
  it('refuses non-http schemes and credentials', async () => {
    await expect(checkWebhookTarget('file:///etc/passwd', true)).rejects.toMatchObject({ code: 'webhook_url_forbidden' });
    await expect(checkWebhookTarget('ftp://example.com/x', true)).rejects.toMatchObject({ code: 'webhook_url_forbidden' });
    await expect(checkWebhookTarget('http://user:pw@example.com/', true)).rejects.toMatchObject({ code: 'webhook_url_forbidden' });
  });

  it('resolves names like the connection will (/etc/hosts: localhost) and refuses loopback', async () => {
    await expect(checkWebhookTarget('http://localhost:8080/hook', false)).rejects.toMatchObject({ code: 'webhook_url_forbidden' });
    await expect(checkWebhookTarget('http://0x7f000001/', false)).rejects.toMatchObject({ code: 'webhook_url_forbidden' });
    await expect(checkWebhookTarget('http://[::ffff:127.0.0.1]/', false)).rejects.toMatchObject({ code: 'webhook_url_forbidden' });
    await expect(checkWebhookTarget('http://169.254.169.254/latest/meta-data', false)).rejects.toMatchObject({
      code: 'webhook_url_forbidden',
    });
  });

  it('allows loopback when SPOOL_WEBHOOK_ALLOW_PRIVATE is on, pinned to the resolved address', async () => {
    const t = await checkWebhookTarget('http://127.0.0.1:9/hook', true);
    expect(t.address).toBe('127.0.0.1');
    expect(t.family).toBe(4);
  });
});
