/**
 * The SSRF guard. A webhook URL is resolved the way the connection will resolve it
 * (`dns.lookup` with `all: true`: A, AAAA and /etc/hosts) and refused if any address is not a
 * public unicast address. The connection then goes to the checked address, so a second DNS
 * answer cannot rebind it.
 */
import { lookup as dnsLookup } from 'node:dns/promises';
import ipaddr from 'ipaddr.js';
import { SpoolError } from '../errors.ts';

export interface CheckedTarget {
  url: URL;
  /** Every address the name resolved to, all checked, in the resolver's order. */
  addresses: { address: string; family: 4 | 6 }[];
}

/**
 * Resolves a host name to every address the connection could use, as `dns.lookup` with
 * `all: true` does. Injectable because the guard's decision depends on what a name resolves
 * to, and tests have no DNS server they control (nor may they edit /etc/hosts): a test passes a
 * resolver that answers, say, 10.0.0.1, to prove a name is refused for its address, not for its
 * spelling. Production always uses node's resolver (the default), the one the connection uses.
 */
export type WebhookLookup = (
  hostname: string,
  options: { all: true; verbatim: boolean },
) => Promise<{ address: string; family: number }[]>;

const forbidden = (message: string) => new SpoolError('webhook_url_forbidden', message, { status: 422, retryable: false });

/** True for loopback, RFC 1918, link-local (169.254.169.254 too), CGNAT, ULA, multicast, 0.0.0.0, … */
export function isPrivateAddress(address: string): boolean {
  if (!ipaddr.isValid(address)) return true;
  let ip = ipaddr.parse(address);
  if (ip.kind() === 'ipv6') {
    const v6 = ip as ipaddr.IPv6;
    // IPv4-mapped (::ffff:10.0.0.1) and the like are judged as the IPv4 address they carry.
    if (v6.isIPv4MappedAddress()) ip = v6.toIPv4Address();
    // ::/96, the deprecated IPv4-compatible form (::7f00:1 is 127.0.0.1): no public use.
    else if (v6.parts.slice(0, 6).every((p) => p === 0)) return true;
    else return v6.range() !== 'unicast';
  }
  return (ip as ipaddr.IPv4).range() !== 'unicast';
}

export function parseWebhookUrl(raw: string): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw forbidden(`not a URL: ${raw}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw forbidden(`webhook URLs must be http or https, not ${url.protocol}`);
  if (url.username || url.password) throw forbidden('webhook URLs must not carry credentials');
  return url;
}

/**
 * The guard where a webhook URL is given (a submit, a schedule, a tenant's default webhook): it
 * must parse, and a host that resolves must resolve to public addresses only (422
 * `webhook_url_forbidden`). A host that does not resolve now is accepted: every delivery
 * attempt resolves it again at connect time (`checkWebhookTarget`), where the guard holds for
 * good, and fails while it still does not. Refused, a submit failed on a resolver's hiccup, and
 * every submit with a webhook failed where there is no DNS.
 */
export async function screenWebhookUrl(raw: string, allowPrivate: boolean, lookup: WebhookLookup = dnsLookup): Promise<void> {
  if (allowPrivate) {
    parseWebhookUrl(raw);
    return;
  }
  await checkWebhookTarget(raw, allowPrivate, lookup).catch((err: unknown) => {
    if (!(err instanceof SpoolError && err.code === 'webhook_url_unresolvable')) throw err;
  });
}

/**
 * Parses and resolves a webhook URL and refuses it (422 `webhook_url_forbidden`) unless every
 * address it resolves to is public, or `allowPrivate` is on. Returns the addresses to connect to.
 */
export async function checkWebhookTarget(
  raw: string,
  allowPrivate: boolean,
  lookup: WebhookLookup = dnsLookup,
): Promise<CheckedTarget> {
  const url = parseWebhookUrl(raw);
  const host = url.hostname.replace(/^\[|\]$/g, '');
  let addresses: { address: string; family: number }[];
  try {
    addresses = ipaddr.isValid(host)
      ? [{ address: host, family: host.includes(':') ? 6 : 4 }]
      : await lookup(host, { all: true, verbatim: true });
  } catch (err) {
    throw new SpoolError('webhook_url_unresolvable', `cannot resolve ${host}`, { status: 422, retryable: true, cause: err });
  }
  if (addresses.length === 0)
    throw new SpoolError('webhook_url_unresolvable', `cannot resolve ${host}`, { status: 422, retryable: true });
  if (!allowPrivate) {
    const bad = addresses.find((a) => isPrivateAddress(a.address));
    // Not which address: a tenant must not map the internal DNS through this message.
    if (bad) throw forbidden(`${host} resolves to a private, loopback or reserved address`);
  }
  return { url, addresses: addresses.map((a) => ({ address: a.address, family: a.family === 6 ? 6 : 4 })) };
}
