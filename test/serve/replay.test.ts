// The serving experiment's machinery on lavapipe: a short Poisson trace replayed live through the driver on two
// workers (transformer-only tiny FLUX), and the simulator on the same trace; the GPU script runs the same code.
import { describe, expect, it } from 'vitest';
import { defaultConfig } from '../../src/serve/config.js';
import { replayLive, replaySimulated } from '../../src/serve/replay.js';
import { measuredProfile, openWorkers } from '../../src/serve/server.js';
import { generateWorkload } from '../../src/sim/workloads.js';

describe('live replay vs simulator', () => {
  it('replays a trace on real workers and predicts it in the simulator', async () => {
    const cfg = defaultConfig({ model: 'test/fixtures/tiny-models/flux-tiny/flux1-tiny.safetensors', gpus: 2, sharedAdapter: true, resolutions: [32, 64], txtTokens: 16 });
    const { workers, measured } = await openWorkers(cfg);
    try {
      const profile = measuredProfile(cfg, measured, 'lavapipe');
      const baseSlo = Object.fromEntries(profile.entries.map((e) => [e.resolution, 20 * 3 * e.stepSeconds['1']]));
      const trace = generateWorkload({ count: 5, ratePerMin: 60, mix: 'skewed', seed: 3, resolutions: [32, 64], steps: 3, baseSlo });
      const live = await replayLive(workers, profile, 'tetriserve', trace);
      expect(live.outcomes).toHaveLength(5);
      for (const o of live.outcomes) expect(o.finish).toBeGreaterThan(o.arrival);
      expect(Object.values(live.stepsByDegree).reduce((a, b) => a + b, 0)).toBe(15);
      const sim = replaySimulated(profile, 2, 'tetriserve', trace);
      console.log(`live ${live.attainment}, simulated ${sim} (generous SLOs: both should be 1)`);
      expect(sim).toBe(1);
      expect(live.attainment).toBeGreaterThanOrEqual(0.6);
    } finally {
      await Promise.all(workers.map((w) => w.close()));
    }
  });
});
