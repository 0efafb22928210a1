// Scheduling-overhead benchmark: wall time of one TetriServe round decision (allocation + packing DP +
// scale-up + placement) for a cluster of G GPUs, all free, with Q queued requests that can all still meet
// their deadlines (the DP's worst case: every request is an item, every GPU count a column).
import { CostModel } from '../scheduler/cost-model.js';
import type { LatencyProfile } from '../scheduler/profile.js';
import { TetriServeScheduler, type TetriServeOptions } from '../scheduler/tetriserve.js';
import { median, percentile } from './metrics.js';
import { Rng } from './rng.js';

const WARMUP = 8;

export interface OverheadRow {
  gpus: number;
  queued: number;
  medianMs: number;
  /** Fastest decision: the compute cost without preemption noise from a loaded host. */
  minMs: number;
  p90Ms: number;
  trials: number;
}

export function measureOverhead(profile: LatencyProfile, gpus: number, queued: number, trials = 101, opts: TetriServeOptions = {}): OverheadRow {
  const resolutions = [256, 512, 1024, 2048];
  const times: number[] = [];
  for (let t = -WARMUP; t < trials; t++) {
    // A fresh scheduler per trial: planRound starts requests, so a second call would see a different queue.
    const model = new CostModel(profile, gpus);
    const sched = new TetriServeScheduler(model, opts);
    const rng = new Rng(1000 + t);
    for (let i = 0; i < queued; i++) {
      const resolution = resolutions[rng.int(0, 3)];
      // Deadlines 10..600 s: all on time, so none short-circuits to the late list.
      sched.onArrival({ id: i, resolution, steps: 50, arrival: 0, deadline: 10 + rng.next() * 590 });
    }
    const free = Array.from({ length: gpus }, (_, g) => g);
    const t0 = performance.now();
    sched.planRound(0, { total: gpus, alive: gpus, free });
    const dt = performance.now() - t0;
    if (t >= 0) times.push(dt); // the first WARMUP calls are warm-up (JIT)
  }
  return { gpus, queued, medianMs: median(times), minMs: Math.min(...times), p90Ms: percentile(times, 90), trials };
}
