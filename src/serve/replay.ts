// Live replay of a request trace through the driver on real workers, and the same trace in the simulator: the
// serving experiment (scripts/gpu-serve-experiment.sh) and its CI smoke test. Requests are submitted at their
// trace arrival times on the wall clock, straight to the driver (the HTTP layer is tested separately; here the
// question is whether the scheduler keeps deadlines on real GPUs as the simulator predicts).
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { CostModel } from '../scheduler/cost-model.js';
import { createScheduler } from '../scheduler/index.js';
import type { LatencyProfile } from '../scheduler/profile.js';
import type { Request } from '../scheduler/types.js';
import { simulate } from '../sim/simulator.js';
import { Driver } from './driver.js';
import type { GroupExecutors } from './groups.js';
import { Job } from './jobs.js';
import type { Worker } from './worker.js';

export interface ReplayOutcome {
  id: number;
  resolution: number;
  arrival: number;
  deadline: number;
  finish: number;
  met: boolean;
}

export interface ReplayResult {
  policy: string;
  attainment: number;
  outcomes: ReplayOutcome[];
  /** Measured seconds per step at degree 1 by resolution (median over the run). */
  stepSeconds: Record<number, number>;
  /** Measured seconds per step by "degree:resolution" (median over the run). */
  stepSecondsByDegree: Record<string, number>;
  gpuBusySeconds: number[];
  wallSeconds: number;
  /** Median planRound wall time (ms). */
  decisionMsMedian: number;
  /**
   * Event-loop delay while the replay ran (ms, p50/p99/max): what any status request waited before its handler
   * ran (the handler itself is well under a millisecond), i.e. the HTTP layer's responsiveness with GPUs busy.
   */
  eventLoopDelayMs: { p50: number; p99: number; max: number };
  /** Steps run at each degree. */
  stepsByDegree: Record<number, number>;
  /** Median text encoding + decoding seconds per request, by resolution (run inside assignments). */
  stageSeconds: Record<number, number>;
}

const median = (xs: number[]): number => (xs.length ? [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] : NaN);

/** Replays `trace` (arrival/deadline in seconds from the start) under `policy` on `workers`. */
export async function replayLive(workers: Worker[], profile: LatencyProfile, policy: string, trace: readonly Request[], opts: { maxDegree?: number; guidance?: number; groups?: GroupExecutors } = {}): Promise<ReplayResult> {
  const model = new CostModel(profile, workers.length, opts.maxDegree ?? 1);
  const scheduler = createScheduler(policy, model);
  const busy0 = workers.map((w) => w.busySeconds);
  const driver = new Driver({ scheduler, workers, groups: opts.groups, storeImage: async () => undefined });
  const degreeSteps = new Map<number, number>();
  driver.on('step', (s) => degreeSteps.set(s.gpus.length, (degreeSteps.get(s.gpus.length) ?? 0) + 1));
  const steps = new Map<number, number[]>();
  const decisions: number[] = [];
  const stepsByDeg = new Map<string, number[]>();
  driver.on('step', (s) => {
    const key = `${s.gpus.length}:${s.job.params.resolution}`;
    stepsByDeg.set(key, [...(stepsByDeg.get(key) ?? []), s.seconds]);
    if (s.gpus.length === 1) steps.set(s.job.params.resolution, [...(steps.get(s.job.params.resolution) ?? []), s.seconds]);
  });
  driver.on('decision', (d) => decisions.push(d.seconds * 1000));
  const stages = new Map<number, number>();
  driver.on('stage', (s) => stages.set(s.job.num, (stages.get(s.job.num) ?? 0) + s.seconds));
  const jobs: Job[] = [];
  const loop = monitorEventLoopDelay({ resolution: 1 });
  loop.enable();
  const t0 = driver.clock();
  await new Promise<void>((resolve) => {
    let submitted = 0;
    for (const r of trace) {
      setTimeout(() => {
        const now = driver.clock();
        // Deadlines keep the trace's SLO from the actual submission time (timer lateness is not charged).
        const job = new Job(`r${r.id}`, r.id, { prompt: `trace request ${r.id}`, negativePrompt: '', resolution: r.resolution, steps: r.steps, guidance: opts.guidance ?? 3.5, seed: r.id, strength: 1 }, 0, now, now + (r.deadline - r.arrival), false, 'png');
        jobs.push(job);
        driver.submit(job);
        if (++submitted === trace.length) resolve();
      }, Math.max(0, (r.arrival - (driver.clock() - t0)) * 1000));
    }
    if (trace.length === 0) resolve();
  });
  await driver.idle();
  loop.disable();
  const wall = driver.clock() - t0;
  await driver.stop();
  const outcomes = jobs.map((j) => ({ id: j.num, resolution: j.params.resolution, arrival: j.arrival - t0, deadline: j.deadline - t0, finish: (j.finishedAt ?? Infinity) - t0, met: j.met === true }));
  const stepSeconds: Record<number, number> = {};
  for (const [r, xs] of steps) stepSeconds[r] = median(xs);
  const stageBy = new Map<number, number[]>();
  for (const j of jobs) stageBy.set(j.params.resolution, [...(stageBy.get(j.params.resolution) ?? []), stages.get(j.num) ?? 0]);
  const stageSeconds: Record<number, number> = {};
  for (const [r, xs] of stageBy) stageSeconds[r] = median(xs);
  return {
    eventLoopDelayMs: { p50: loop.percentile(50) / 1e6, p99: loop.percentile(99) / 1e6, max: loop.max / 1e6 },
    stepSecondsByDegree: Object.fromEntries([...stepsByDeg].map(([k, xs]) => [k, median(xs)])),
    stepsByDegree: Object.fromEntries(degreeSteps),
    stageSeconds,
    policy: scheduler.name,
    attainment: outcomes.length ? outcomes.filter((o) => o.met).length / outcomes.length : 1,
    outcomes,
    stepSeconds,
    gpuBusySeconds: workers.map((w, i) => w.busySeconds - busy0[i]),
    wallSeconds: wall,
    decisionMsMedian: median(decisions),
  };
}

/** The simulator's attainment on the same trace with `profile`. */
export function replaySimulated(profile: LatencyProfile, gpus: number, policy: string, trace: readonly Request[], maxDegree = 1): number {
  const model = new CostModel(profile, gpus, maxDegree);
  const r = simulate(createScheduler(policy, model), model, trace, { gpus });
  return r.outcomes.length ? r.outcomes.filter((o) => o.met).length / r.outcomes.length : 1;
}
