// Per-request allocation: the step-level plan (how many of the remaining steps to run at which degree) that
// finishes within a time budget with the fewest GPU-seconds.
//
// Why at most two degrees: it is a linear program with two constraints (steps sum to S, time <= budget), so an
// optimal vertex has at most two non-zero variables; rounding the faster degree's count up keeps the deadline.
// Enumerating every single degree and every pair is O(D^2) with D <= 4 degrees, cheaper than any solver.
import type { CostModel } from './cost-model.js';

export interface StepPlan {
  /** false when even the fastest degree cannot finish in the budget (the request is late). */
  readonly feasible: boolean;
  /** Degree slot (index into CostModel.degrees) of the faster part, run first (front-loaded). */
  readonly fastSlot: number;
  /** Steps at the faster degree. */
  readonly fastSteps: number;
  /** Degree slot of the slower, cheaper part, run after the fast part. */
  readonly slowSlot: number;
  readonly slowSteps: number;
  readonly gpuSeconds: number;
  readonly seconds: number;
}

/**
 * Minimal GPU-seconds plan for `steps` steps of the resolution in `slot` finishing within `budget` seconds,
 * using degrees up to `cap` GPUs. Ties in GPU-seconds go to the faster plan (more slack for later rounds).
 * Front-loading the fast part is our choice (the paper leaves the order open): it builds slack early, when
 * the request's future contention is least known.
 */
export function minGpuSecondsPlan(model: CostModel, slot: number, steps: number, budget: number, cap = Infinity): StepPlan {
  const D = model.degreeCount;
  const deg = model.degrees;
  const acc: { best: StepPlan | null } = { best: null };
  const consider = (fast: number, nf: number, slow: number, ns: number): void => {
    const tf = model.step(slot, fast);
    const ts = model.step(slot, slow);
    const seconds = nf * tf + ns * ts;
    if (seconds > budget + 1e-9) return;
    const gpuSeconds = nf * tf * deg[fast] + ns * ts * deg[slow];
    const best = acc.best;
    if (!best || gpuSeconds < best.gpuSeconds - 1e-12 || (Math.abs(gpuSeconds - best.gpuSeconds) <= 1e-12 && seconds < best.seconds)) {
      acc.best = { feasible: true, fastSlot: fast, fastSteps: nf, slowSlot: slow, slowSteps: ns, gpuSeconds, seconds };
    }
  };
  for (let a = 0; a < D && deg[a] <= cap; a++) {
    consider(a, steps, a, 0);
    const ta = model.step(slot, a);
    for (let b = 0; b < D && deg[b] <= cap; b++) {
      const tb = model.step(slot, b);
      if (tb >= ta) continue; // b must be the faster degree of the pair
      // Fewest fast steps so that (S - n) * ta + n * tb <= budget.
      const n = Math.max(0, Math.ceil((steps * ta - budget) / (ta - tb) - 1e-9));
      if (n > steps) continue;
      consider(b, n, a, steps - n);
    }
  }
  if (acc.best) return acc.best;
  // Infeasible: report the fastest single-degree run so callers can still use it as a best-effort plan.
  let f = 0;
  for (let d = 1; d < D && deg[d] <= cap; d++) if (model.step(slot, d) < model.step(slot, f)) f = d;
  const t = model.step(slot, f);
  return { feasible: false, fastSlot: f, fastSteps: steps, slowSlot: f, slowSteps: 0, gpuSeconds: steps * t * deg[f], seconds: steps * t };
}

/** Degree slot the plan wants for its next step. */
export function planNextSlot(plan: StepPlan): number {
  return plan.fastSteps > 0 ? plan.fastSlot : plan.slowSlot;
}

/**
 * GPU-seconds of minGpuSecondsPlan without building the plan object: the DP asks this for every option of every
 * request each round, so it allocates nothing. Infeasible budgets give the fastest single-degree cost, as the
 * plan does.
 */
export function minPlanGpuSeconds(model: CostModel, slot: number, steps: number, budget: number): number {
  const D = model.degreeCount;
  const deg = model.degrees;
  let best = Infinity;
  let bestTime = Infinity;
  for (let a = 0; a < D; a++) {
    const ta = model.step(slot, a);
    const single = steps * ta;
    if (single <= budget + 1e-9) {
      const c = single * deg[a];
      if (c < best - 1e-12 || (Math.abs(c - best) <= 1e-12 && single < bestTime)) {
        best = c;
        bestTime = single;
      }
    }
    for (let b = 0; b < D; b++) {
      const tb = model.step(slot, b);
      if (tb >= ta) continue;
      const n = Math.max(0, Math.ceil((steps * ta - budget) / (ta - tb) - 1e-9));
      if (n > steps) continue;
      const time = (steps - n) * ta + n * tb;
      if (time > budget + 1e-9) continue;
      const c = (steps - n) * ta * deg[a] + n * tb * deg[b];
      if (c < best - 1e-12 || (Math.abs(c - best) <= 1e-12 && time < bestTime)) {
        best = c;
        bestTime = time;
      }
    }
  }
  if (best < Infinity) return best;
  const f = model.fastestDegreeSlot(slot);
  return steps * model.step(slot, f) * deg[f];
}
