// EDF with a fixed degree: like xDiT SP=k but the queue is ordered by deadline (earliest first).
import type { CostModel } from '../cost-model.js';
import type { RequestState } from '../types.js';
import { FixedDegreeScheduler } from './fixed-base.js';

export class EdfScheduler extends FixedDegreeScheduler {
  readonly name: string;
  constructor(model: CostModel, private readonly degree: number) {
    super(model);
    model.degreeSlot(degree);
    this.name = `EDF SP=${degree}`;
  }
  protected degreeFor(): number {
    return this.degree;
  }
  protected compare(a: RequestState, b: RequestState): number {
    return a.req.deadline - b.req.deadline;
  }
}
