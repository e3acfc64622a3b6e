/**
 * A small OpenAI-compatible HTTP server on loopback, for tests that run the real `openai`
 * SDK: `/v1/chat/completions` (plain and streamed as SSE chunks, with usage) and
 * `/v1/embeddings`. Faults are scripted per request (`next(...)`) or for every request
 * (`always(...)`): latency, 429 with Retry-After, 5xx, 4xx with an error code, a hang (the
 * client's timeout fires), malformed JSON, a stream cut short.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Fault {
  /** Wait this long before answering (or before the first stream chunk). */
  latencyMs?: number;
  /** Answer with this status and an OpenAI-shaped error body. */
  status?: number;
  /** `error.code` of the error body (e.g. context_length_exceeded). */
  code?: string;
  /** Extra response headers (retry-after, x-ratelimit-reset-requests, …). */
  headers?: Record<string, string>;
  /** Never answer: the client's timeout must fire. */
  hang?: boolean;
  /** A 200 whose body is not JSON. */
  badJson?: boolean;
  /** Streamed: end the stream after this many content chunks, without a finish_reason. */
  cutAfterChunks?: number;
  /** The answer's content for this request. */
  content?: string;
  /** The answer's usage block as sent (plain and streamed), in place of the counted one. */
  usage?: Record<string, unknown>;
  /** The answer's finish_reason (plain and streamed) in place of `stop`: `content_filter`, … */
  finishReason?: string;
}

export interface RecordedCall {
  path: string;
  body: any;
  at: number;
  stream: boolean;
}

export interface FakeOpenAI {
  /** Base URL for the SDK (`…/v1`). */
  url: string;
  calls: RecordedCall[];
  /** Calls to a path suffix (`chat/completions`, `embeddings`); all calls without one. */
  count(path?: string): number;
  /** Faults for the next requests, one each, in order. */
  next(...faults: Fault[]): void;
  /** A fault for every request once `next` is used up; `undefined` restores healthy answers. */
  always(fault: Fault | undefined): void;
  /** How the answer is made from the request, when no fault says `content`. */
  answer: (body: any) => string;
  /** Delay between streamed chunks. */
  chunkDelayMs: number;
  reset(): void;
  close(): Promise<void>;
}

const words = (s: string) => s.split(/\s+/).filter(Boolean).length;

/** Default answer: echoes the last user message, so tests can tell answers apart. */
export const echoAnswer = (body: any) => {
  const last = [...(body.messages ?? [])].reverse().find((m: any) => m.role === 'user');
  return `echo: ${last?.content ?? ''}`;
};

export async function startFakeOpenAI(): Promise<FakeOpenAI> {
  const queue: Fault[] = [];
  let standing: Fault | undefined;
  const sockets = new Set<import('node:net').Socket>();

  const fake: FakeOpenAI = {
    url: '',
    calls: [],
    count: (path) => (path ? fake.calls.filter((c) => c.path.endsWith(path)).length : fake.calls.length),
    next: (...faults) => void queue.push(...faults),
    always: (fault) => {
      standing = fault;
    },
    answer: echoAnswer,
    chunkDelayMs: 5,
    reset() {
      fake.calls.length = 0;
      queue.length = 0;
      standing = undefined;
      fake.answer = echoAnswer;
      fake.chunkDelayMs = 5;
    },
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    },
  };

  const server = createServer(async (req: IncomingMessage, res: ServerResponse) => {
    const raw = await new Promise<string>((resolve) => {
      let data = '';
      req.on('data', (c) => (data += c));
      req.on('end', () => resolve(data));
    });
    let body: any = {};
    try {
      body = raw ? JSON.parse(raw) : {};
    } catch {
      body = {};
    }
    const path = (req.url ?? '').split('?')[0]!;
    const fault: Fault = queue.shift() ?? standing ?? {};
    fake.calls.push({ path, body, at: Date.now(), stream: body.stream === true });

    if (fault.hang) return; // the socket stays open until the client gives up
    if (fault.latencyMs) await sleep(fault.latencyMs);
    if (res.destroyed) return;
    if (fault.status && fault.status !== 200) {
      res.writeHead(fault.status, { 'content-type': 'application/json', ...fault.headers });
      res.end(JSON.stringify({ error: { message: `fake error ${fault.status}`, type: 'fake_error', code: fault.code ?? null } }));
      return;
    }
    if (fault.badJson) {
      res.writeHead(200, { 'content-type': 'application/json', ...fault.headers });
      res.end('{"id": "chatcmpl-broken", "choices": [');
      return;
    }

    if (path.endsWith('/embeddings')) {
      const inputs: string[] = Array.isArray(body.input) ? body.input : [body.input];
      res.writeHead(200, { 'content-type': 'application/json', ...fault.headers });
      res.end(
        JSON.stringify({
          object: 'list',
          model: body.model,
          data: inputs.map((text, index) => ({ object: 'embedding', index, embedding: [text.length % 7, words(text), 1] })),
          usage: {
            prompt_tokens: inputs.reduce((n, t) => n + words(t), 0),
            total_tokens: inputs.reduce((n, t) => n + words(t), 0),
          },
        }),
      );
      return;
    }

    if (!path.endsWith('/chat/completions')) {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { message: `no route ${path}`, type: 'invalid_request_error', code: null } }));
      return;
    }

    const content = fault.content ?? fake.answer(body);
    const promptTokens = (body.messages ?? []).reduce((n: number, m: any) => n + words(String(m.content ?? '')) + 4, 0);
    const usage = fault.usage ?? {
      prompt_tokens: promptTokens,
      completion_tokens: words(content),
      total_tokens: promptTokens + words(content),
    };
    const base = { id: `chatcmpl-${fake.calls.length}`, created: Math.floor(Date.now() / 1000), model: body.model };

    if (!body.stream) {
      res.writeHead(200, { 'content-type': 'application/json', ...fault.headers });
      res.end(
        JSON.stringify({
          ...base,
          object: 'chat.completion',
          choices: [
            { index: 0, message: { role: 'assistant', content }, finish_reason: fault.finishReason ?? 'stop', logprobs: null },
          ],
          usage,
        }),
      );
      return;
    }

    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', ...fault.headers });
    const send = (chunk: unknown) => res.write(`data: ${JSON.stringify(chunk)}\n\n`);
    const pieces = content.match(/\S+\s*/g) ?? [];
    send({
      ...base,
      object: 'chat.completion.chunk',
      choices: [{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }],
    });
    for (let i = 0; i < pieces.length; i++) {
      if (fault.cutAfterChunks !== undefined && i >= fault.cutAfterChunks) {
        res.end();
        return;
      }
      await sleep(fake.chunkDelayMs);
      if (res.destroyed) return;
      send({
        ...base,
        object: 'chat.completion.chunk',
        choices: [{ index: 0, delta: { content: pieces[i] }, finish_reason: null }],
      });
    }
    send({
      ...base,
      object: 'chat.completion.chunk',
      choices: [{ index: 0, delta: {}, finish_reason: fault.finishReason ?? 'stop' }],
    });
    if (body.stream_options?.include_usage) send({ ...base, object: 'chat.completion.chunk', choices: [], usage });
    res.end('data: [DONE]\n\n');
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  fake.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
  return fake;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
