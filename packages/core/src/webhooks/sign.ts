/**
 * Standard Webhooks signing (https://www.standardwebhooks.com): `webhook-id`,
 * `webhook-timestamp` (unix seconds, per attempt) and `webhook-signature`
 * (`v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">`). During a secret rotation the header
 * carries the new and the old signature, space-separated, as the specification allows.
 */
import { Webhook } from 'standardwebhooks';

export interface SigningSecrets {
  current: string;
  /** The secret before the last rotation, while its overlap lasts. */
  previous?: string | null;
}

export function signatureHeaders(secrets: SigningSecrets, id: string, at: Date, body: string): Record<string, string> {
  const signatures = [secrets.current, secrets.previous]
    .filter((s): s is string => Boolean(s))
    .map((secret) => new Webhook(secret).sign(id, at, body));
  return {
    'webhook-id': id,
    'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
    'webhook-signature': signatures.join(' '),
  };
}
