/**
 * Checks at submit, before anything is written: a type's token budget (tiktoken count of the
 * input against `tokenBudget`: 413 with the counts) and the tenant's spend caps for types that
 * call paid models (402 `budget_exceeded` once a cap is used up), the model a job names
 * against the catalog (422 `unknown_model`), and each type's own `preflight` against stored state.
 */
import type { Database } from '../db/client.ts';
import { SpoolError } from '../errors.ts';
import { type BudgetDefaults, Budgets } from '../providers/budget.ts';
import type { ModelCatalog } from '../providers/catalog.ts';
import { countTokens } from '../providers/tokens.ts';
import type { AnyJobDefinition } from '../queue/define-job.ts';

export interface SubmitGuard {
  check(tenantId: string, jobs: { def: AnyJobDefinition; input: unknown }[]): Promise<void>;
  /** The checks that read nothing stored (models, token budgets): a schedule's template takes them at create. */
  checkStatic(jobs: { def: AnyJobDefinition; input: unknown }[]): void;
}

export function createSubmitGuard(opts: { db: Database; budgets: BudgetDefaults; models: ModelCatalog }): SubmitGuard {
  const budgets = new Budgets(opts.db, opts.budgets);
  const guard: SubmitGuard = {
    async check(tenantId, jobs) {
      guard.checkStatic(jobs);
      for (const { def, input } of jobs) await def.preflight?.(input, { db: opts.db, tenantId });
      if (jobs.some((j) => j.def.usesModels)) await budgets.check(tenantId);
    },
    checkStatic(jobs) {
      jobs.forEach(({ def, input }, index) => {
        const where = jobs.length > 1 ? `jobs[${index}]: ` : '';
        if (def.usesModels) {
          // `model`, and `embedModel` where a type takes both (rag-query).
          const named = input as { model?: unknown; embedModel?: unknown } | null;
          for (const model of [named?.model, named?.embedModel]) if (typeof model === 'string') opts.models.check(model, where);
        }
        if (!def.tokenBudget || !def.inputText) return;
        const tokens = countTokens(def.inputText(input));
        if (tokens > def.tokenBudget) {
          throw new SpoolError(
            'token_budget_exceeded',
            `${where}the input has ${tokens} tokens; a ${def.name} job takes at most ${def.tokenBudget}`,
            {
              status: 413,
              details: { ...(jobs.length > 1 ? { index } : {}), tokens, budget: def.tokenBudget },
            },
          );
        }
      });
    },
  };
  return guard;
}
