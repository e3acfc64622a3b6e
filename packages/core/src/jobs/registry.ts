/** The job types this deployment runs. */
import type { AnyJobDefinition } from '../queue/define-job.ts';
import { chat } from './chat.job.ts';
import { debugSteps } from './debug-steps.job.ts';
import { embedRefresh } from './embed-refresh.job.ts';
import { ingest } from './ingest.job.ts';
import { ragQuery } from './rag-query.job.ts';
import { summarize } from './summarize.job.ts';

export interface JobRegistry {
  list: AnyJobDefinition[];
  get(name: string): AnyJobDefinition | undefined;
}

export function createRegistry(opts: { enableDebugJobs: boolean }): JobRegistry {
  // ingest and rag-query (and summarize of a stored document) need the vector tables: refused at submit where they are missing.
  const list: AnyJobDefinition[] = [chat, ingest, ragQuery, summarize, embedRefresh];
  if (opts.enableDebugJobs) list.push(debugSteps);
  const byName = new Map(list.map((d) => [d.name, d]));
  return { list, get: (name) => byName.get(name) };
}
