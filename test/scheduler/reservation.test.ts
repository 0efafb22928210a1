// TetriServe+reserve (reserveLarge + quantumSteps, the 2048² starvation): behaviour on fixed seeds, each test seen
// failing with the part it checks removed (noted per test).
import { describe, expect, it } from 'vitest';
import { CostModel } from '../../src/scheduler/cost-model.js';
import { createScheduler } from '../../src/scheduler/index.js';
import { referenceStepSeconds } from '../../src/scheduler/tetriserve.js';
import { simulate } from '../../src/sim/simulator.js';
import { generateWorkload } from '../../src/sim/workloads.js';
import { shippedProfile } from './helpers.js';

const profile = shippedProfile();

function run(policy: string, seed: number, scale = 1.2) {
  const m = new CostModel(profile, 8);
  const reqs = generateWorkload({ seed, count: 200, ratePerMin: 12, mix: 'uniform', sloScale: scale, steps: 50 });
  return simulate(createScheduler(policy, m), m, reqs, { gpus: 8 });
}

const share = (r: ReturnType<typeof run>, res: number) => {
  const xs = r.outcomes.filter((o) => o.resolution === res);
  return xs.filter((o) => o.met).length / xs.length;
};

describe('reservation for large requests (tetriserve+reserve)', () => {
  // Bug caught: demand triage still giving up a large request that runs at its full degree (reservation alone
  // then serves about as few 2048² as TetriServe+: 0.26 vs 0.22 here).
  it('serves 2048² about as often as the strong baselines, far more than TetriServe+ (uniform x1.2, seeds 1-3)', () => {
    let plus = 0;
    let reserve = 0;
    let edf = 0;
    for (const seed of [1, 2, 3]) {
      plus += share(run('tetriserve+', seed), 2048) / 3;
      reserve += share(run('tetriserve+reserve', seed), 2048) / 3;
      edf += share(run('edf:8+triage+backfill', seed), 2048) / 3;
    }
    expect(reserve).toBeGreaterThan(plus + 0.15);
    expect(reserve).toBeGreaterThan(edf - 0.1);
  });

  // Bug caught: the quantum not applied (assignments then fill the round and a reservation waits a whole round).
  it('no assignment runs longer than one reference step plus its move, unless a single step is longer', () => {
    const r = run('tetriserve+reserve', 1);
    const ref = referenceStepSeconds(new CostModel(profile, 8));
    for (const a of r.assignments) {
      if (a.steps > 1) expect(a.end - a.firstStep, `request ${a.requestId} at ${a.start}`).toBeLessThanOrEqual(ref + 1e-9);
    }
  });
});
