#!/usr/bin/env -S node --import tsx
/**
 * `spool`: the command-line client. Submits jobs and follows them with a progress bar.
 *
 *   spool submit debug-steps --input '{"steps":5,"stepMs":300}' --wait
 *   spool watch <job-id>       spool get <job-id>       spool cancel <job-id>
 *
 * SPOOL_URL (default http://localhost:3000) and SPOOL_API_KEY, or --url and --key. The result
 * goes to stdout as JSON; progress and status lines go to stderr, so `spool … | jq` works.
 * Exit code: 0 completed (or done), 1 failed or canceled, 2 bad usage or an API error.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { ApiError, type CliConfig, call } from './client/api.ts';
import { follow } from './client/follow.ts';
import { printable } from './client/printable.ts';
import { ProgressView } from './client/progress.ts';

const USAGE = `usage: spool <command> [options]

commands:
  submit <type> [--input JSON|@file|-] [--wait] [--idempotency-key K] [--webhook URL]
  watch <job-id>           follow a job's events with a progress bar until it ends
  get <job-id>             print the job as JSON
  cancel <job-id>          cancel a queued or running job
  retry <job-id>           run a failed or canceled job again (completed steps are kept)
  types                    list the job types this server runs

options:
  --url URL                the API (default $SPOOL_URL or http://localhost:3000)
  --key KEY                the API key (default $SPOOL_API_KEY)
  -h, --help`;

class UsageError extends Error {}

interface Job {
  id: string;
  status: string;
  result?: unknown;
  error?: { code: string; message: string } | null;
}

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      input: { type: 'string' },
      wait: { type: 'boolean', default: false },
      'idempotency-key': { type: 'string' },
      webhook: { type: 'string' },
      url: { type: 'string' },
      key: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  const [command, arg] = positionals;
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (!command) throw new UsageError('no command given'); // usage to stderr, as for any usage error
  const config: CliConfig = {
    // An empty SPOOL_URL (`SPOOL_URL= spool …`) is unset, as for the servers' settings.
    url: apiBase(values.url ?? (process.env.SPOOL_URL || 'http://localhost:3000'), values.url ? '--url' : 'SPOOL_URL'),
    apiKey: values.key ?? process.env.SPOOL_API_KEY ?? '',
  };
  if (!config.apiKey) throw new UsageError('no API key: set SPOOL_API_KEY or pass --key (pnpm start prints a dev key)');
  const need = (what: string) => {
    if (!arg) throw new UsageError(`${command} needs a ${what}`);
    return encodeURIComponent(arg);
  };

  switch (command) {
    case 'submit': {
      const type = need('job type');
      const job = await call<Job>(config, 'POST', '/v1/jobs', {
        type: decodeURIComponent(type),
        input: readInput(values.input),
        ...(values['idempotency-key'] ? { idempotencyKey: values['idempotency-key'] } : {}),
        ...(values.webhook ? { webhook: { url: values.webhook } } : {}),
      });
      process.stderr.write(`submitted ${job.id}\n`);
      if (!values.wait) {
        process.stdout.write(`${JSON.stringify(job, null, 2)}\n`);
        return 0;
      }
      return watch(config, job.id);
    }
    case 'watch':
      return watch(config, decodeURIComponent(need('job id')));
    case 'get':
      return print(await call(config, 'GET', `/v1/jobs/${need('job id')}`));
    case 'cancel':
      return print(await call(config, 'POST', `/v1/jobs/${need('job id')}/cancel`));
    case 'retry':
      return print(await call(config, 'POST', `/v1/jobs/${need('job id')}/retry`));
    case 'types':
      return print(await call(config, 'GET', '/v1/job-types'));
    default:
      throw new UsageError(`unknown command "${command}"`);
  }
}

/** Follows the job to its end; the final record (with result or error) goes to stdout. */
async function watch(config: CliConfig, jobId: string): Promise<number> {
  const view = new ProgressView(process.stderr);
  // A stream silent past this is a dead connection: above the API's heartbeat (15 s by default).
  const idle = Number(process.env.SPOOL_WATCH_IDLE_MS);
  const last = await follow(config, jobId, (e) => view.update(e), { idleMs: idle > 0 ? idle : undefined });
  // The completed event carries the result: no call that could fail after the job succeeded.
  if (last.type === 'completed') return print(last.data?.result);
  // The progress view has said how it ended; the record has the error and the steps. Without
  // it (the API went away meanwhile) the terminal event still says what happened.
  const job = await call<Job>(config, 'GET', `/v1/jobs/${encodeURIComponent(jobId)}`).catch(() => ({
    id: jobId,
    status: last.type,
    ...last.data,
  }));
  print(job);
  return 1;
}

/** The API's URL, checked up front: a typo is bad usage, not an API that cannot be reached. */
function apiBase(raw: string, from: string): string {
  let url: URL | undefined;
  try {
    url = new URL(raw);
  } catch {}
  // `localhost:3000` parses, with `localhost:` as its scheme.
  if (url?.protocol !== 'http:' && url?.protocol !== 'https:') {
    throw new UsageError(`the API URL "${raw}" is not a valid http(s) URL (from ${from})`);
  }
  return raw;
}

function print(value: unknown): number {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
  return 0;
}

function readInput(raw: string | undefined): unknown {
  if (raw === undefined) return {};
  let text = raw;
  if (raw === '-' || raw.startsWith('@')) {
    const from = raw === '-' ? 0 : raw.slice(1);
    try {
      text = readFileSync(from, 'utf8');
    } catch (err) {
      throw new UsageError(
        `--input: cannot read ${from === 0 ? 'standard input' : from} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`,
      );
    }
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new UsageError(`--input is not JSON: ${(err as Error).message}`);
  }
}

// A reader that stops early (`spool … | head`, `| true`) closes the pipe: what it did not read
// is its choice, not an error of ours, so the exit code stays the job's outcome.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') throw err;
  });
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    // An ApiError's code and message come from the server: no escape sequences reach the terminal.
    if (err instanceof ApiError) process.stderr.write(`error: ${printable(err.code)}: ${printable(err.message)}\n`);
    else if (err instanceof UsageError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`error: ${(err as Error).message}\n\n${USAGE}\n`);
    } else process.stderr.write(`error: ${printable((err as Error).message)}\n`);
    process.exitCode = 2;
  },
);
