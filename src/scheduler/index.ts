// Public surface of the scheduler package and a factory from short policy names (used by the CLI and tests).
import { CostModel } from './cost-model.js';
import { EdfScheduler } from './policies/edf.js';
import { RsspScheduler } from './policies/rssp.js';
import { XDiTScheduler } from './policies/xdit.js';
import { TetriServeScheduler, type TetriServeOptions } from './tetriserve.js';
import type { Scheduler } from './types.js';

export * from './types.js';
export * from './profile.js';
export { CostModel } from './cost-model.js';
export { minGpuSecondsPlan, type StepPlan } from './allocation.js';
export { Packer } from './packing.js';
export { place, needsGroupChange } from './placement.js';
export { TetriServeScheduler, type TetriServeOptions, referenceStepSeconds, stepsInWindow } from './tetriserve.js';
export { XDiTScheduler } from './policies/xdit.js';
export { RsspScheduler, rsspDegree } from './policies/rssp.js';
export { EdfScheduler } from './policies/edf.js';

/**
 * Builds a scheduler from a policy name: "tetriserve", "xdit:K", "rssp", "edf:K" (K a profiled degree).
 * TetriServe options come from `tetri`.
 */
export function createScheduler(policy: string, model: CostModel, tetri: TetriServeOptions = {}): Scheduler {
  const [kind, arg] = policy.split(':');
  const degree = (): number => {
    const k = Number(arg);
    if (!Number.isInteger(k)) throw new Error(`policy "${policy}" needs a degree, e.g. ${kind}:4`);
    return k;
  };
  switch (kind) {
    case 'tetriserve':
      return new TetriServeScheduler(model, tetri);
    case 'xdit':
      return new XDiTScheduler(model, degree());
    case 'edf':
      return new EdfScheduler(model, degree());
    case 'rssp':
      return new RsspScheduler(model);
    default:
      throw new Error(`unknown policy "${policy}": use tetriserve, xdit:K, edf:K or rssp`);
  }
}
