// `dit bench vae` end to end on a tiny checkpoint (lavapipe): times, memory, parity against its golden (untiled and
// tiled) and the Markdown report, so the GPU run (scripts/gpu-vae.sh) does not discover a crash.
import { describe, expect, it } from 'vitest';
import { benchVae, FLUX_VAE_CONFIG, vaeMarkdown } from '../../src/bench/vae-bench.js';
import { testContext } from '../helpers/gpu.js';

describe('dit bench vae', () => {
  it('decodes, times, checks parity (untiled and tiled) and reports', async () => {
    const ctx = await testContext();
    const root = 'test/fixtures/tiny-vae-sd3';
    const r = await benchVae(ctx, [12], { checkpoint: root, golden: `${root}/golden.safetensors`, reps: 1, tile: 4 });
    expect(r.rows).toHaveLength(1);
    const row = r.rows[0];
    expect([row.resolution, row.latent, row.tiles, row.finite]).toEqual([12, 6, 1, true]);
    expect(row.planMs).toBeGreaterThan(0);
    expect(row.activationBytes).toBeGreaterThan(0);
    expect(r.parity!.relL2).toBeLessThan(3e-3);
    expect(r.parity!.nonFinite).toBe(0);
    expect(r.parity!.tiles).toBe(2); // latent 6x3, tiles of 4
    expect(Number.isFinite(r.parity!.tiledRelL2!) && Number.isFinite(r.parity!.tiledOwnStatsRelL2!)).toBe(true);
    const md = vaeMarkdown('test', r.model, r.rows, r.parity, {
      device: 'ref', results: [{ resolution: 12, fp32_ms: 1, bf16_ms: 2, fp32_peak_bytes: 0, bf16_peak_bytes: 0, bf16_vs_fp32_relL2: 0.01 }],
    });
    expect(md).toMatch(/\| 12² \| .* ms \|/);
    expect(md).toMatch(/Parity at 12² against PyTorch float32/);
  });

  it('random weights (toy widths): finite output', async () => {
    const ctx = await testContext();
    const config = { ...FLUX_VAE_CONFIG, blockOutChannels: [32, 32], layersPerBlock: 1 };
    const r = await benchVae(ctx, [16], { config, reps: 1 });
    expect(r.model).toMatch(/random weights/);
    expect([r.rows[0].latent, r.rows[0].finite]).toEqual([8, true]);
    expect(r.parity).toBeUndefined();
  });
});
