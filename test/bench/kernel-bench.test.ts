// The benchmark harness itself (not speed): every quick case builds, runs and reports sane numbers, and the
// spec the PyTorch reference reads matches the cases.
import { describe, expect, it } from 'vitest';
import { caseSpecs, kernelCases } from '../../src/bench/kernel-cases.js';
import { runKernelBench } from '../../src/bench/kernel-bench.js';
import { kernelMarkdown } from '../../src/bench/report.js';
import { testContext } from '../helpers/gpu.js';

describe('kernel benchmark harness', () => {
  it('runs every quick case and reports timings, throughput and a Markdown row each', async () => {
    const ctx = await testContext();
    const cases = kernelCases('quick');
    const report = await runKernelBench(ctx, cases, { reps: 2 });
    expect(report.results.map((r) => r.id)).toEqual(cases.map((c) => c.id));
    for (const r of report.results) {
      expect(r.error, r.id).toBeUndefined();
      expect(r.medianMs, r.id).toBeGreaterThan(0);
      expect(Number.isFinite(r.gbs), r.id).toBe(true);
      if (r.flops > 0) expect(r.tflops, r.id).toBeGreaterThan(0);
    }
    expect(report.copyGBs).toBeGreaterThan(0);
    const md = kernelMarkdown(report, {
      device: 'x', torch: 't', date: 'd', matmulPeakTflops: 100, copyGBs: 10,
      results: { 'quick.linear': { medianMs: report.results[0].medianMs / 2, impl: 'F.linear' } },
    });
    const rows = md.split('\n').filter((l) => l.startsWith('| quick.'));
    expect(rows).toHaveLength(cases.length);
    // Toy shapes: no throughput columns (they would read 0.0 TFLOP/s), and the table says why.
    for (const row of rows) expect(row.split('|')[4].trim(), row).toBe('–');
    expect(md).toContain('toy shapes that check the harness');
    expect(md).toContain('0.50'); // PyTorch twice as fast on the first row -> ratio 0.50
  });

  it('full suite covers FLUX at 512/1024/2048, SD3 and the VAE with consistent specs', () => {
    const specs = caseSpecs(kernelCases('full'));
    for (const p of ['flux512.', 'flux1024.', 'flux2048.', 'sd3_1024.', 'vae1024.']) expect(specs.some((s) => s.id.startsWith(p)), p).toBe(true);
    const big = specs.find((s) => s.id === 'flux1024.linear.mlp_up_gelu')!;
    expect(big.shape).toEqual({ M: 4608, K: 3072, N: 12288, gelu: 1 });
    expect(big.flops).toBe(2 * 4608 * 3072 * 12288);
    expect(new Set(specs.map((s) => s.id)).size).toBe(specs.length);
  });
});
