/** The few API calls the CLI makes, with Spool's error body turned into one readable line. */

export interface CliConfig {
  /** Base URL of the API, e.g. http://localhost:3000 */
  url: string;
  apiKey: string;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    /** The answer's Retry-After (429, 503), in ms. */
    readonly retryAfterMs?: number,
  ) {
    super(message);
  }
}

export async function call<T>(config: CliConfig, method: string, path: string, body?: unknown): Promise<T> {
  const res = await send(config, path, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!res.ok) throw await errorOf(res);
  const text = await res.text();
  if (!text) return undefined as T;
  // A 2xx that is not JSON is not the Spool API (a proxy's page, another server on that port).
  const value = safeJson(text);
  if (value === undefined)
    throw new ApiError(
      res.status,
      'bad_response',
      `${config.url} answered ${method} ${path} with something other than JSON: is it the Spool API?`,
    );
  return value as T;
}

/** fetch with the API key; a network failure becomes an `unreachable` ApiError naming the URL and the cause. */
export async function send(
  config: CliConfig,
  path: string,
  init: { method?: string; headers?: Record<string, string>; body?: string; signal?: AbortSignal },
): Promise<Response> {
  try {
    return await fetch(apiUrl(config, path), {
      ...init,
      headers: { authorization: `Bearer ${config.apiKey}`, ...init.headers },
    });
  } catch (err) {
    if (init.signal?.aborted) throw err;
    throw new ApiError(
      0,
      'unreachable',
      `cannot reach the Spool API at ${config.url}: ${(err as Error).cause ?? (err as Error).message}`,
    );
  }
}

/**
 * `path` (e.g. `/v1/jobs`) under the API's URL, keeping its path: an API behind a proxy at
 * `http://host/spool` is called at `/spool/v1/jobs`, where `new URL(path, base)` would drop it.
 */
export function apiUrl(config: CliConfig, path: string): URL {
  const base = new URL(config.url);
  if (!base.pathname.endsWith('/')) base.pathname += '/';
  return new URL(path.replace(/^\//, ''), base);
}

/** Spool's error body of a response that is not ok, as an ApiError. */
export async function errorOf(res: Response): Promise<ApiError> {
  const text = await res.text().catch(() => '');
  const e = (safeJson(text) as { error?: { code?: string; message?: string } } | undefined)?.error;
  const retryAfter = Number(res.headers.get('retry-after'));
  return new ApiError(
    res.status,
    e?.code ?? `http_${res.status}`,
    e?.message ?? (text || res.statusText),
    Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter * 1000 : undefined,
  );
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
