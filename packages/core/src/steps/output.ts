/** What a step or a job hands back, as it will be stored and replayed. */
import { SpoolError } from '../errors.ts';
import { unstorableJson } from '../jobs/storable-json.ts';

/**
 * `value` through a JSON round trip, so that a memoized output looks the same as a fresh one.
 * A value that is not JSON (a BigInt, a cycle) or that PostgreSQL cannot keep (a NUL, half a
 * surrogate pair) fails with `unstorable_output`, not retried: it would fail every attempt.
 * Unchecked, the write was refused and put back before every later one, and the job never ended.
 */
export function storableOutput(value: unknown, what: string): unknown {
  let json: string | undefined;
  try {
    json = JSON.stringify(value);
  } catch (err) {
    throw new SpoolError('unstorable_output', `${what} is not JSON: ${(err as Error).message}`);
  }
  const stored: unknown = json === undefined ? null : JSON.parse(json);
  const issue = unstorableJson(stored);
  if (issue) {
    const at = issue.path.length > 0 ? ` at ${issue.path.join('.')}` : '';
    throw new SpoolError('unstorable_output', `${what}${at}: ${issue.message}`);
  }
  return stored;
}
