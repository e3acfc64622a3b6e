/** The job types this deployment runs. */
import type { AnyJobDefinition } from '../queue/define-job.ts';
import { chat } from './chat.job.ts';
import { debugSteps } from './debug-steps.job.ts';

export interface JobRegistry {
  list: AnyJobDefinition[];
  get(name: string): AnyJobDefinition | undefined;
}

export function createRegistry(opts: { enableDebugJobs: boolean }): JobRegistry {
  const list: AnyJobDefinition[] = [chat];
  if (opts.enableDebugJobs) list.push(debugSteps);
  const byName = new Map(list.map((d) => [d.name, d]));
  return { list, get: (name) => byName.get(name) };
}
