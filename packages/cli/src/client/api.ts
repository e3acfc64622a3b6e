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
  ) {
    super(message);
  }
}

export async function call<T>(config: CliConfig, method: string, path: string, body?: unknown): Promise<T> {
  let res: Response;
  try {
    res = await fetch(new URL(path, config.url), {
      method,
      headers: {
        authorization: `Bearer ${config.apiKey}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (err) {
    throw new ApiError(
      0,
      'unreachable',
      `cannot reach the Spool API at ${config.url}: ${(err as Error).cause ?? (err as Error).message}`,
    );
  }
  if (!res.ok) throw await errorOf(res);
  const text = await res.text();
  return (text ? safeJson(text) : undefined) as T;
}

/** Spool's error body of a response that is not ok, as an ApiError. */
export async function errorOf(res: Response): Promise<ApiError> {
  const text = await res.text().catch(() => '');
  const e = (safeJson(text) as { error?: { code?: string; message?: string } } | undefined)?.error;
  return new ApiError(res.status, e?.code ?? `http_${res.status}`, e?.message ?? (text || res.statusText));
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
