import { describe, expect, it } from 'vitest';
import { checkWebhookTarget, isPrivateAddress, screenWebhookUrl, type WebhookLookup } from './ssrf.ts';

describe('isPrivateAddress', () => {
  it.each([
    '127.0.0.1',
    '10.1.2.3',
    '172.16.0.1',
    '192.168.1.1',
    '169.254.169.254',
    '100.64.0.1',
    '0.0.0.0',
    '224.0.0.1',
    '255.255.255.255',
    '::1',
    '::',
    'fc00::1',
    'fd12::1',
    'fe80::1',
    '::ffff:10.0.0.1',
    '::ffff:127.0.0.1',
    'ff02::1',
    '::7f00:1', // IPv4-compatible 127.0.0.1
    '::a00:1', // IPv4-compatible 10.0.0.1
  ])('refuses %s', (ip) => expect(isPrivateAddress(ip)).toBe(true));

  it.each(['8.8.8.8', '1.1.1.1', '2606:4700:4700::1111', '::ffff:8.8.8.8'])('allows %s', (ip) =>
    expect(isPrivateAddress(ip)).toBe(false),
  );
});

describe('checkWebhookTarget', () => {
  it('refuses non-http schemes and credentials', async () => {
    await expect(checkWebhookTarget('file:///etc/passwd', true)).rejects.toMatchObject({ code: 'webhook_url_forbidden' });
    await expect(checkWebhookTarget('ftp://example.com/x', true)).rejects.toMatchObject({ code: 'webhook_url_forbidden' });
    await expect(checkWebhookTarget('http://user:pw@example.com/', true)).rejects.toMatchObject({
      code: 'webhook_url_forbidden',
    });
  });

  it('resolves names like the connection will (/etc/hosts: localhost) and refuses loopback', async () => {
    await expect(checkWebhookTarget('http://localhost:8080/hook', false)).rejects.toMatchObject({
      code: 'webhook_url_forbidden',
    });
    await expect(checkWebhookTarget('http://0x7f000001/', false)).rejects.toMatchObject({ code: 'webhook_url_forbidden' });
    await expect(checkWebhookTarget('http://[::ffff:127.0.0.1]/', false)).rejects.toMatchObject({
      code: 'webhook_url_forbidden',
    });
    await expect(checkWebhookTarget('http://169.254.169.254/latest/meta-data', false)).rejects.toMatchObject({
      code: 'webhook_url_forbidden',
    });
  });

  it('allows loopback when SPOOL_WEBHOOK_ALLOW_PRIVATE is on, pinned to the resolved address', async () => {
    const t = await checkWebhookTarget('http://127.0.0.1:9/hook', true);
    expect(t.addresses).toEqual([{ address: '127.0.0.1', family: 4 }]);
  });
});

describe('checkWebhookTarget with a resolver (no DNS server of ours: the answers are injected)', () => {
  /** A resolver that answers `addresses` for every name and records how it was asked. */
  const resolver = (...addresses: string[]) => {
    const calls: { hostname: string; options: unknown }[] = [];
    const lookup: WebhookLookup = async (hostname, options) => {
      calls.push({ hostname, options });
      return addresses.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
    };
    return { lookup, calls };
  };

  it('refuses a hostname resolving to 10.0.0.1, asking the way the connection will (all: true)', async () => {
    const r = resolver('10.0.0.1');
    const refused = checkWebhookTarget('https://hooks.example.com/x', false, r.lookup);
    await expect(refused).rejects.toMatchObject({
      code: 'webhook_url_forbidden',
      status: 422,
      message: 'hooks.example.com resolves to a private, loopback or reserved address',
    });
    expect(r.calls).toEqual([{ hostname: 'hooks.example.com', options: expect.objectContaining({ all: true }) }]);
  });

  it('refuses a name with one public and one private address, whichever comes first', async () => {
    for (const order of [
      ['93.184.216.34', '10.0.0.1'],
      ['10.0.0.1', '93.184.216.34'],
    ]) {
      await expect(checkWebhookTarget('http://mixed.example.com/', false, resolver(...order).lookup)).rejects.toMatchObject({
        code: 'webhook_url_forbidden',
      });
    }
    await expect(
      checkWebhookTarget('http://mixed6.example.com/', false, resolver('2606:4700:4700::1111', 'fd00::5').lookup),
    ).rejects.toMatchObject({ code: 'webhook_url_forbidden' });
  });

  it("refuses a name resolving to '::ffff:10.0.0.1' (IPv4-mapped IPv6)", async () => {
    await expect(
      checkWebhookTarget('http://mapped.example.com/', false, resolver('::ffff:10.0.0.1').lookup),
    ).rejects.toMatchObject({
      code: 'webhook_url_forbidden',
    });
  });

  it('accepts a name resolving to public addresses only and pins the connection to them, in order', async () => {
    const t = await checkWebhookTarget(
      'https://hooks.example.com/x',
      false,
      resolver('93.184.216.34', '2606:2800:220:1::1').lookup,
    );
    expect(t.addresses).toEqual([
      { address: '93.184.216.34', family: 4 },
      { address: '2606:2800:220:1::1', family: 6 },
    ]);
    expect(t.url.hostname).toBe('hooks.example.com');
  });

  it('a name that resolves to nothing is unresolvable, not allowed', async () => {
    await expect(checkWebhookTarget('http://void.example.com/', false, resolver().lookup)).rejects.toMatchObject({
      code: 'webhook_url_unresolvable',
      status: 422,
    });
  });

  it('IP literals are judged as written, without asking the resolver', async () => {
    const r = resolver('93.184.216.34');
    await expect(checkWebhookTarget('http://10.0.0.1/', false, r.lookup)).rejects.toMatchObject({
      code: 'webhook_url_forbidden',
    });
    expect(r.calls).toHaveLength(0);
  });
});

describe('screenWebhookUrl (where a webhook URL is given)', () => {
  const answers =
    (addresses: string[]): WebhookLookup =>
    async () =>
      addresses.map((address) => ({ address, family: 4 }));
  const failing: WebhookLookup = async (host) => {
    throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
  };

  it('accepts a host that does not resolve now: each delivery resolves it again, and is refused there', async () => {
    await expect(screenWebhookUrl('https://hooks.example/x', false, failing)).resolves.toBeUndefined();
    await expect(checkWebhookTarget('https://hooks.example/x', false, failing)).rejects.toMatchObject({
      code: 'webhook_url_unresolvable',
    });
  });

  it('refuses what resolves to, or is, a private address, and what is not an http(s) URL', async () => {
    await expect(screenWebhookUrl('https://inside.example/x', false, answers(['10.0.0.1']))).rejects.toMatchObject({
      code: 'webhook_url_forbidden',
    });
    await expect(screenWebhookUrl('http://169.254.169.254/', false, failing)).rejects.toMatchObject({
      code: 'webhook_url_forbidden',
    });
    await expect(screenWebhookUrl('ftp://hooks.example/', true, failing)).rejects.toMatchObject({
      code: 'webhook_url_forbidden',
    });
    await expect(screenWebhookUrl('https://hooks.example/x', false, answers(['93.184.216.34']))).resolves.toBeUndefined();
  });
});
