// Discrete-event simulator: drives a Scheduler exactly as the live server will (onArrival, planRound,
// onStepsDone, onGpuFailed), replacing the clock with simulated time and the executor with profile latencies.
// Event order at equal times: completions, then failures, then arrivals, then the decision.
import type { CostModel } from '../scheduler/cost-model.js';
import { needsGroupChange } from '../scheduler/placement.js';
import { assignmentMembers, type Assignment, type Executor, type GpuId, type Request, type Scheduler } from '../scheduler/types.js';

export interface StepRecord {
  requestId: number;
  /** 0-based index of the step within its request. */
  step: number;
  gpus: readonly GpuId[];
  start: number;
  end: number;
  /** Batched steps: the batch's size and its first member's id (every member has its own record). */
  batch?: { size: number; leader: number };
}

export interface AssignmentRecord {
  requestId: number;
  /** Other members of a batched assignment. */
  batch?: readonly number[];
  gpus: readonly GpuId[];
  steps: number;
  /** Decision time. */
  start: number;
  /** When the first step begins (after any group-change delay). */
  firstStep: number;
  end: number;
  /** Steps actually completed (fewer than `steps` only after a failure). */
  completed: number;
  /** Round-based schedulers: the boundary of the round this decision belongs to (null for event-driven ones). */
  roundEnd: number | null;
  /** True when the decision opened a round (a step may overrun the boundary then); false mid-round. */
  boundary: boolean;
}

export interface RequestOutcome {
  id: number;
  resolution: number;
  arrival: number;
  deadline: number;
  /** Finish time; the arrival time for a rejected request. */
  finish: number;
  met: boolean;
  /** Refused at arrival by admission control (counts as a miss). */
  rejected?: boolean;
}

export interface SimOptions {
  gpus: number;
  /** Record every step (for invariant tests); off for the big experiments. */
  trace?: boolean;
  /** GPU failures to inject: at time `at`, GPU `gpu` disappears for good. */
  failures?: readonly { gpu: GpuId; at: number }[];
  /** Measure each planRound call's wall time (milliseconds). */
  timeDecisions?: boolean;
  /**
   * Admission control as the server does it: at arrival ask scheduler.admit and drop refused requests (they
   * count as misses, with `rejected` set in their outcome).
   */
  admission?: boolean;
}

export interface SimResult {
  scheduler: string;
  outcomes: RequestOutcome[];
  assignments: AssignmentRecord[];
  steps: StepRecord[];
  decisionMs: number[];
  makespan: number;
}

/** Executes assignments with profile latencies, charging the group-change cost when a request moves. */
export class ProfileExecutor implements Executor {
  private readonly lastGroup = new Map<number, readonly GpuId[]>();
  private readonly resolution = new Map<number, number>();
  constructor(private readonly model: CostModel) {}

  register(req: Request): void {
    this.resolution.set(req.id, req.resolution);
  }

  private res(id: number): number {
    const res = this.resolution.get(id);
    if (res === undefined) throw new Error(`executor: unknown request ${id}`);
    return res;
  }

  /** Seconds of group-change delay (0 when it stays put or never ran; a batch moves when any member does). */
  migration(a: Assignment): number {
    const res = this.res(a.requestId);
    const moves = assignmentMembers(a).some((id) => needsGroupChange(this.lastGroup.get(id) ?? [], a.gpus));
    return moves ? this.model.groupChangeSeconds(this.model.slot(res)) : 0;
  }

  /** Seconds per step: the profile's step time, or its batched step time for a batch (which must be profiled). */
  stepSeconds(a: Assignment): number {
    const res = this.res(a.requestId);
    const members = assignmentMembers(a);
    if (members.length === 1) return this.model.stepAtDegree(this.model.slot(res), a.gpus.length);
    for (const id of members) {
      if (this.res(id) !== res) throw new Error(`executor: batch of request ${a.requestId} mixes resolutions ${res} and ${this.res(id)} (request ${id})`);
    }
    const t = this.model.batchStep(res, a.gpus.length, members.length);
    if (Number.isNaN(t)) throw new Error(`executor: no batched step time for ${members.length} x ${res}² at degree ${a.gpus.length} in the profile (batchStepSeconds)`);
    return t;
  }

  launch(a: Assignment, now: number): number {
    const end = now + this.migration(a) + a.steps * this.stepSeconds(a);
    for (const id of assignmentMembers(a)) this.lastGroup.set(id, [...a.gpus]);
    return end;
  }
}

interface Running {
  a: Assignment;
  rec: AssignmentRecord;
  stepSeconds: number;
}

const EPS = 1e-9;

export function simulate(scheduler: Scheduler, model: CostModel, requests: readonly Request[], opts: SimOptions): SimResult {
  const G = opts.gpus;
  if (!Number.isInteger(G) || G < 1) throw new Error(`gpus must be a positive integer (got ${G})`);
  const arrivals = [...requests].sort((a, b) => a.arrival - b.arrival || a.id - b.id);
  const failures = [...(opts.failures ?? [])].sort((a, b) => a.at - b.at || a.gpu - b.gpu);
  for (const f of failures) if (!(f.gpu >= 0 && f.gpu < G)) throw new Error(`failure of GPU ${f.gpu}: ids are 0..${G - 1}`);
  const exec = new ProfileExecutor(model);
  const busy = new Int32Array(G).fill(-1); // request id running on each GPU, -1 idle
  const dead = new Uint8Array(G);
  const running = new Map<number, Running>(); // by the assignment's requestId (a batch's first member)
  const inFlight = new Set<number>(); // every member of every running assignment
  const outcomes = new Map<number, RequestOutcome>();
  const byId = new Map<number, Request>();
  const assignments: AssignmentRecord[] = [];
  const steps: StepRecord[] = [];
  const decisionMs: number[] = [];
  const doneSteps = new Map<number, number>();
  let ai = 0;
  let fi = 0;
  let nextTick: number | null = null;
  const round = scheduler.roundSeconds;
  let t = 0;
  let idleDecisions = 0;

  const finishAssignment = (r: Running, completed: number, at: number): void => {
    const { a, rec } = r;
    rec.completed = completed;
    rec.end = at;
    running.delete(a.requestId);
    for (const g of a.gpus) if (busy[g] === a.requestId) busy[g] = -1;
    const members = assignmentMembers(a);
    const batch = members.length > 1 ? { size: members.length, leader: a.requestId } : undefined;
    for (const id of members) {
      inFlight.delete(id);
      const before = doneSteps.get(id) ?? 0;
      if (opts.trace) {
        for (let i = 0; i < completed; i++) {
          const s = rec.firstStep + i * r.stepSeconds;
          steps.push({ requestId: id, step: before + i, gpus: a.gpus, start: s, end: s + r.stepSeconds, ...(batch ? { batch } : {}) });
        }
      }
      const total = before + completed;
      doneSteps.set(id, total);
      const req = byId.get(id)!;
      if (total >= req.steps) {
        outcomes.set(req.id, { id: req.id, resolution: req.resolution, arrival: req.arrival, deadline: req.deadline, finish: at, met: at <= req.deadline + EPS });
      }
    }
    for (const id of members) scheduler.onStepsDone({ requestId: id, completed, at });
  };

  const decide = (boundary: boolean, roundEnd: number | null): number => {
    const free: GpuId[] = [];
    let alive = 0;
    for (let g = 0; g < G; g++) {
      if (dead[g]) continue;
      alive++;
      if (busy[g] === -1) free.push(g);
    }
    const t0 = opts.timeDecisions ? performance.now() : 0;
    const before = scheduler.roundEndsAt;
    const plan = scheduler.planRound(t, { total: G, alive, free });
    if (opts.timeDecisions) decisionMs.push(performance.now() - t0);
    // The scheduler owns the round grid: follow it (an idle-system arrival before the old boundary is mid-round).
    const after = scheduler.roundEndsAt;
    if (after !== undefined) {
      boundary = after !== before;
      roundEnd = after;
      if (nextTick !== null) nextTick = after;
    }
    for (const a of plan) {
      if (a.gpus.length === 0) throw new Error(`${scheduler.name}: assignment for request ${a.requestId} has no GPUs`);
      for (const g of a.gpus) {
        if (dead[g]) throw new Error(`${scheduler.name}: assigned failed GPU ${g} to request ${a.requestId}`);
        if (busy[g] !== -1) throw new Error(`${scheduler.name}: GPU ${g} given to request ${a.requestId} while running request ${busy[g]}`);
        busy[g] = a.requestId;
      }
      for (const id of assignmentMembers(a)) {
        if (inFlight.has(id)) throw new Error(`${scheduler.name}: request ${id} assigned twice at once`);
        if (!byId.has(id)) throw new Error(`${scheduler.name}: assigned unknown request ${id}`);
        inFlight.add(id);
      }
      const mig = exec.migration(a);
      const stepSeconds = exec.stepSeconds(a);
      const end = exec.launch(a, t);
      const rec: AssignmentRecord = { requestId: a.requestId, ...(a.batch?.length ? { batch: a.batch } : {}), gpus: a.gpus, steps: a.steps, start: t, firstStep: t + mig, end, completed: 0, roundEnd, boundary };
      assignments.push(rec);
      running.set(a.requestId, { a, rec, stepSeconds });
    }
    return plan.length;
  };

  for (;;) {
    let nextDone = Infinity;
    for (const r of running.values()) nextDone = Math.min(nextDone, r.rec.end);
    const nextArr = ai < arrivals.length ? arrivals[ai].arrival : Infinity;
    const nextFail = fi < failures.length ? failures[fi].at : Infinity;
    const next = Math.min(nextDone, nextArr, nextFail, nextTick ?? Infinity);
    if (next === Infinity) break;
    t = Math.max(t, next);
    let completed = false;
    let arrived = false;
    // Completions, in end-time then id order (deterministic).
    const ending = [...running.values()].filter((r) => r.rec.end <= t + EPS).sort((x, y) => x.rec.end - y.rec.end || x.a.requestId - y.a.requestId);
    for (const r of ending) {
      finishAssignment(r, r.a.steps, r.rec.end);
      completed = true;
    }
    while (fi < failures.length && failures[fi].at <= t + EPS) {
      const { gpu } = failures[fi++];
      if (dead[gpu]) continue;
      const rid = busy[gpu];
      if (rid !== -1) {
        const r = running.get(rid)!;
        const done = Math.max(0, Math.min(r.a.steps, Math.floor((t - r.rec.firstStep) / r.stepSeconds + EPS)));
        finishAssignment(r, done, t);
      }
      dead[gpu] = 1;
      scheduler.onGpuFailed(gpu, t);
      completed = true;
    }
    while (ai < arrivals.length && arrivals[ai].arrival <= t + EPS) {
      const req = arrivals[ai++];
      byId.set(req.id, req);
      if (opts.admission) {
        const alive = G - dead.reduce((s, x) => s + x, 0);
        if (!scheduler.admit(req, t, alive).accepted) {
          outcomes.set(req.id, { id: req.id, resolution: req.resolution, arrival: req.arrival, deadline: req.deadline, finish: t, met: false, rejected: true });
          continue;
        }
      }
      exec.register(req);
      scheduler.onArrival(req, t);
      arrived = true;
    }
    let decided = false;
    let launched = 0;
    if (round === null) {
      if (completed || arrived) {
        launched = decide(false, null);
        decided = true;
      }
    } else if (nextTick !== null && t >= nextTick - EPS) {
      nextTick = t + round;
      launched = decide(true, nextTick);
      decided = true;
    } else if (nextTick === null && (arrived || completed) && scheduler.unfinished() > 0) {
      // The system was idle: the first arrival opens a round at once instead of waiting for a grid point.
      nextTick = t + round;
      launched = decide(true, nextTick);
      decided = true;
    } else if (scheduler.planOnIdle && (arrived || completed)) {
      launched = decide(false, nextTick);
      decided = true;
    }
    if (round !== null && nextTick !== null && scheduler.unfinished() === 0 && running.size === 0) nextTick = null;
    // Stall guard: work left, nothing running, nothing more will happen that could change the scheduler's mind.
    if (decided && launched === 0 && running.size === 0 && scheduler.unfinished() > 0 && ai >= arrivals.length && fi >= failures.length) {
      if (++idleDecisions > 3) {
        const alive = G - dead.reduce((s, x) => s + x, 0);
        throw new Error(`${scheduler.name}: simulation stalled at t=${t.toFixed(3)} s with ${scheduler.unfinished()} unfinished request(s) and ${alive} alive GPU(s)`);
      }
    } else if (launched > 0) {
      idleDecisions = 0;
    }
  }
  if (scheduler.unfinished() > 0) {
    throw new Error(`${scheduler.name}: simulation ended with ${scheduler.unfinished()} unfinished request(s) (no GPU can run them)`);
  }
  const list = arrivals.map((r) => outcomes.get(r.id)!);
  return { scheduler: scheduler.name, outcomes: list, assignments, steps, decisionMs, makespan: t };
}
