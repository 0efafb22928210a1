// EDF with a fixed degree: like xDiT SP=k but the queue is ordered by deadline (earliest first).
import type { CostModel } from '../cost-model.js';
import type { RequestState } from '../types.js';
import { FixedDegreeScheduler, optionSuffix, type FixedDegreeOptions } from './fixed-base.js';

export class EdfScheduler extends FixedDegreeScheduler {
  readonly name: string;
  constructor(model: CostModel, private readonly degree: number, options: FixedDegreeOptions = {}) {
    super(model, options);
    model.degreeSlot(degree);
    this.name = `EDF SP=${degree}${optionSuffix(options)}`;
  }
  protected degreeFor(): number {
    return this.degree;
  }
  protected compare(a: RequestState, b: RequestState): number {
    return a.req.deadline - b.req.deadline;
  }
}
