// Shared machinery of the non-preemptive baselines: a request runs all its steps on one group of a degree
// chosen once, dispatched in queue order when enough GPUs are free. Only the queue order and the degree differ
// per policy. As in the paper, by default the queue is strict head-of-line (no backfilling) and a request that
// can no longer meet its deadline keeps its place. Two switches make a *strong* baseline:
// - triage: requests that cannot meet their deadline at their degree from now go behind every request that can
//   (the same late-request triage TetriServe gets), so hopeless work no longer blocks savable work;
// - backfill: EASY backfilling. When the head does not fit, later requests may start if they end before the
//   head's reserved start (the time enough running groups finish) or use GPUs the head will not need then.
import type { CostModel } from '../cost-model.js';
import { needsGroupChange, place } from '../placement.js';
import { TableScheduler } from '../request-table.js';
import type { Assignment, GpuId, GpuState, RequestState, StepsDone } from '../types.js';

export interface FixedDegreeOptions {
  /** Hopeless requests (cannot meet their deadline at their degree from now) last. */
  triage?: boolean;
  /** EASY backfilling around a blocked head-of-line request. */
  backfill?: boolean;
}

/** " +triage+backfill" style suffix for names. */
export function optionSuffix(o: FixedDegreeOptions): string {
  return `${o.triage ? ' +triage' : ''}${o.backfill ? ' +backfill' : ''}`;
}

export abstract class FixedDegreeScheduler extends TableScheduler {
  abstract override readonly name: string;
  readonly roundSeconds = null;
  readonly planOnIdle = false;
  /** Expected end and group of every running assignment (for the backfill reservation). */
  private readonly runningEnds = new Map<number, { end: number; gpus: readonly GpuId[] }>();
  constructor(
    protected readonly model: CostModel,
    protected readonly fixedOptions: FixedDegreeOptions = {},
  ) {
    super(model);
  }

  /** Parallel degree for this request (constant over its life). */
  protected abstract degreeFor(st: RequestState): number;
  /** Queue order: negative when a goes first. */
  protected abstract compare(a: RequestState, b: RequestState): number;

  override onStepsDone(done: StepsDone): void {
    this.runningEnds.delete(done.requestId);
    super.onStepsDone(done);
  }

  planRound(now: number, gpus: GpuState): Assignment[] {
    const { triage, backfill } = this.fixedOptions;
    const maxK = maxUsable(this.model, gpus.alive);
    // A fixed degree larger than the surviving cluster would block forever: fall back to what exists.
    const degreeOf = (st: RequestState): number => Math.min(this.degreeFor(st), maxK);
    const hopeless = (st: RequestState): boolean =>
      now + (st.req.steps - st.done) * this.model.stepAtDegree(st.resIndex, degreeOf(st)) > st.req.deadline + 1e-9;
    let queue = this.table.queued().sort((a, b) => this.compare(a, b) || a.req.id - b.req.id);
    if (triage) {
      const late = queue.filter(hopeless);
      queue = [...queue.filter((st) => !hopeless(st)), ...late];
    }
    let free = [...gpus.free];
    const out: Assignment[] = [];
    const start = (st: RequestState, k: number): number => {
      // Requeued work (after a GPU failure) resumes on its old GPUs if they are free.
      const [group] = place([{ requestId: st.req.id, degree: k, lastGroup: st.lastGroup }], free, gpus.total, true);
      const steps = st.req.steps - st.done;
      const mig = needsGroupChange(st.lastGroup, group) ? this.model.groupChangeSeconds(st.resIndex) : 0;
      const end = now + mig + steps * this.model.stepAtDegree(st.resIndex, k);
      this.table.start(st, group, steps);
      this.runningEnds.set(st.req.id, { end, gpus: group });
      out.push({ requestId: st.req.id, gpus: group, steps });
      const taken = new Set(group);
      free = free.filter((g) => !taken.has(g));
      return end;
    };
    let i = 0;
    for (; i < queue.length; i++) {
      const k = degreeOf(queue[i]);
      if (k > free.length) break;
      start(queue[i], k);
    }
    if (!backfill || i >= queue.length) return out;
    // EASY backfill: reserve the head's start at the earliest time enough GPUs will be free.
    const headK = degreeOf(queue[i]);
    const ends = [...this.runningEnds.values()].sort((a, b) => a.end - b.end);
    let avail = free.length;
    let shadow = Infinity;
    let extra = 0;
    for (const r of ends) {
      avail += r.gpus.filter((g) => !this.failed.has(g)).length;
      if (avail >= headK) {
        shadow = r.end;
        extra = avail - headK;
        break;
      }
    }
    for (let j = i + 1; j < queue.length && free.length > 0; j++) {
      const st = queue[j];
      const k = degreeOf(st);
      if (k > free.length) continue;
      const dur = (st.req.steps - st.done) * this.model.stepAtDegree(st.resIndex, k) + this.model.groupChangeSeconds(st.resIndex);
      if (now + dur <= shadow + 1e-9) start(st, k);
      else if (k <= extra) {
        start(st, k);
        extra -= k;
      }
    }
    return out;
  }
}

function maxUsable(model: CostModel, total: number): number {
  let best = model.degrees[0];
  for (const d of model.degrees) if (d <= total) best = d;
  return best;
}
