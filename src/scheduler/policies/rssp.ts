// RSSP (resolution-specific sequence parallelism): FCFS, each request at the best fixed degree for its
// resolution, read off the profile. choice: "best" = the smallest degree whose whole run meets the request's
// SLO (fewest GPU-seconds that still makes it, since step cost k*T(k) grows with k); when no degree makes it,
// the fastest degree. As the SLO depends only on the resolution, this is one degree per resolution.
import type { CostModel } from '../cost-model.js';
import type { RequestState } from '../types.js';
import { FixedDegreeScheduler, optionSuffix, type FixedDegreeOptions } from './fixed-base.js';

export class RsspScheduler extends FixedDegreeScheduler {
  readonly name: string;
  constructor(model: CostModel, options: FixedDegreeOptions = {}) {
    super(model, options);
    this.name = `RSSP${optionSuffix(options)}`;
  }
  protected degreeFor(st: RequestState): number {
    return rsspDegree(this.model, st.resIndex, st.req.steps, st.req.deadline - st.req.arrival);
  }
  protected compare(a: RequestState, b: RequestState): number {
    return a.req.arrival - b.req.arrival;
  }
}

export function rsspDegree(model: CostModel, slot: number, steps: number, slo: number): number {
  for (let d = 0; d < model.degreeCount; d++) if (steps * model.step(slot, d) <= slo + 1e-9) return model.degrees[d];
  return model.degrees[model.fastestDegreeSlot(slot)];
}
