// Shared machinery of the non-preemptive baselines: a request runs all its steps on one group of a degree
// chosen once, dispatched in queue order when enough GPUs are free (strict head-of-line: no backfilling,
// as a fixed-degree serving system like xDiT does). Only the queue order and the degree differ per policy.
import type { CostModel } from '../cost-model.js';
import { place } from '../placement.js';
import { TableScheduler } from '../request-table.js';
import type { Assignment, GpuState, RequestState } from '../types.js';

export abstract class FixedDegreeScheduler extends TableScheduler {
  abstract override readonly name: string;
  readonly roundSeconds = null;
  readonly planOnIdle = false;
  constructor(protected readonly model: CostModel) {
    super(model);
  }

  /** Parallel degree for this request (constant over its life). */
  protected abstract degreeFor(st: RequestState): number;
  /** Queue order: negative when a goes first. */
  protected abstract compare(a: RequestState, b: RequestState): number;

  planRound(_now: number, gpus: GpuState): Assignment[] {
    const queue = this.table.queued().sort((a, b) => this.compare(a, b) || a.req.id - b.req.id);
    let free = [...gpus.free];
    const out: Assignment[] = [];
    for (const st of queue) {
      // A fixed degree larger than the surviving cluster would block forever: fall back to what exists.
      const k = Math.min(this.degreeFor(st), maxUsable(this.model, gpus.alive));
      if (k > free.length) break;
      // Requeued work (after a GPU failure) resumes on its old GPUs if they are free.
      const [group] = place([{ requestId: st.req.id, degree: k, lastGroup: st.lastGroup }], free, gpus.total, true);
      const steps = st.req.steps - st.done;
      this.table.start(st, group, steps);
      out.push({ requestId: st.req.id, gpus: group, steps });
      const taken = new Set(group);
      free = free.filter((g) => !taken.has(g));
    }
    return out;
  }
}

function maxUsable(model: CostModel, total: number): number {
  let best = model.degrees[0];
  for (const d of model.degrees) if (d <= total) best = d;
  return best;
}
