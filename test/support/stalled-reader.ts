/**
 * An HTTP client that stops reading, with a tiny TCP receive window, so the server's writes
 * really block. Node cannot set SO_RCVBUF or TCP_MAXSEG on a TCP socket, and on loopback the
 * kernel's autotuned buffers swallow hundreds of kilobytes from a paused Node socket; so a
 * few lines of Python (python3, from PATH) hold the socket: 2 KiB receive buffer, 536-byte
 * segments (which also keeps the sender's buffer small). It connects, sends the request and
 * reads nothing until `resume()`; then it reads to the end and hands back the raw bytes.
 */
import { type ChildProcessWithoutNullStreams, spawn, spawnSync } from 'node:child_process';
import { parseFrame, type SseFrame } from './sse-client.ts';

const SCRIPT = `
import socket, sys
host, port, path, key, last = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, 536)
s.connect((host, port))
req = f"GET {path} HTTP/1.1\\r\\nHost: {host}:{port}\\r\\nAuthorization: Bearer {key}\\r\\nAccept: text/event-stream\\r\\n"
if last:
    req += f"Last-Event-ID: {last}\\r\\n"
s.sendall((req + "\\r\\n").encode())
sys.stderr.write("sent\\n")
sys.stderr.flush()
sys.stdin.readline()
out = sys.stdout.buffer
try:
    while True:
        d = s.recv(65536)
        if not d:
            break
        out.write(d)
except ConnectionResetError:
    sys.stderr.write("reset\\n")
out.flush()
`;

export const hasPython = () => spawnSync('python3', ['-c', 'import socket'], { stdio: 'ignore' }).status === 0;

export interface StalledResponse {
  status: number;
  /** Complete SSE frames of the body (a cut-off last frame is left out). */
  frames: SseFrame[];
  /** True if the chunked body ended with its last chunk (a clean end); false if the connection was dropped. */
  cleanEnd: boolean;
}

export interface StalledReader {
  /** Resolves once the request is on the wire. */
  sent: Promise<void>;
  /** Starts reading; resolves when the server has closed the connection. */
  resume(timeoutMs?: number): Promise<StalledResponse>;
  kill(): void;
}

export function stalledReader(baseUrl: string, apiKey: string, path: string, lastEventId?: number): StalledReader {
  const u = new URL(baseUrl);
  const child: ChildProcessWithoutNullStreams = spawn('python3', [
    '-c',
    SCRIPT,
    u.hostname,
    u.port,
    path,
    apiKey,
    lastEventId === undefined ? '' : String(lastEventId),
  ]);
  const out: Buffer[] = [];
  let err = '';
  child.stdout.on('data', (d: Buffer) => out.push(d));
  const sent = new Promise<void>((resolve, reject) => {
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString();
      if (err.includes('sent')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`stalled reader exited (${code}) before sending: ${err}`)));
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    sent,
    async resume(timeoutMs = 20_000) {
      child.stdin.write('go\n');
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        exited,
        new Promise((_, reject) => {
          timer = setTimeout(
            () => reject(new Error(`the server did not close the connection within ${timeoutMs} ms`)),
            timeoutMs,
          );
        }),
      ]).finally(() => clearTimeout(timer));
      return parseHttp(Buffer.concat(out));
    },
    kill() {
      if (child.exitCode === null) child.kill('SIGKILL');
    },
  };
}

/** Parses a raw HTTP/1.1 response with a chunked body that may be cut off anywhere. */
function parseHttp(raw: Buffer): StalledResponse {
  const headEnd = raw.indexOf('\r\n\r\n');
  if (headEnd < 0) throw new Error(`no HTTP head in ${JSON.stringify(raw.toString().slice(0, 200))}`);
  const head = raw.subarray(0, headEnd).toString();
  const status = Number(head.split(' ')[1]);
  let pos = headEnd + 4;
  const body: Buffer[] = [];
  let cleanEnd = false;
  if (!/transfer-encoding: chunked/i.test(head)) {
    body.push(raw.subarray(pos));
  } else {
    for (;;) {
      const lineEnd = raw.indexOf('\r\n', pos);
      if (lineEnd < 0) break;
      const size = Number.parseInt(raw.subarray(pos, lineEnd).toString(), 16);
      if (size === 0) {
        cleanEnd = true;
        break;
      }
      const start = lineEnd + 2;
      body.push(raw.subarray(start, Math.min(start + size, raw.length)));
      if (start + size + 2 > raw.length) break;
      pos = start + size + 2;
    }
  }
  const text = Buffer.concat(body).toString();
  // Only blocks closed by a blank line are complete; anything after the last one was cut off.
  const cut = text.lastIndexOf('\n\n');
  const complete = cut < 0 ? '' : text.slice(0, cut + 2);
  const frames = complete
    .split('\n\n')
    .filter((b) => b.length > 0)
    .flatMap(parseFrame);
  return { status, frames, cleanEnd };
}
