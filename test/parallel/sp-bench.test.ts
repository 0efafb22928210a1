// `dit bench sp` end to end on a tiny random FLUX (all ranks on the one lavapipe device): every configuration
// runs, sharded outputs match degree 1, the switch costs are measured, and the profile is valid and "measured".
import { describe, expect, it } from 'vitest';
import { benchSp, spMarkdown, spProfile, variants } from '../../src/bench/sp-bench.js';
import { tinyFluxConfig } from '../../src/models/flux/config.js';
import { provenanceCounts } from '../../src/scheduler/profile.js';

describe('dit bench sp (tiny FLUX, one device)', () => {
  it('runs degrees 1 and 2 with Ulysses and ring, checks parity, measures switches, writes a measured profile', async () => {
    const logs: string[] = [];
    const report = await benchSp({
      resolutions: [64, 96], degrees: [1, 2], strategies: ['ulysses', 'ring', 'hybrid'], transports: ['shm', 'nccl'], reps: 1,
      transferMiB: [1], txtTokens: 8, robustness: true, log: (l) => logs.push(l), config: tinyFluxConfig(), sameDevice: true,
    });
    const ok = report.rows.filter((r) => !r.error);
    expect(report.rows.filter((r) => r.error)).toEqual([]);
    // degree 1 + (ulysses, ring) over shm at each resolution; NCCL is absent here; hybrid needs degree >= 4.
    expect(ok.map((r) => `${r.resolution}:${r.degree}:${r.strategy}:${r.transport}`)).toEqual(['64:1:single:none', '64:2:ulysses:shm', '64:2:ring:shm', '96:1:single:none', '96:2:ulysses:shm', '96:2:ring:shm']);
    for (const r of ok.filter((x) => x.degree > 1)) {
      expect(r.relL2VsDegree1).toBeLessThan(2e-3);
      expect(r.parityOk).toBe(true);
      expect(r.bytesPerStepPerRank).toBeGreaterThan(0);
      expect(r.exchangeMsPerStep).toBeGreaterThan(0);
    }
    expect(report.switches.map((s) => `${s.resolution}:${s.from}->${s.to}`)).toEqual(['64:1->2', '64:2->1', '96:1->2', '96:2->1']);
    const profile = spProfile(report);
    expect(profile.degrees).toEqual([1, 2]);
    expect(provenanceCounts(profile).measured).toBe(4);
    expect(spMarkdown(report)).toContain('| 96² | 2 | ring | shm |');
    expect(variants(['ulysses', 'ring', 'hybrid'], 8, 24)).toEqual([{ strategy: 'ulysses' }, { strategy: 'ring' }, { strategy: 'hybrid', ulysses: 4 }]);
  }, 240_000);
});
