// Property tests over many random workloads, clusters, profiles, policies and GPU failures:
// no GPU in two groups at once; every step of every request runs exactly once, in order; groups change only
// between steps; nothing runs on a failed GPU; every request finishes; same seed -> same schedule.
import { describe, expect, it } from 'vitest';
import { CostModel } from '../../src/scheduler/cost-model.js';
import { createScheduler } from '../../src/scheduler/index.js';
import type { LatencyProfile } from '../../src/scheduler/profile.js';
import type { TetriServeOptions } from '../../src/scheduler/tetriserve.js';
import { simulate, type SimResult } from '../../src/sim/simulator.js';
import { generateWorkload } from '../../src/sim/workloads.js';
import { propertySeed, randomProfile, Rng, shippedProfile } from './helpers.js';

interface Trial {
  profile: LatencyProfile;
  gpus: number;
  policy: string;
  tetri: TetriServeOptions;
  workloadSeed: number;
  count: number;
  rate: number;
  mix: 'uniform' | 'skewed';
  sloScale: number;
  steps: number;
  resolutions: number[];
  failures: { gpu: number; at: number }[];
  admission: boolean;
}

function randomTrial(rng: Rng): Trial {
  const profile = rng.next() < 0.5 ? shippedProfile() : randomProfile(rng);
  const gpus = [1, 2, 3, 4, 5, 8, 12, 16][rng.int(0, 7)];
  const usable = profile.degrees.filter((d) => d <= gpus);
  const kinds = ['tetriserve', 'tetriserve', 'tetriserve', 'xdit', 'edf', 'rssp'];
  const kind = kinds[rng.int(0, kinds.length - 1)];
  let policy = kind === 'xdit' || kind === 'edf' ? `${kind}:${usable[rng.int(0, usable.length - 1)]}` : kind;
  if (kind !== 'tetriserve') policy += (rng.next() < 0.5 ? '+triage' : '') + (rng.next() < 0.5 ? '+backfill' : '');
  const tetri: TetriServeOptions = {
    roundSteps: [1, 2, 5, 10][rng.int(0, 3)],
    placement: rng.next() < 0.7,
    elasticScaleUp: rng.next() < 0.7,
    dispatchOnIdle: rng.next() < 0.5,
    smartLate: rng.next() < 0.5,
    queueAware: rng.next() < 0.3,
    deferMarginRounds: rng.next() < 0.3 ? rng.int(0, 2) : 0,
    demandTriage: rng.next() < 0.4,
    batching: rng.next() < 0.35,
    reserveLarge: rng.next() < 0.3,
    quantumSteps: rng.next() < 0.3 ? [0.5, 1, 2][rng.int(0, 2)] : 0,
  };
  const pool = [256, 384, 512, 768, 1024, 2048];
  const resolutions = pool.filter(() => rng.next() < 0.6);
  if (resolutions.length === 0) resolutions.push(512);
  const failures: { gpu: number; at: number }[] = [];
  if (gpus > 1 && rng.next() < 0.35) {
    const n = rng.int(1, gpus - 1);
    const ids = Array.from({ length: gpus }, (_, g) => g).sort(() => rng.next() - 0.5).slice(0, n);
    for (const gpu of ids) failures.push({ gpu, at: rng.next() * 60 });
  }
  return {
    profile: tetri.batching ? withRandomBatches(profile, rng) : profile,
    gpus,
    policy,
    tetri,
    workloadSeed: rng.int(0, 1e6),
    count: rng.int(5, 35),
    rate: 6 + rng.next() * 60,
    mix: rng.next() < 0.5 ? 'uniform' : 'skewed',
    sloScale: 0.8 + rng.next() * 1.2,
    steps: rng.int(1, 20),
    resolutions,
    failures,
    admission: rng.next() < 0.2,
  };
}

/** Batched step times (batch 2, 3 or 4; 1.05-2.2 x the step) at some resolutions and degrees, like a partial measurement. */
function withRandomBatches(p: LatencyProfile, rng: Rng): LatencyProfile {
  const entries = p.entries.map((e) => {
    if (rng.next() < 0.4) return e;
    const bs: Record<string, Record<string, number>> = {};
    for (const b of [2, 3, 4]) {
      if (rng.next() < 0.3) continue;
      const row: Record<string, number> = {};
      for (const d of p.degrees) if (rng.next() < 0.7) row[String(d)] = e.stepSeconds[String(d)] * (1 + (b - 1) * (0.05 + 0.35 * rng.next()));
      if (Object.keys(row).length) bs[String(b)] = row;
    }
    return Object.keys(bs).length ? { ...e, batchStepSeconds: bs } : e;
  });
  return { ...p, entries };
}

function run(t: Trial): SimResult {
  const model = new CostModel(t.profile, t.gpus);
  const baseSlo = Object.fromEntries(t.resolutions.map((r) => [r, 0.3 + (r / 512) ** 2 * 0.5]));
  const reqs = generateWorkload({ seed: t.workloadSeed, count: t.count, ratePerMin: t.rate, mix: t.mix, sloScale: t.sloScale, steps: t.steps, resolutions: t.resolutions, baseSlo });
  const sched = createScheduler(t.policy, model, t.tetri, { batching: true });
  return simulate(sched, model, reqs, { gpus: t.gpus, trace: true, failures: t.failures, admission: t.admission });
}

function checkInvariants(t: Trial, r: SimResult, ctx: string): void {
  const model = new CostModel(t.profile, t.gpus);
  const EPS = 1e-9;
  // 1. No GPU in two groups at once (assignment intervals on each GPU are disjoint).
  const perGpu = new Map<number, { s: number; e: number; id: number }[]>();
  for (const a of r.assignments) {
    expect(new Set(a.gpus).size, `${ctx}: duplicate GPU in a group`).toBe(a.gpus.length);
    expect([...model.degrees], `${ctx}: group size ${a.gpus.length} is not a profiled degree`).toContain(a.gpus.length);
    for (const g of a.gpus) {
      expect(g >= 0 && g < t.gpus, `${ctx}: GPU id ${g} out of range`).toBe(true);
      const list = perGpu.get(g) ?? [];
      list.push({ s: a.start, e: a.end, id: a.requestId });
      perGpu.set(g, list);
    }
  }
  for (const [g, list] of perGpu) {
    list.sort((x, y) => x.s - y.s || x.e - y.e);
    for (let i = 1; i < list.length; i++) {
      expect(list[i].s, `${ctx}: GPU ${g} runs request ${list[i].id} while request ${list[i - 1].id} holds it`).toBeGreaterThanOrEqual(list[i - 1].e - EPS);
    }
  }
  // 1b. Round-based: an assignment ends by the boundary of its round. Mid-round (idle dispatch) always; at a
  // boundary only a single step that cannot fit the round may overrun it (a step is never split).
  for (const a of r.assignments) {
    if (a.roundEnd === null || a.completed < a.steps) continue;
    const within = a.end <= a.roundEnd + EPS;
    expect(within || (a.boundary && a.steps === 1), `${ctx}: request ${a.requestId} assigned at ${a.start} (${a.boundary ? 'boundary' : 'mid-round'}) for ${a.steps} steps ends at ${a.end}, after the round boundary ${a.roundEnd}`).toBe(true);
  }
  // 1c. A batch runs requests of one resolution, each at most once, at the profile's batched step time.
  const resOf = new Map(r.outcomes.map((o) => [o.id, o.resolution]));
  for (const a of r.assignments) {
    if (!a.batch) continue;
    const ids = [a.requestId, ...a.batch];
    expect(new Set(ids).size, `${ctx}: a request twice in one batch`).toBe(ids.length);
    for (const id of ids) expect(resOf.get(id), `${ctx}: batch of ${a.requestId} mixes resolutions`).toBe(resOf.get(a.requestId));
    const t1 = model.batchStep(resOf.get(a.requestId)!, a.gpus.length, ids.length);
    if (a.completed === a.steps) expect(a.end - a.firstStep, `${ctx}: batch of ${a.requestId} step time`).toBeCloseTo(a.steps * t1, 9);
  }
  // 2. Nothing runs on a GPU after it failed.
  for (const f of t.failures) {
    for (const s of r.steps) if (s.gpus.includes(f.gpu)) expect(s.end, `${ctx}: step on GPU ${f.gpu} after its failure at ${f.at}`).toBeLessThanOrEqual(f.at + EPS);
  }
  // 3. Every step of every request exactly once, in order, one group per step, steps never overlap.
  const byReq = new Map<number, typeof r.steps>();
  for (const s of r.steps) {
    const l = byReq.get(s.requestId) ?? [];
    l.push(s);
    byReq.set(s.requestId, l);
  }
  expect(r.outcomes.length, `${ctx}: every request has an outcome`).toBe(t.count);
  for (const o of r.outcomes) {
    const l = byReq.get(o.id) ?? [];
    if (o.rejected) {
      expect(t.admission && !o.met && l.length === 0, `${ctx}: request ${o.id} rejected`).toBe(true);
      continue;
    }
    expect(l.map((s) => s.step), `${ctx}: request ${o.id} steps`).toEqual(Array.from({ length: t.steps }, (_, i) => i));
    for (let i = 0; i < l.length; i++) {
      expect(l[i].start, `${ctx}: request ${o.id} step ${i} before arrival`).toBeGreaterThanOrEqual(o.arrival - EPS);
      if (i > 0) expect(l[i].start, `${ctx}: request ${o.id} step ${i} overlaps step ${i - 1}`).toBeGreaterThanOrEqual(l[i - 1].end - EPS);
    }
    expect(o.finish, `${ctx}: request ${o.id} finish`).toBeCloseTo(l[l.length - 1].end, 9);
    expect(o.met, `${ctx}: request ${o.id} met flag`).toBe(o.finish <= o.deadline + EPS);
  }
}

describe('scheduler invariants (property tests)', () => {
  it('hold for random workloads, clusters, profiles, policies and GPU failures', () => {
    const seed = propertySeed();
    const rng = new Rng(seed);
    for (let i = 0; i < 160; i++) {
      const t = randomTrial(rng);
      const ctx = `seed ${seed} trial ${i} (${t.policy} ${JSON.stringify(t.tetri)}, ${t.gpus} GPUs, ${t.failures.length} failures, admission ${t.admission})`;
      const r = run(t);
      checkInvariants(t, r, ctx);
    }
  });

  it('give the same schedule for the same seed', () => {
    const seed = propertySeed();
    const rng = new Rng(seed);
    for (let i = 0; i < 30; i++) {
      const t = randomTrial(rng);
      const a = run(t);
      const b = run(t);
      expect(JSON.stringify(b.assignments), `seed ${seed} trial ${i}`).toBe(JSON.stringify(a.assignments));
      expect(b.outcomes, `seed ${seed} trial ${i}`).toEqual(a.outcomes);
    }
  });
});
