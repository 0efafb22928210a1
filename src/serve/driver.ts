// Drives a Scheduler on the wall clock with real workers, exactly as src/sim/simulator.ts drives it in simulated
// time: completions (onStepsDone), then failures (onGpuFailed), then arrivals (onArrival), then a decision
// (planRound) at each round boundary (round-based policies; the first arrival into an idle system opens a round
// at once) or after every arrival and completion (event-driven policies, and planOnIdle ones).
import { EventEmitter } from 'node:events';
import type { Assignment, GpuId, Scheduler } from '../scheduler/types.js';
import type { RgbImage } from './engine.js';
import type { Job } from './jobs.js';
import type { AssignmentOutcome, Worker } from './worker.js';

/** One assignment as it ran (for the dashboard, metrics and the live-vs-simulated comparison). */
export interface AssignmentRun {
  requestId: number;
  resolution: number;
  gpus: readonly GpuId[];
  steps: number;
  start: number;
  end: number | null;
  completed: number;
}

export interface DriverEvents {
  decision: [{ at: number; seconds: number; assignments: number; free: number }];
  assignment: [AssignmentRun];
  step: [{ job: Job; gpus: readonly GpuId[]; seconds: number }];
  stage: [{ job: Job; gpu: GpuId; stage: 'encode' | 'decode'; seconds: number }];
  gpuLost: [{ gpu: GpuId; reason: string; at: number }];
  finished: [Job];
}

export interface DriverOptions {
  scheduler: Scheduler;
  workers: readonly Worker[];
  /** Stores the image of a finished job (PNG encoding, disk); its failure fails the job. */
  storeImage: (job: Job, image: RgbImage) => Promise<void>;
  /** Seconds on the server clock; default: process time since the driver started. */
  clock?: () => number;
  /** The workers can run assignments of degree > 1 (their pool has sequence-parallel groups); default false. */
  sequenceParallel?: boolean;
  /**
   * The profile's seconds for an assignment (steps x step time at its degree): with it, a round boundary waits
   * up to `boundaryGraceFraction` of a round for assignments the profile says end by the boundary (see onTick).
   */
  expectedSeconds?: (a: Assignment, resolution: number) => number;
  /** Longest wait at a boundary for those assignments, as a fraction of the round (default 0.1; 0: never wait). */
  boundaryGraceFraction?: number;
}

export class Driver extends EventEmitter<DriverEvents> {
  readonly scheduler: Scheduler;
  readonly workers: readonly Worker[];
  readonly clock: () => number;
  /** Jobs the scheduler still knows (forgotten once it has been told every step, so the map stays bounded). */
  private readonly jobs = new Map<number, Job>();
  /** Steps reported to the scheduler per job. */
  private readonly reported = new Map<number, number>();
  /** Jobs not finished yet (includes a done job whose image is still being stored). */
  private readonly live = new Set<Job>();
  private readonly busy = new Map<GpuId, number>(); // gpu -> request id
  private readonly dead = new Set<GpuId>();
  private readonly running = new Map<number, Promise<void>>();
  private nextTick: number | null = null;
  private tickTimer: NodeJS.Timeout | null = null;
  /** While a boundary waits for late assignments: the requests it waits for, and its time limit. */
  private hold: { waiting: Set<number>; timer: NodeJS.Timeout } | null = null;
  /** Expected end (server clock) of each running assignment, by request id (when expectedSeconds is given). */
  private readonly expectedEnd = new Map<number, number>();
  private readonly expectedSeconds: DriverOptions['expectedSeconds'] | null;
  private readonly graceFraction: number;
  /** Boundaries that waited for late assignments, and how long in all (seconds). */
  readonly boundaryHolds = { count: 0, seconds: 0 };
  private stopped = false;
  /** Assignments of the last few minutes (dashboard). */
  readonly history: AssignmentRun[] = [];
  readonly roundStarts: number[] = [];
  private readonly storeImage: DriverOptions['storeImage'];
  private idleWaiters: (() => void)[] = [];
  private readonly sequenceParallel: boolean;

  constructor(opts: DriverOptions) {
    super();
    this.scheduler = opts.scheduler;
    this.workers = opts.workers;
    this.storeImage = opts.storeImage;
    this.sequenceParallel = opts.sequenceParallel ?? false;
    this.expectedSeconds = opts.expectedSeconds ?? null;
    this.graceFraction = opts.boundaryGraceFraction ?? 0.1;
    const t0 = performance.now();
    this.clock = opts.clock ?? (() => (performance.now() - t0) / 1000);
    for (const w of this.workers) w.onLost((reason) => this.onWorkerLost(w, reason));
  }

  get aliveGpus(): GpuId[] {
    return this.workers.filter((w) => w.alive && !this.dead.has(w.gpu)).map((w) => w.gpu);
  }

  get unfinishedJobs(): Job[] {
    return [...this.live];
  }

  job(num: number): Job | undefined {
    return this.jobs.get(num);
  }

  /** Admits a job (validation and admission happened before). */
  submit(job: Job): void {
    if (this.stopped) throw new Error('the server is shutting down; no new work is accepted');
    this.jobs.set(job.num, job);
    this.live.add(job);
    this.scheduler.onArrival({ id: job.num, resolution: job.params.resolution, steps: job.totalSteps, arrival: job.arrival, deadline: job.deadline }, this.clock());
    this.afterEvent();
  }

  /** Cancels a job: queued work never runs, a running assignment stops after its current step. */
  cancel(job: Job): boolean {
    if (job.finished) return false;
    job.cancelRequested = true;
    if (job.state === 'queued') this.finish(job, 'cancelled');
    return true;
  }

  private get isIdle(): boolean {
    // With no GPU left the scheduler keeps its unfinished requests forever; nothing more can happen.
    return (this.scheduler.unfinished() === 0 || this.aliveGpus.length === 0) && this.running.size === 0 && this.live.size === 0;
  }

  /** Resolves when no job is unfinished (images stored included) and no assignment runs. */
  idle(): Promise<void> {
    if (this.isIdle) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }

  /** Stops making decisions; running assignments stop after their current step. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.tickTimer) clearTimeout(this.tickTimer);
    this.tickTimer = null;
    if (this.hold) clearTimeout(this.hold.timer);
    this.hold = null;
    await Promise.allSettled([...this.running.values()]);
  }

  // --- the loop ---

  private afterEvent(): void {
    if (this.stopped) return;
    const round = this.scheduler.roundSeconds;
    if (round === null) {
      this.decide();
    } else if (this.nextTick === null) {
      // The system was idle: the first arrival gets a decision at once. The scheduler decides whether that opens
      // a round (its previous round is over) or fills the rest of the current one; the next boundary is its round
      // end either way (the simulator follows the scheduler's grid the same way).
      if (this.scheduler.unfinished() > 0) {
        const at = this.decide();
        this.armTick(this.scheduler.roundEndsAt ?? at + round);
      }
    } else if (this.scheduler.planOnIdle) {
      this.decide();
      this.followGrid();
    }
    this.dropTickWhenIdle();
    this.checkIdle();
  }

  /** After a mid-round decision: a call that opened a round (at or after its end) moves the next boundary. */
  private followGrid(): void {
    const end = this.scheduler.roundEndsAt;
    if (end !== undefined && this.nextTick !== null && Math.abs(end - this.nextTick) > 1e-9 && !this.hold) this.armTick(end);
  }

  /**
   * Round-based policies with nothing left: no boundary is pending, so the next arrival is decided at once (as
   * in the simulator, which forgets its next tick when the system empties).
   */
  private dropTickWhenIdle(): void {
    if (this.nextTick === null || this.hold || this.scheduler.unfinished() > 0 || this.running.size > 0) return;
    if (this.tickTimer) clearTimeout(this.tickTimer);
    this.tickTimer = null;
    this.nextTick = null;
  }

  private armTick(at: number): void {
    this.nextTick = at;
    if (this.tickTimer) clearTimeout(this.tickTimer);
    // +1 ms: libuv measures a timer from its cached loop time, so it can fire a little before `at` on this clock,
    // which the scheduler would take for a mid-round call.
    this.tickTimer = setTimeout(() => this.onTick(), Math.max(0, (at - this.clock()) * 1000) + 1);
  }

  private onTick(): void {
    this.tickTimer = null;
    if (this.stopped) return;
    if (this.scheduler.unfinished() === 0 && this.running.size === 0) {
      this.nextTick = null;
      this.checkIdle();
      return;
    }
    // In the simulator an assignment the profile says ends on the boundary ends exactly there, and its GPUs join
    // the round that opens (completions come before planRound at one instant). Live it ends a few milliseconds
    // late, and without this wait its GPUs would idle a whole round (policies without dispatch on idle). So the
    // boundary waits, up to a fraction of a round, for the assignments expected to have ended by it.
    const boundary = this.nextTick ?? this.clock();
    const round = this.scheduler.roundSeconds!;
    const grace = this.graceFraction * round;
    if (this.expectedSeconds && grace > 0 && !this.scheduler.planOnIdle) {
      const waiting = new Set([...this.running.keys()].filter((id) => (this.expectedEnd.get(id) ?? Infinity) <= boundary + 1e-3));
      if (waiting.size > 0) {
        const t0 = this.clock();
        const release = (): void => {
          if (!this.hold) return;
          clearTimeout(this.hold.timer);
          this.hold = null;
          this.boundaryHolds.count++;
          this.boundaryHolds.seconds += this.clock() - t0;
          if (!this.stopped) this.openRound();
        };
        this.hold = { waiting, timer: setTimeout(release, grace * 1000) };
        this.holdRelease = release;
        return;
      }
    }
    this.openRound();
  }

  private holdRelease: (() => void) | null = null;

  /** A round boundary: planRound now, and the next boundary one round after this decision. */
  private openRound(): void {
    const round = this.scheduler.roundSeconds!;
    this.roundStarts.push(this.clock());
    if (this.roundStarts.length > 2000) this.roundStarts.splice(0, 1000);
    const at = this.decide();
    // The next boundary is the scheduler's round end: the round it opened at `at` (a grid kept from the scheduled
    // times would drift when timers fire late, and make its planRound look like a mid-round call).
    this.armTick(this.scheduler.roundEndsAt ?? at + round);
  }

  /** Calls planRound and launches its assignments; returns the time it decided at. */
  private decide(): number {
    const now = this.clock();
    const alive = this.aliveGpus;
    const free = alive.filter((g) => !this.busy.has(g));
    if (alive.length === 0) return now;
    const t0 = performance.now();
    const plan = this.scheduler.planRound(now, { total: this.workers.length, alive: alive.length, free });
    const seconds = (performance.now() - t0) / 1000;
    this.emit('decision', { at: now, seconds, assignments: plan.length, free: free.length });
    for (const a of plan) this.launch(a, now);
    return now;
  }

  private launch(a: Assignment, now: number): void {
    const job = this.jobs.get(a.requestId);
    if (!job) throw new Error(`scheduler ${this.scheduler.name} assigned unknown request ${a.requestId}`);
    // Batched assignments (a batching scheduler's `batch` members) have no executor here: the live server runs
    // batch 1 only, so a batching scheduler is a configuration error, not something to run silently unbatched.
    const batch = (a as { batch?: readonly number[] }).batch;
    if (batch && batch.length) throw new Error(`scheduler ${this.scheduler.name} assigned a batch (${[a.requestId, ...batch].join(', ')}); the live server runs batch 1 only: use a policy without batching`);
    for (const g of a.gpus) {
      if (this.busy.has(g) || this.dead.has(g)) throw new Error(`scheduler ${this.scheduler.name} gave busy or dead GPU ${g} to request ${a.requestId}`);
    }
    if (job.cancelRequested || job.finished) {
      // Abandoned work (cancelled, failed) is fast-forwarded: the scheduler has no cancel call, so its steps are
      // reported done at once without touching a GPU; the request leaves the scheduler within a few decisions.
      queueMicrotask(() => this.complete(job, a, { completed: a.steps }, null));
      return;
    }
    if (a.gpus.length > 1 && !this.sequenceParallel) {
      // The cost model is capped at the degrees the server can run, so this is a configuration bug.
      throw new Error(`degree ${a.gpus.length} assignment for request ${a.requestId}, but this server has no sequence-parallel groups (--max-degree 1)`);
    }
    // The group's first GPU leads: it runs encode/decode and drives the group's steps.
    const gpu = a.gpus[0];
    const worker = this.workers.find((w) => w.gpu === gpu)!;
    for (const g of a.gpus) this.busy.set(g, a.requestId);
    const run: AssignmentRun = { requestId: a.requestId, resolution: job.params.resolution, gpus: a.gpus, steps: a.steps, start: now, end: null, completed: 0 };
    this.history.push(run);
    if (this.history.length > 5000) this.history.splice(0, 2500);
    job.setState('running');
    const p = worker
      .run({
        requestId: a.requestId,
        jobId: job.id,
        params: job.params,
        totalSteps: job.totalSteps,
        progress: job.progress,
        steps: a.steps,
        shouldStop: () => job.cancelRequested || this.stopped,
        onStage: (ev) => {
          if (ev.kind === 'step') {
            const rec = { step: ev.step, gpus: a.gpus, start: ev.start - this.offset(), end: ev.end - this.offset() };
            job.stepLog.push(rec);
            run.completed++;
            job.emit('step', { ...rec, latents: ev.latents });
            this.emit('step', { job, gpus: a.gpus, seconds: ev.end - ev.start });
          } else {
            if (ev.kind === 'encode') job.encodeSeconds += ev.seconds;
            else job.decodeSeconds += ev.seconds;
            this.emit('stage', { job, gpu, stage: ev.kind, seconds: ev.seconds });
          }
        },
      }, a.gpus.length > 1 ? a.gpus : undefined)
      .then((out) => this.complete(job, a, out, run), (e: unknown) => this.complete(job, a, { completed: 0, error: e as Error }, run));
    this.running.set(a.requestId, p);
    if (this.expectedSeconds) this.expectedEnd.set(a.requestId, now + this.expectedSeconds(a, job.params.resolution));
    this.emit('assignment', run);
  }

  /** Worker stage times use performance.now()/1000; the server clock may be offset from it. */
  private offset(): number {
    return performance.now() / 1000 - this.clock();
  }

  private complete(job: Job, a: Assignment, out: AssignmentOutcome, run: AssignmentRun | null): void {
    const now = this.clock();
    this.running.delete(a.requestId);
    this.expectedEnd.delete(a.requestId);
    for (const g of a.gpus) if (this.busy.get(g) === a.requestId) this.busy.delete(g);
    if (run) {
      run.end = now;
      // Non-leading members of a group were busy for the whole assignment too.
      for (const g of a.gpus.slice(1)) this.workers.find((w) => w.gpu === g)?.chargeBusy(now - run.start);
    }
    this.scheduler.onStepsDone({ requestId: a.requestId, completed: out.completed, at: now });
    const told = (this.reported.get(a.requestId) ?? 0) + out.completed;
    if (told >= job.totalSteps) {
      this.jobs.delete(a.requestId);
      this.reported.delete(a.requestId);
    } else {
      this.reported.set(a.requestId, told);
    }
    const lost = a.gpus.filter((g) => !this.workers.find((w) => w.gpu === g)!.alive);
    if (out.error && lost.length === 0 && !job.finished) {
      // The devices are fine: the request itself failed (engine error). It is not retried. A prompt over the text
      // encoders' token budget is the client's error and is reported as such.
      if (out.error.name === 'TruncationError' || /tokens? too long/i.test(out.error.message)) {
        job.errorParam = 'prompt';
        this.finish(job, 'failed', out.error.message);
      } else {
        this.finish(job, 'failed', `engine error on GPU ${a.gpus.join(',')}: ${out.error.message}`);
      }
    }
    for (const g of lost) this.markDead(g, now);
    if (!job.finished) {
      if (out.image) {
        const image = out.image;
        job.finishedAt = now; // the image exists now; storing it is bookkeeping
        this.storeImage(job, image).then(
          () => this.finish(job, 'done'),
          (e: unknown) => this.finish(job, 'failed', `could not store the image: ${(e as Error).message}`),
        );
      } else if (job.cancelRequested) {
        this.finish(job, 'cancelled');
      } else {
        job.setState('queued');
      }
    }
    // A fast-forwarded (abandoned) assignment took no GPU time: re-plan now so the GPUs it was given do not idle
    // until the next boundary (a mid-round planRound fills the current round, as planOnIdle does).
    if (this.hold) {
      this.hold.waiting.delete(a.requestId);
      // The last assignment a boundary waited for: the round opens now, with its GPUs free.
      if (this.hold.waiting.size === 0) this.holdRelease?.();
    }
    if (run === null && !this.stopped) {
      this.decide();
      this.followGrid();
      this.dropTickWhenIdle();
      // The scheduler may just have been told the last steps of an abandoned request: idle() waiters wake here.
      this.checkIdle();
    } else {
      this.afterEvent();
    }
  }

  /**
   * Fails an unfinished job now (shutdown past the drain limit). A finished one is left as it is, and so is one whose
   * image exists and is being stored (it finishes done).
   */
  fail(job: Job, error: string): void {
    if (job.finishedAt !== null) return;
    this.finish(job, 'failed', error);
  }

  private finish(job: Job, state: 'done' | 'failed' | 'cancelled', error?: string): void {
    if (job.finished) return;
    if (state !== 'done') job.finishedAt = this.clock();
    if (error) job.error = error;
    if (state !== 'done') job.cancelRequested = true; // any later assignment of it is fast-forwarded
    this.live.delete(job);
    job.setState(state);
    this.emit('finished', job);
    this.checkIdle();
  }

  private onWorkerLost(w: Worker, reason: string): void {
    const at = this.clock();
    this.emit('gpuLost', { gpu: w.gpu, reason, at });
    // A busy worker reports through its assignment's outcome (completed steps first, then the failure);
    // an idle one is removed now.
    if (!this.busy.has(w.gpu)) {
      this.markDead(w.gpu, at);
      this.afterEvent();
    }
  }

  private markDead(gpu: GpuId, at: number): void {
    if (this.dead.has(gpu)) return;
    this.dead.add(gpu);
    this.scheduler.onGpuFailed(gpu, at);
    // Once the last GPU is gone, admitted work fails now with the reasons instead of waiting for a GPU that will
    // not come back (a running assignment reports first; its job fails here when its outcome arrives).
    if (this.aliveGpus.length === 0) queueMicrotask(() => this.failWaitingJobs());
  }

  private failWaitingJobs(): void {
    if (this.aliveGpus.length > 0) return;
    const why = this.workers.map((w) => `GPU ${w.gpu}: ${w.lostReason ?? 'closed'}`).join('; ');
    // fail() leaves finished jobs and those whose image is being stored; a running one fails when its outcome arrives.
    for (const job of [...this.live]) if (!this.running.has(job.num)) this.fail(job, `no GPU worker is left to run it (${why})`);
  }

  private checkIdle(): void {
    if (!this.isIdle) return;
    const ws = this.idleWaiters;
    this.idleWaiters = [];
    for (const r of ws) r();
  }
}
