// xDiT-style serving: every request at one fixed sequence-parallel degree k, first come first served.
import type { CostModel } from '../cost-model.js';
import type { RequestState } from '../types.js';
import { FixedDegreeScheduler, optionSuffix, type FixedDegreeOptions } from './fixed-base.js';

export class XDiTScheduler extends FixedDegreeScheduler {
  readonly name: string;
  constructor(model: CostModel, private readonly degree: number, options: FixedDegreeOptions = {}) {
    super(model, options);
    model.degreeSlot(degree); // throws a clear error for an unusable degree
    this.name = `xDiT SP=${degree}${optionSuffix(options)}`;
  }
  protected degreeFor(): number {
    return this.degree;
  }
  protected compare(a: RequestState, b: RequestState): number {
    return a.req.arrival - b.req.arrival;
  }
}
