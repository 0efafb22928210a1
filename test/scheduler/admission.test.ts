import { describe, expect, it } from 'vitest';
import { checkAdmission, demandTriage } from '../../src/scheduler/admission.js';
import { CostModel } from '../../src/scheduler/cost-model.js';
import { createScheduler } from '../../src/scheduler/index.js';
import type { Request } from '../../src/scheduler/types.js';
import { sar } from '../../src/sim/metrics.js';
import { simulate } from '../../src/sim/simulator.js';
import { generateWorkload } from '../../src/sim/workloads.js';
import { shippedProfile } from './helpers.js';

describe('admission control', () => {
  const model = new CostModel(shippedProfile(), 8);
  const fastest = (res: number): number => model.fastestStep(model.slot(res));

  it('accepts a lone feasible request and reports its solo finish as the earliest finish', () => {
    const req: Request = { id: 1, resolution: 1024, steps: 50, arrival: 10, deadline: 13 };
    const d = checkAdmission(model, req, 10, 8, []);
    expect(d.accepted).toBe(true);
    expect(d.reason).toBe('');
    expect(d.earliestFinish).toBeCloseTo(10 + 50 * fastest(1024), 9);
  });

  it('rejects a request that cannot finish even alone on its fastest degree, saying so', () => {
    // 2048² at 50 steps needs 5.8 s on 8 GPUs; 5 s are left.
    const d = checkAdmission(model, { id: 1, resolution: 2048, steps: 50, arrival: 0, deadline: 5 }, 0, 8, []);
    expect(d.accepted).toBe(false);
    expect(d.reason).toMatch(/even alone on the fastest degree/);
    expect(d.earliestFinish).toBeGreaterThan(5);
  });

  it('rejects when work due by the deadline exceeds what the alive GPUs offer, and accepts once GPUs return', () => {
    // Ten admitted 1024² requests due at t=4 need ~10 x 50 x 0.154 GPU-s (one GPU each is their cheapest plan).
    const admitted = Array.from({ length: 10 }, (_, i) => ({ req: { id: i, resolution: 1024, steps: 50, arrival: 0, deadline: 8 }, done: 0 }));
    const req: Request = { id: 99, resolution: 1024, steps: 50, arrival: 0, deadline: 8 };
    const full = checkAdmission(model, req, 0, 8, admitted);
    expect(full.accepted).toBe(false);
    expect(full.reason).toMatch(/cluster is full/);
    expect(full.earliestFinish).toBeGreaterThan(8);
    expect(checkAdmission(model, req, 0, 16, admitted).accepted).toBe(true);
    // Progress counts: the same requests half done leave room.
    expect(checkAdmission(model, req, 0, 8, admitted.map((w) => ({ ...w, done: 25 }))).accepted).toBe(true);
  });

  it('protects admitted requests with later deadlines', () => {
    // Eight 2048² requests due at t=60 each need ~33.6 GPU-s (50 steps on one GPU): 269 of the 8 x 60 = 480 GPU-s.
    // A burst of urgent work due at t=30 that fits its own deadline but pushes the t=60 total over is refused.
    const admitted = Array.from({ length: 12 }, (_, i) => ({ req: { id: i, resolution: 2048, steps: 50, arrival: 0, deadline: 60 }, done: 0 }));
    const own: Request = { id: 99, resolution: 2048, steps: 50, arrival: 0, deadline: 59 };
    const d = checkAdmission(model, own, 0, 8, admitted.slice(0, 11));
    expect(d.accepted).toBe(true);
    const d2 = checkAdmission(model, own, 0, 8, [...admitted, ...admitted.map((w) => ({ ...w, req: { ...w.req, id: w.req.id + 100 } }))].slice(0, 14));
    expect(d2.accepted).toBe(false);
    expect(d2.reason).toMatch(/already admitted request miss/);
  });

  it('ignores late admitted requests (best effort) and rejects on a dead cluster', () => {
    const late = { req: { id: 1, resolution: 2048, steps: 50, arrival: 0, deadline: 1 }, done: 0 };
    const req: Request = { id: 2, resolution: 512, steps: 50, arrival: 0, deadline: 3 };
    expect(checkAdmission(model, req, 0, 1, [late, late, late]).accepted).toBe(true);
    expect(checkAdmission(model, req, 0, 0, []).reason).toMatch(/no GPU is alive/);
  });

  it('in the simulator: refuses nothing at light load, refuses some under overload, never loses a request', () => {
    for (const policy of ['tetriserve', 'tetriserve+', 'rssp+triage+backfill']) {
      const light = generateWorkload({ seed: 3, count: 60, ratePerMin: 3, sloScale: 1.5 });
      const r1 = simulate(createScheduler(policy, model), model, light, { gpus: 8, admission: true });
      expect(r1.outcomes.filter((o) => o.rejected)).toHaveLength(0);
      const heavy = generateWorkload({ seed: 3, count: 120, ratePerMin: 90, sloScale: 1.2 });
      const r2 = simulate(createScheduler(policy, model), model, heavy, { gpus: 8, admission: true });
      const rejected = r2.outcomes.filter((o) => o.rejected);
      expect(rejected.length).toBeGreaterThan(0);
      expect(rejected.every((o) => !o.met)).toBe(true);
      expect(r2.outcomes).toHaveLength(120);
      expect(sar(r2)).toBeGreaterThan(0);
    }
  });

  it('the scheduler method reads its own admitted work', () => {
    const s = createScheduler('tetriserve', model);
    const mk = (id: number): Request => ({ id, resolution: 1024, steps: 50, arrival: 0, deadline: 8 });
    for (let i = 0; i < 10; i++) s.onArrival(mk(i), 0);
    expect(s.admit(mk(99), 0, 8).accepted).toBe(false);
    expect(createScheduler('tetriserve', model).admit(mk(99), 0, 8).accepted).toBe(true);
  });
});

describe('demand triage (Moore–Hodgson over the cluster)', () => {
  const model = new CostModel(shippedProfile(), 8);
  it('gives up the largest request when the work due by a deadline does not fit, keeping the most requests', () => {
    // 8 GPUs, now = 0. Two whole-cluster jobs (26 GPU-s each, due at 5 s: 40 GPU-s available) cannot both make it;
    // the small ones can. The later-deadline of the two equal big ones goes.
    const items = [
      { deadline: 5, gpuSeconds: 26, droppable: true },
      { deadline: 5.1, gpuSeconds: 26, droppable: true },
      { deadline: 2, gpuSeconds: 3, droppable: true },
      { deadline: 3, gpuSeconds: 3, droppable: true },
    ];
    expect([...demandTriage(items, 0, 8)]).toEqual([1]);
    // running work cannot be given up: its demand still counts
    expect([...demandTriage([{ deadline: 5, gpuSeconds: 38, droppable: false }, { deadline: 5, gpuSeconds: 3, droppable: true }], 0, 8)]).toEqual([1]);
    expect(demandTriage(items.slice(1), 0, 8).size).toBe(0);
  });
  it('stops whole-cluster requests from splitting the cluster until they miss (TetriServe+ option)', () => {
    // A burst of 2048² requests from the skewed workload (seed 1, SLO x1.0, 28 steps; 3.26 s each on 8 GPUs):
    // not all can make it. Without triage two of them share the cluster round after round and both miss.
    const burst: [number, number, number][] = [[0.51, 512, 2], [0.9, 2048, 5], [1.98, 2048, 5], [4.25, 2048, 5], [6.65, 2048, 5]];
    const reqs: Request[] = burst.map(([arrival, resolution, slo], id) => ({ id, resolution, steps: 28, arrival, deadline: arrival + slo }));
    const met = (demandTriage: boolean): number =>
      simulate(createScheduler('tetriserve+', model, { demandTriage }), model, reqs, { gpus: 8 }).outcomes.filter((o) => o.met).length;
    expect(met(true)).toBe(4);
    expect(met(false)).toBe(3);
  });
});
