// Public surface of the scheduler package and a factory from short policy names (used by the CLI and tests).
import { CostModel } from './cost-model.js';
import { EdfScheduler } from './policies/edf.js';
import type { FixedDegreeOptions } from './policies/fixed-base.js';
import { RsspScheduler } from './policies/rssp.js';
import { XDiTScheduler } from './policies/xdit.js';
import { TETRISERVE_PLUS, TETRISERVE_PLUS_RESERVE, TetriServeScheduler, type TetriServeOptions } from './tetriserve.js';
import type { Scheduler } from './types.js';

export * from './types.js';
export * from './profile.js';
export { CostModel } from './cost-model.js';
export { checkAdmission, type AdmissionDecision, type AdmittedWork } from './admission.js';
export { minGpuSecondsPlan, minPlanGpuSeconds, type StepPlan } from './allocation.js';
export { Packer } from './packing.js';
export { place, needsGroupChange } from './placement.js';
export { TetriServeScheduler, TETRISERVE_PLUS, TETRISERVE_PLUS_RESERVE, type TetriServeOptions, referenceStepSeconds, stepsInWindow } from './tetriserve.js';
export { XDiTScheduler } from './policies/xdit.js';
export { RsspScheduler, rsspDegree } from './policies/rssp.js';
export { EdfScheduler } from './policies/edf.js';
export type { FixedDegreeOptions } from './policies/fixed-base.js';

export const POLICY_HELP = 'tetriserve, tetriserve+, tetriserve+reserve, tetriserve+batch (simulator only), xdit:K, edf:K or rssp (K a profiled degree); baselines take +triage and/or +backfill, e.g. rssp+triage+backfill';

/** What the caller's executor can run (the simulator's runs batched assignments; the live server's runs batch 1). */
export interface ExecutorCapabilities {
  /** The executor runs Assignment.batch (batched steps); without it a batching policy is refused. */
  batching?: boolean;
}

/**
 * Builds a scheduler from a policy name: "tetriserve", "tetriserve+" (TETRISERVE_PLUS), "xdit:K", "rssp",
 * "edf:K" (K a profiled degree), "tetriserve+reserve" (TETRISERVE_PLUS_RESERVE), "tetriserve+batch" (TetriServe+ with batching: only where `executor.batching`, i.e. the
 * simulator). Baselines accept modifiers "+triage" and "+backfill" (see fixed-base.ts).
 * TetriServe options come from `tetri` (they override TetriServe+'s).
 */
export function createScheduler(policy: string, model: CostModel, tetri: TetriServeOptions = {}, executor: ExecutorCapabilities = {}): Scheduler {
  if (tetri.batching && !executor.batching) {
    throw new Error(`policy "${policy}" with batching needs an executor that runs batched steps; this one runs batch 1 (the live server does): use a policy without batching`);
  }
  if (policy === 'tetriserve+') return new TetriServeScheduler(model, { name: 'TetriServe+', ...TETRISERVE_PLUS, ...tetri });
  if (policy === 'tetriserve+reserve') return new TetriServeScheduler(model, { name: 'TetriServe+reserve', ...TETRISERVE_PLUS_RESERVE, ...tetri });
  if (policy === 'tetriserve+batch') {
    if (!executor.batching) throw new Error(`policy "tetriserve+batch" needs an executor that runs batched steps; this one runs batch 1 (the live server does): use tetriserve+`);
    return new TetriServeScheduler(model, { name: 'TetriServe+batch', ...TETRISERVE_PLUS, batching: true, ...tetri });
  }
  const [head, ...mods] = policy.split('+');
  const [kind, arg] = head.split(':');
  const fixed: FixedDegreeOptions = {};
  for (const m of mods) {
    if (m === 'triage') fixed.triage = true;
    else if (m === 'backfill') fixed.backfill = true;
    else throw new Error(`unknown policy modifier "+${m}" in "${policy}": use +triage or +backfill (${POLICY_HELP})`);
  }
  const degree = (): number => {
    const k = Number(arg);
    if (arg === undefined || arg === '' || !Number.isInteger(k)) throw new Error(`policy "${policy}" needs a degree, e.g. ${kind}:4`);
    return k;
  };
  switch (kind) {
    case 'tetriserve':
      if (mods.length > 0) throw new Error(`policy "${policy}": TetriServe takes no +modifiers (did you mean tetriserve+?)`);
      return new TetriServeScheduler(model, tetri);
    case 'xdit':
      return new XDiTScheduler(model, degree(), fixed);
    case 'edf':
      return new EdfScheduler(model, degree(), fixed);
    case 'rssp':
      return new RsspScheduler(model, fixed);
    default:
      throw new Error(`unknown policy "${policy}": use ${POLICY_HELP}`);
  }
}
