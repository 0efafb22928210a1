// The strong baselines' switches do what they say: triage puts hopeless requests last, EASY backfill starts later
// requests around a blocked head without delaying the head's reserved start.
import { describe, expect, it } from 'vitest';
import { CostModel } from '../../src/scheduler/cost-model.js';
import { createScheduler } from '../../src/scheduler/index.js';
import type { Request } from '../../src/scheduler/types.js';
import { simulate } from '../../src/sim/simulator.js';
import { shippedProfile } from './helpers.js';

const model = new CostModel(shippedProfile(), 8);
const free = (n: number) => ({ total: n, alive: n, free: Array.from({ length: n }, (_, g) => g) });

describe('triage', () => {
  it('runs a request that can still make it before an earlier hopeless one; plain FCFS does not', () => {
    // 4 GPUs, SP=4: one group at a time. Request 0 (arrived first) cannot make its deadline at SP=4 any more.
    const reqs: Request[] = [
      { id: 0, resolution: 1024, steps: 50, arrival: 0, deadline: 1 },
      { id: 1, resolution: 1024, steps: 50, arrival: 0.01, deadline: 4 },
    ];
    const first = (policy: string): number => {
      const s = createScheduler(policy, model);
      for (const r of reqs) s.onArrival(r, 0.01);
      return s.planRound(0.01, free(4))[0].requestId;
    };
    expect(first('xdit:4')).toBe(0);
    expect(first('xdit:4+triage')).toBe(1);
    expect(first('edf:4+triage')).toBe(1);
    // In a simulation: request 0 holds the 4 GPUs until 2.91 s; then request 1 is hopeless, request 2 savable.
    const t4 = 50 * model.stepAtDegree(model.slot(1024), 4);
    const sim: Request[] = [
      { id: 0, resolution: 1024, steps: 50, arrival: 0, deadline: 100 },
      { id: 1, resolution: 1024, steps: 50, arrival: 0.1, deadline: 3 },
      { id: 2, resolution: 1024, steps: 50, arrival: 0.2, deadline: 2 * t4 + 0.1 },
    ];
    const met = (policy: string) => simulate(createScheduler(policy, model), model, sim, { gpus: 4 }).outcomes.map((o) => o.met);
    expect(met('xdit:4')).toEqual([true, false, false]);
    expect(met('xdit:4+triage')).toEqual([true, false, true]);
  });
});

describe('EASY backfill', () => {
  // 8 GPUs. RSSP picks the smallest degree whose whole run meets the SLO: 1 GPU for loose deadlines, 8 for tight.
  const slo = (res: number, steps: number, k: number): number => steps * model.stepAtDegree(model.slot(res), k);
  it('starts a later request that ends before the blocked head could start, and not one that would delay it', () => {
    // RSSP degrees: 1024² with a 2.0 s budget needs 8 GPUs (50 x 39.6 ms = 1.98 s), 256² with a long budget 1 GPU.
    const running: Request = { id: 0, resolution: 512, steps: 50, arrival: 0, deadline: 100 }; // RSSP: 1 GPU, 2.95 s
    const head: Request = { id: 1, resolution: 1024, steps: 50, arrival: 0.1, deadline: 0.1 + slo(1024, 50, 8) + 0.001 };
    const short: Request = { id: 2, resolution: 256, steps: 20, arrival: 0.2, deadline: 100 }; // 1 GPU, 0.76 s
    const long: Request = { id: 3, resolution: 256, steps: 50, arrival: 0.2, deadline: 0.2 + 200 }; // 1 GPU, 1.9 s
    const s = createScheduler('rssp+backfill', model);
    s.onArrival(running, 0);
    expect(s.planRound(0, free(8)).map((a) => a.gpus.length)).toEqual([1]);
    s.onArrival(head, 0.1);
    // The head needs all 8 GPUs: blocked until request 0 ends at 2.95 s.
    expect(s.planRound(0.1, { total: 8, alive: 8, free: [1, 2, 3, 4, 5, 6, 7] })).toEqual([]);
    s.onArrival(short, 0.2);
    s.onArrival(long, 0.2);
    // Shadow time 2.95 s: the short one (0.2 + 0.76 + move) fits before it, the long one (0.2 + 1.9) too, so both
    // start; a request ending after 2.95 s would not.
    const plan = s.planRound(0.2, { total: 8, alive: 8, free: [1, 2, 3, 4, 5, 6, 7] });
    expect(plan.map((a) => a.requestId).sort()).toEqual([2, 3]);
    const strict = createScheduler('rssp', model);
    strict.onArrival(running, 0);
    strict.planRound(0, free(8));
    strict.onArrival(head, 0.1);
    strict.onArrival(short, 0.2);
    expect(strict.planRound(0.2, { total: 8, alive: 8, free: [1, 2, 3, 4, 5, 6, 7] })).toEqual([]);
  });

  it('does not start a request that would still hold GPUs the head needs at its reserved start', () => {
    const running: Request = { id: 0, resolution: 512, steps: 50, arrival: 0, deadline: 100 }; // 1 GPU until 2.95 s
    const head: Request = { id: 1, resolution: 2048, steps: 50, arrival: 0.1, deadline: 6.2 }; // RSSP: 8 GPUs
    const tooLong: Request = { id: 2, resolution: 1024, steps: 50, arrival: 0.2, deadline: 300 }; // 1 GPU, 7.7 s
    const s = createScheduler('rssp+backfill', model);
    s.onArrival(running, 0);
    s.planRound(0, free(8));
    s.onArrival(head, 0.1);
    s.onArrival(tooLong, 0.2);
    expect(s.planRound(0.2, { total: 8, alive: 8, free: [1, 2, 3, 4, 5, 6, 7] })).toEqual([]);
  });
});
