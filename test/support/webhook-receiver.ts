/**
 * A webhook receiver on loopback that verifies every request with the `standardwebhooks`
 * package (not Spool's code) and answers what the test scripts: a status per request, a hang,
 * or a redirect.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';

export interface Received {
  headers: Record<string, string>;
  body: string;
  verified: boolean;
  at: number;
}

export type Answer = number | { status: number; headers?: Record<string, string> } | 'hang';

export async function startReceiver(secret: () => string, answers: Answer[] = []) {
  const received: Received[] = [];
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => {
      body += c;
    });
    req.on('end', () => {
      const headers = Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, String(v)]));
      let verified = true;
      try {
        new Webhook(secret()).verify(body, headers);
      } catch {
        verified = false;
      }
      received.push({ headers, body, verified, at: Date.now() });
      const answer = answers.shift() ?? 200;
      if (answer === 'hang') return; // never answers: the sender's timeout must fire
      const { status, headers: h } = typeof answer === 'number' ? { status: answer, headers: {} } : answer;
      res.writeHead(status, h).end('ok');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
  return {
    url,
    received,
    answers,
    async waitFor(n: number, timeoutMs = 20_000) {
      const deadline = Date.now() + timeoutMs;
      while (received.length < n) {
        if (Date.now() > deadline) throw new Error(`receiver got ${received.length} of ${n} requests`);
        await new Promise((r) => setTimeout(r, 25));
      }
      return received;
    },
    close: () => {
      server.closeAllConnections();
      return new Promise<void>((r) => server.close(() => r()));
    },
  };
}
