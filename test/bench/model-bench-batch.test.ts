// `dit bench model --batch`: batched FLUX steps are timed per (resolution, batch), reported with their batch, and
// become batchStepSeconds in the latency profile; a family without batch support is refused with the fix.
import { describe, expect, it } from 'vitest';
import { benchModel, modelMarkdown, rowsToProfile } from '../../src/bench/model-bench.js';
import { flux, tinyFluxConfig } from '../../src/models/flux/index.js';
import { sd3, tinySd3Config } from '../../src/models/sd3/index.js';
import { CostModel } from '../../src/scheduler/cost-model.js';
import { provenanceCounts } from '../../src/scheduler/profile.js';
import { testContext } from '../helpers/gpu.js';

describe('model benchmark with batch sizes', () => {
  it('times batch 1 and 2 of a tiny FLUX and writes them into the profile', async () => {
    const ctx = await testContext();
    const rows = await benchModel(ctx, flux, [64, 96], { reps: 1, txtTokens: 8, config: tinyFluxConfig('bfl', true), batches: [1, 2] });
    expect(rows.map((r) => `${r.resolution}:${r.batch}`)).toEqual(['64:1', '64:2', '96:1', '96:2']);
    for (const r of rows) expect(r.finite).toBe(true);
    // A batch-2 step does twice the work of a batch-1 step (same graph per element).
    expect(rows[1].stepTflop / rows[0].stepTflop).toBeCloseTo(2, 1);
    const md = modelMarkdown('test device', rows);
    expect(md).toContain('| 64² | 2 |');
    const profile = rowsToProfile(rows, 'FLUX (custom config)', 'test device');
    expect(profile.entries.map((e) => e.resolution)).toEqual([64, 96]);
    expect(profile.entries[0].batchStepSeconds?.['2']?.['1']).toBeCloseTo(rows[1].medianMs / 1e3, 9);
    expect(profile.entries[0].provenance?.batch2).toMatch(/^measured:/);
    expect(provenanceCounts(profile).measured).toBe(2);
    expect(new CostModel(profile, 1).batchStep(96, 1, 2)).toBeCloseTo(rows[3].medianMs / 1e3, 9);
  });

  it('refuses a batch the family cannot run, naming the fix', async () => {
    const ctx = await testContext();
    await expect(benchModel(ctx, sd3, [64], { reps: 1, txtTokens: 8, config: tinySd3Config(false), batches: [2] })).rejects.toThrow(/batch 2 is not supported.*drop it from --batch/);
  });
});
