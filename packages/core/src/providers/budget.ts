/**
 * Per-tenant spend caps, per UTC day and month. A tenant's own caps (set by an admin) win over
 * the deployment's defaults (`SPOOL_TENANT_DAILY_BUDGET_USD`, `SPOOL_TENANT_MONTHLY_BUDGET_USD`;
 * 0 = no cap). Spend is the sum of the tenant's model-call costs, so it is the same for every
 * process. Checked twice: at submit (a cap already used up refuses the job: 402) and before
 * each paid model call (a call that would pass the cap fails the job with `budget_exceeded`).
 * A paid call holds its estimate until its cost is recorded (`hold`), so calls made at once,
 * in any process, count each other and cannot pass a cap together.
 */
import { LRUCache } from 'lru-cache';
import type { Database } from '../db/client.ts';
import { SpoolError } from '../errors.ts';
import { holdSpend, releaseHold, type Spend, type TenantBudget, tenantBudget, tenantSpend } from '../store/model-calls.ts';
import { roundUsd } from './cost.ts';

export interface BudgetDefaults {
  dailyUsd: number;
  monthlyUsd: number;
}

// Caps by tenant, for every Budgets of the process. A few seconds: an admin's new cap reaches
// other processes quickly (this one forgets at once), and a busy tenant costs no query per call.
const caps = new LRUCache<string, TenantBudget>({ max: 10_000, ttl: 5_000 });

/** Drops a tenant's cached caps in this process (after an admin changed them). */
export const forgetTenantBudget = (tenantId: string): void => void caps.delete(tenantId);

export class Budgets {
  constructor(
    private readonly db: Database,
    private readonly defaults: BudgetDefaults,
  ) {}

  /** The caps in force for a tenant (undefined: no cap). */
  async capsOf(tenantId: string): Promise<{ dailyUsd?: number; monthlyUsd?: number }> {
    let own = caps.get(tenantId);
    if (!own) {
      own = (await tenantBudget(this.db, tenantId)) ?? { dailyUsd: null, monthlyUsd: null };
      caps.set(tenantId, own);
    }
    const pick = (v: number | null, fallback: number) => (v !== null ? v : fallback > 0 ? fallback : undefined);
    const daily = pick(own.dailyUsd, this.defaults.dailyUsd);
    const monthly = pick(own.monthlyUsd, this.defaults.monthlyUsd);
    return { ...(daily !== undefined ? { dailyUsd: daily } : {}), ...(monthly !== undefined ? { monthlyUsd: monthly } : {}) };
  }

  /**
   * Throws `budget_exceeded` (402) when the tenant's spend plus `nextUsd` passes a cap. With
   * `nextUsd` 0 this asks "is a cap already used up?".
   */
  async check(tenantId: string, nextUsd = 0): Promise<void> {
    const caps = await this.capsOf(tenantId);
    if (caps.dailyUsd === undefined && caps.monthlyUsd === undefined) return;
    throwIfOver(caps, await tenantSpend(this.db, tenantId), nextUsd);
  }

  /**
   * Before a paid call: holds `usd` (its estimate) against the tenant's caps, or throws
   * `budget_exceeded` when the spend recorded, plus what other calls in flight hold, plus `usd`
   * would pass a cap. Returns the release, to call once the call's cost is recorded (or it was
   * not made); a process that dies holding one lets it lapse after `HOLD_MS`.
   */
  async hold(tenantId: string, usd: number): Promise<() => Promise<void>> {
    const caps = await this.capsOf(tenantId);
    if (caps.dailyUsd === undefined && caps.monthlyUsd === undefined) return async () => {};
    const { holdId, spend } = await holdSpend(this.db, tenantId, usd, HOLD_MS, (seen) => overOf(caps, seen, usd) === undefined);
    if (!holdId) throwIfOver(caps, spend, usd);
    return () => releaseHold(this.db, holdId!).catch(() => {}); // else it lapses after HOLD_MS
  }
}

/**
 * How long a hold counts if its call never releases it (its process died): longer than a call
 * with its retries and waits takes, short enough that a crash does not block a tenant's spend
 * for the rest of the day.
 */
const HOLD_MS = 10 * 60_000;

type Caps = { dailyUsd?: number; monthlyUsd?: number };

/**
 * The cap that `spent` plus `nextUsd` passes (with 0: a cap already used up). When both are,
 * the monthly one: it resets later, and a client that waits for the daily reset would only be
 * refused again. Sums are compared in the stored unit (1e-8 USD), where 0.1 + 0.2 is 0.3.
 */
function overOf(caps: Caps, spent: Spend, nextUsd: number): 'daily' | 'monthly' | undefined {
  const over = (cap: number | undefined, used: number) =>
    cap !== undefined && (nextUsd > 0 ? roundUsd(used + nextUsd) > roundUsd(cap) : roundUsd(used) >= roundUsd(cap));
  if (over(caps.monthlyUsd, spent.monthUsd)) return 'monthly';
  if (over(caps.dailyUsd, spent.dayUsd)) return 'daily';
  return undefined;
}

function throwIfOver(caps: Caps, spent: Spend, nextUsd: number): void {
  const period = overOf(caps, spent, nextUsd);
  const now = new Date();
  if (period === 'daily') throw exceeded('daily', caps.dailyUsd!, spent.dayUsd, nextUsd, nextDay(now));
  if (period === 'monthly') throw exceeded('monthly', caps.monthlyUsd!, spent.monthUsd, nextUsd, nextMonth(now));
}

function exceeded(period: 'daily' | 'monthly', capUsd: number, spentUsd: number, nextUsd: number, resetsAt: Date): SpoolError {
  const round = (n: number) => Math.round(n * 1e6) / 1e6;
  const what = nextUsd > 0 ? `this call (about $${round(nextUsd)}) would pass` : 'the tenant has used up';
  return new SpoolError(
    'budget_exceeded',
    `${what} its ${period} spend cap: $${round(spentUsd)} of $${round(capUsd)} spent; it resets at ${resetsAt.toISOString()}`,
    {
      status: 402,
      retryable: false,
      details: {
        period,
        capUsd,
        spentUsd: round(spentUsd),
        ...(nextUsd > 0 ? { nextCallUsd: round(nextUsd) } : {}),
        resetsAt: resetsAt.toISOString(),
      },
    },
  );
}

const nextDay = (d: Date) => new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate() + 1));
const nextMonth = (d: Date) => new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1));
