// The vocabulary shared by every scheduler, the simulator and (later) the live server.
// Nothing here knows about clocks or GPUs: time is a plain number of seconds handed in by the caller,
// GPUs are small integer ids, so the same scheduler code runs under simulated and wall-clock time.

import type { AdmissionDecision } from './admission.js';

/** A GPU is identified by its index in the cluster (0..gpuCount-1). */
export type GpuId = number;

/** One image-generation request as the server receives it. Times are seconds on the caller's clock. */
export interface Request {
  readonly id: number;
  /** Square side in pixels (height = width); any positive multiple of 16. */
  readonly resolution: number;
  /** Denoising steps (50 by default, as in the paper). */
  readonly steps: number;
  readonly arrival: number;
  /** Absolute deadline: arrival + SLO. */
  readonly deadline: number;
}

/**
 * What a scheduler asks the executor to do: run `steps` consecutive steps of one request on `gpus`, or, with
 * `batch`, of a batch: requestId and the requests in `batch` (same resolution) run each step together as one
 * batched step (batch size 1 + batch.length). Only batching schedulers (TetriServe `batching`) set it; an
 * executor that cannot batch must refuse such a scheduler (the live server runs batch 1 only).
 */
export interface Assignment {
  readonly requestId: number;
  /** The sequence-parallel group, sorted ascending; its size is the parallel degree. Need not be contiguous. */
  readonly gpus: readonly GpuId[];
  readonly steps: number;
  /** Other members of a batched assignment (ascending ids, never requestId); absent or empty for batch 1. */
  readonly batch?: readonly number[];
}

/** Every request an assignment runs: requestId first, then its batch members. */
export function assignmentMembers(a: Assignment): readonly number[] {
  return a.batch && a.batch.length ? [a.requestId, ...a.batch] : [a.requestId];
}

/** The GPUs a scheduler may use right now: alive and not running anything. */
export interface GpuState {
  /** Cluster size including failed GPUs (ids are 0..total-1). */
  readonly total: number;
  /** GPUs still alive (busy or idle). */
  readonly alive: number;
  /** Alive and idle, sorted ascending. */
  readonly free: readonly GpuId[];
}

/** Reported by the executor when an assignment ends (normally, or early because a GPU failed). */
export interface StepsDone {
  readonly requestId: number;
  /** Steps that really completed; fewer than assigned only when the run was cut short by a failure. */
  readonly completed: number;
  /** When the last completed step ended (or when the run was aborted). */
  readonly at: number;
}

/**
 * The scheduler contract. The driver (simulator now, server later) owns the clock and the executor and calls:
 * onArrival for each new request, planRound at each decision point, onStepsDone when an assignment ends and
 * onGpuFailed when a GPU disappears. A scheduler never loses a request: unfinished work of a failed group
 * goes back to its queue.
 */
export interface Scheduler {
  readonly name: string;
  /**
   * Seconds between decision points for round-based schedulers (the driver calls planRound at each boundary);
   * null for event-driven ones (the driver calls planRound after every arrival and every completion).
   */
  readonly roundSeconds: number | null;
  /** Round-based schedulers that also want a decision whenever GPUs go idle mid-round say so here. */
  readonly planOnIdle: boolean;
  /**
   * Round-based schedulers: the end of the current round as the last planRound set it (a call at or after it
   * opens the next round). The driver schedules its next boundary call for this time, so both agree on where
   * rounds begin. Undefined for event-driven schedulers.
   */
  readonly roundEndsAt?: number;
  onArrival(req: Request, now: number): void;
  planRound(now: number, gpus: GpuState): Assignment[];
  onStepsDone(done: StepsDone): void;
  onGpuFailed(gpu: GpuId, now: number): void;
  /**
   * Admission control: whether `req` can still be served by its deadline on `aliveGpus` GPUs next to the work
   * already admitted (a necessary-condition test over the cost model; see admission.ts). Read-only: the caller
   * calls onArrival only for accepted requests.
   */
  admit(req: Request, now: number, aliveGpus: number): AdmissionDecision;
  /** Requests admitted but not finished (queued or running). */
  unfinished(): number;
}

/** Lifecycle of a request inside a scheduler. */
export type RequestPhase = 'queued' | 'running' | 'done';

/** The scheduler-side view of a request: progress and where it ran last (for placement preservation). */
export interface RequestState {
  readonly req: Request;
  /** Steps completed so far. */
  done: number;
  phase: RequestPhase;
  /**
   * The group of the current or most recent assignment; empty before the first one. Kept after one of its GPUs
   * fails: the request's state really lives there, so running anywhere else is a group change.
   */
  lastGroup: GpuId[];
  /** Steps of the assignment in flight (0 when not running). */
  inFlight: number;
  /** Precomputed index of the request's resolution in the cost model (avoids map lookups in the DP). */
  resIndex: number;
}

/**
 * Runs assignments. The simulator implements it with profile latencies; the live server will implement it
 * with real GPU workers. It reports back through the driver, which calls Scheduler.onStepsDone.
 */
export interface Executor {
  /** Starts `a` at time `now`; returns when the last step is expected to end (for the driver's timers). */
  launch(a: Assignment, now: number): number;
}
