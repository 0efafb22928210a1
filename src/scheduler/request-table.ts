// Request bookkeeping shared by every scheduler: progress, phase, last placement, and the failure rule
// (work of a group that lost a GPU goes back to the queue; nothing is ever dropped).
import { checkAdmission, type AdmissionDecision, type AdmittedWork } from './admission.js';
import { checkResolution } from './profile.js';
import type { CostModel } from './cost-model.js';
import type { Assignment, GpuId, GpuState, Request, RequestState, Scheduler, StepsDone } from './types.js';

export class RequestTable {
  private readonly states = new Map<number, RequestState>();
  /** Unfinished requests in arrival order (ties by id); finished ones are removed lazily. */
  private active: RequestState[] = [];
  private finished = 0;

  constructor(private readonly model: CostModel) {}

  add(req: Request): RequestState {
    if (this.states.has(req.id)) throw new Error(`request ${req.id} arrived twice: request ids must be unique`);
    checkResolution(req.resolution);
    if (!Number.isInteger(req.steps) || req.steps < 1) throw new Error(`request ${req.id}: steps must be a positive integer (got ${req.steps})`);
    if (!(req.deadline >= req.arrival)) throw new Error(`request ${req.id}: deadline ${req.deadline} is before its arrival ${req.arrival}`);
    const st: RequestState = { req, done: 0, phase: 'queued', lastGroup: [], inFlight: 0, resIndex: this.model.slot(req.resolution) };
    this.states.set(req.id, st);
    this.active.push(st);
    return st;
  }

  get(id: number): RequestState {
    const st = this.states.get(id);
    if (!st) throw new Error(`unknown request id ${id}`);
    return st;
  }

  /** Queued (not running, not done) requests in arrival order. */
  queued(): RequestState[] {
    this.compact();
    return this.active.filter((s) => s.phase === 'queued');
  }

  /** Marks an assignment as started. */
  start(st: RequestState, gpus: readonly GpuId[], steps: number): void {
    if (st.phase !== 'queued') throw new Error(`request ${st.req.id} is ${st.phase}; only queued requests can start`);
    if (steps < 1 || st.done + steps > st.req.steps) throw new Error(`request ${st.req.id}: cannot run ${steps} steps with ${st.req.steps - st.done} left`);
    st.phase = 'running';
    st.inFlight = steps;
    st.lastGroup = [...gpus];
  }

  onStepsDone(done: StepsDone): void {
    const st = this.get(done.requestId);
    if (st.phase !== 'running') throw new Error(`steps reported for request ${done.requestId}, which is not running`);
    if (done.completed < 0 || done.completed > st.inFlight) throw new Error(`request ${done.requestId}: ${done.completed} steps reported, ${st.inFlight} were assigned`);
    st.done += done.completed;
    st.inFlight = 0;
    if (st.done >= st.req.steps) {
      st.phase = 'done';
      this.finished++;
    } else {
      st.phase = 'queued';
    }
  }

  /** Unfinished requests (queued or running) with their progress, for admission control and demand triage. */
  *unfinishedStates(): Iterable<RequestState> {
    for (const st of this.active) if (st.phase !== 'done') yield st;
  }

  admitted(): Iterable<AdmittedWork> {
    return this.unfinishedStates();
  }

  unfinished(): number {
    return this.states.size - this.finished;
  }

  private compact(): void {
    if (this.active.length > 64 && this.active.length > 2 * (this.states.size - this.finished)) {
      this.active = this.active.filter((s) => s.phase !== 'done');
    } else if (this.active.length > 0 && this.active[0].phase === 'done') {
      let i = 0;
      while (i < this.active.length && this.active[i].phase === 'done') i++;
      this.active = this.active.slice(i);
    }
  }
}

/**
 * Base of every scheduler: the Scheduler events that only update request bookkeeping go to one RequestTable, so
 * failure handling and progress are identical across TetriServe and the baselines; subclasses decide placement.
 */
export abstract class TableScheduler implements Scheduler {
  abstract readonly name: string;
  abstract readonly roundSeconds: number | null;
  abstract readonly planOnIdle: boolean;
  protected readonly table: RequestTable;
  /** GPUs reported failed. A request keeps its lastGroup (it really ran there, so moving off it costs a group
   * change, as the executor charges); placement never hands out a failed GPU because it is never free. */
  protected readonly failed = new Set<GpuId>();

  constructor(protected readonly costModel: CostModel) {
    this.table = new RequestTable(costModel);
  }

  /**
   * Admission control (see admission.ts): could `req`, arriving at `now`, still be served by its deadline on
   * `aliveGpus` GPUs next to the requests already admitted here? Changes nothing; call onArrival to admit.
   */
  admit(req: Request, now: number, aliveGpus: number): AdmissionDecision {
    return checkAdmission(this.costModel, req, now, aliveGpus, this.table.admitted());
  }

  abstract planRound(now: number, gpus: GpuState): Assignment[];

  onArrival(req: Request): void {
    this.table.add(req);
  }

  onStepsDone(done: StepsDone): void {
    this.table.onStepsDone(done);
  }

  onGpuFailed(gpu: GpuId): void {
    this.failed.add(gpu);
  }

  unfinished(): number {
    return this.table.unfinished();
  }
}
