// The model-step benchmark's code path (not its speed) on tiny configurations: weights, inputs, timing, profile and
// the Markdown report all work, and the output is finite.
import { describe, expect, it } from 'vitest';
import { benchModel, modelMarkdown, opsByRole, rowsToProfile } from '../../src/bench/model-bench.js';
import { flux, tinyFluxConfig } from '../../src/models/flux/index.js';
import { sd3, tinySd3Config } from '../../src/models/sd3/index.js';
import { interpolateStep } from '../../src/scheduler/profile.js';
import { testContext } from '../helpers/gpu.js';

describe('model benchmark harness', () => {
  it('groups op timings by role: block index as N, op number dropped, largest first', () => {
    const op = (label: string, kind: string, ms: number, flops = 0) => ({ label, kind, ms, flops, bytes: 0 });
    const roles = opsByRole([
      op('double_blocks.0/img_qkv#12', 'linear', 1, 4e9), op('double_blocks.11/img_qkv#340', 'linear', 2, 4e9),
      op('single_blocks.3/linear2#901', 'linear', 5, 1e10), op('single_blocks.3/linear2.quantize#900', 'quantize_i8', 0.5),
      op('img_in#7', 'linear', 0.1, 1e8),
    ]);
    expect(roles.map((r) => r.role)).toEqual(['single_blocks.N/linear2', 'double_blocks.N/img_qkv', 'single_blocks.N/linear2.quantize', 'img_in']);
    expect(roles[1]).toMatchObject({ kind: 'linear', ms: 3, count: 2 });
    expect(roles[1].tflops).toBeCloseTo(8e9 / 3e9, 9);
    expect(roles[2].tflops).toBe(0);
  });

  it('times tiny FLUX and SD3 steps and reports them beside a reference', async () => {
    const ctx = await testContext();
    const rows = [
      ...(await benchModel(ctx, flux, [64], { reps: 2, txtTokens: 8, config: tinyFluxConfig('bfl', true), int8: true })),
      ...(await benchModel(ctx, sd3, [64], { reps: 1, txtTokens: 8, config: tinySd3Config(false), int8: true })),
    ];
    // --int8: a W8A8 row after the FLUX row; SD3 (no int8 path) gets none.
    expect(rows.map((r) => r.model)).toEqual(['FLUX (custom config)', 'FLUX (custom config) W8A8', 'SD3 (custom config)']);
    expect(rows[1].velocityRelL2VsF16).toBeGreaterThan(0);
    expect(rows[1].velocityRelL2VsF16).toBeLessThan(0.1);
    expect(rows[1].dispatches).toBeGreaterThan(rows[0].dispatches); // the quantize ops
    for (const r of rows) {
      expect(r.finite, r.model).toBe(true);
      expect(r.medianMs).toBeGreaterThan(0);
      expect(r.imageTokens).toBe(16);
      expect(r.dispatches).toBeGreaterThan(10);
      // Pass-boundary GPU time: positive and within the wall time of each step.
      if (ctx.caps.timestampQuery) {
        expect(r.gpuSamplesMs?.length, r.model).toBe(r.samplesMs.length);
        r.gpuSamplesMs!.forEach((g, i) => {
          expect(g).toBeGreaterThan(0);
          expect(g).toBeLessThanOrEqual(r.samplesMs[i]);
        });
      }
    }
    const md = modelMarkdown('test device', rows, { device: 'ref', lookup: () => ({ ms: rows[0].medianMs / 2 }) });
    expect(md).toContain('2.00×');
    expect(md).toContain('W8A8 rows: the optional int8 linears');
    expect(md).toContain('Where the time goes');
    // The idle wait (sleep most of a step before asking Dawn) changes nothing but the waiting.
    const waited = await benchModel(ctx, flux, [64], { reps: 2, txtTokens: 8, config: tinyFluxConfig('bfl', true), idleWaitFraction: 0.5 });
    expect(waited[0].finite).toBe(true);
    expect(waited[0].dispatches).toBe(rows[0].dispatches);
    // --first-block-cache: two rows after the FLUX row; the computed path reproduces the plain step's velocity, the
    // reused one runs fewer dispatches and less work.
    const cached = await benchModel(ctx, flux, [64], { reps: 2, txtTokens: 8, config: tinyFluxConfig('bfl', true), firstBlockCache: true, warmupMs: 0 });
    expect(cached.map((r) => r.model)).toEqual(['FLUX (custom config)', 'FLUX (custom config) FBCache computed', 'FLUX (custom config) FBCache reused']);
    expect(cached[1].firstBlockCache!.velocityRelL2VsStep).toBeLessThan(1e-5);
    expect(cached[2].dispatches).toBeLessThan(cached[1].dispatches);
    expect(cached[2].stepTflop).toBeLessThan(cached[1].stepTflop);
    for (const r of cached) expect(r.finite, r.model).toBe(true);
    expect(modelMarkdown('test device', cached)).toContain('FBCache rows: the optional first-block cache');
    const profile = rowsToProfile(rows, 'FLUX (custom config)', 'test device');
    expect(profile.degrees).toEqual([1]);
    expect(interpolateStep(profile, 64, 1)).toBeCloseTo(rows[0].medianMs / 1e3, 9);
  });
});
