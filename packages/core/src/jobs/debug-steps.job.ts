/**
 * `debug-steps`: a job made of n sleeping steps, for tests and benchmarks. `failAt: k` makes
 * step k throw a retryable error on its first `failTimes` runs.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { SpoolError } from '../errors.ts';
import { defineJob } from '../queue/define-job.ts';

export const DebugStepsInput = z
  .object({
    steps: z.number().int().min(0).max(1_000),
    stepMs: z.number().int().min(0).max(600_000).default(0),
    failAt: z.number().int().min(1).optional(),
    failTimes: z.number().int().min(1).default(1),
  })
  .refine((v) => v.failAt === undefined || v.failAt <= v.steps, {
    message: 'failAt names a step past the last one',
    path: ['failAt'],
  });

export const DebugStepsOutput = z.object({ steps: z.number().int() });

export const debugSteps = defineJob({
  name: 'debug-steps',
  description: 'Runs `steps` steps that each sleep `stepMs`; `failAt` makes one step fail its first `failTimes` runs.',
  input: DebugStepsInput,
  output: DebugStepsOutput,
  // Three attempts with at most 1 s between them, so failure paths run quickly in tests.
  retry: { attempts: 3, backoffMs: 250, maxBackoffMs: 1_000 },
  timeoutMs: 15 * 60_000,
  concurrency: 50,
  async handle(input, ctx) {
    for (let i = 1; i <= input.steps; i++) {
      await ctx.step(`step-${i}`, async ({ runs }) => {
        if (input.stepMs > 0) await sleep(input.stepMs, undefined, { signal: ctx.signal });
        if (input.failAt === i && runs <= input.failTimes) {
          throw new SpoolError('debug_failure', `step-${i} failed on purpose (run ${runs})`, { retryable: true });
        }
        return { step: i };
      });
      ctx.progress((i / input.steps) * 100, `step-${i} of ${input.steps}`);
    }
    return { steps: input.steps };
  },
});
