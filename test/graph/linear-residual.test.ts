// linear() with a residual: out = residual + gate * act(x W^T + b). An f32 residual under a GEMM of more than 8 rows
// is applied by a separate in-place add (the GEMM writes the gated branch as f32; docs/matmul.md says why); f16
// residuals and skinny (≤ 8 rows) linears keep the fused epilogue. Each form against float64, at odd shapes, with a
// per-element gate (batch 2), and the residual's storage reused (nothing copied).
import { describe, expect, it } from 'vitest';
import { compile } from '../../src/graph/executor.js';
import { Graph } from '../../src/graph/graph.js';
import { unary } from '../../src/graph/ops/elementwise.js';
import { linear } from '../../src/graph/ops/matmul.js';
import { WeightStore } from '../../src/graph/weights.js';
import type { DType } from '../../src/gpu/kernel.js';
import { roundF16 } from '../../src/util/f16.js';
import { expectClose, freshSeed, randn, rng, testContext } from '../helpers/gpu.js';

const SEED = freshSeed();
const [K, N, B] = [37, 21, 2];

async function run(rows: number, resDtype: DType) {
  const ctx = await testContext();
  const rand = rng(SEED + rows);
  const g = new Graph(`linear-residual-${rows}-${resDtype}`);
  const x = g.input('x', [rows, K], 'f16');
  // The residual as an intermediate (2 · input): a graph input's storage is never written over.
  const res = unary(g, g.input('res', [rows, N], resDtype), 'scale', { alpha: 2 });
  const mod = g.input('mod', [B, 3 * N], 'f32');
  const w = g.weight('w', [N, K], 'f16');
  const bias = g.weight('bias', [N], 'f16');
  const y = linear(g, x, w, { bias, residual: res, gate: { mod, chunk: 1 }, activation: 'gelu_tanh', name: 'proj' });
  g.output('y', y);
  const wv = randn(rand, N * K, 0.3, 'f16');
  const bv = randn(rand, N, 0.5, 'f16');
  const xv = randn(rand, rows * K, 1, 'f16');
  const rv = randn(rand, rows * N, 1, resDtype === 'f16' ? 'f16' : 'f32');
  const mv = randn(rand, B * 3 * N, 1, 'f32');
  const store = new WeightStore();
  store.upload(ctx, 'w', wv, [N, K], 'f16');
  store.upload(ctx, 'bias', bv, [N], 'f16');
  const plan = await compile(ctx, g, store);
  plan.setInput('x', xv);
  plan.setInput('res', rv);
  plan.setInput('mod', mv);
  await plan.run();
  const got = await plan.readOutput('y');
  const stats = plan.stats;
  plan.destroy();
  store.destroy();
  // float64: rows [0, rows/B) read element 0's gate, the rest element 1's.
  const want: number[] = [];
  const gelu = (u: number) => 0.5 * u * (1 + Math.tanh(0.7978845608028654 * (u + 0.044715 * u ** 3)));
  for (let r = 0; r < rows; r++) {
    const e = Math.floor(r / (rows / B));
    for (let n = 0; n < N; n++) {
      let acc = bv[n];
      for (let k = 0; k < K; k++) acc += xv[r * K + k] * wv[n * K + k];
      const v = 2 * rv[r * N + n] + mv[e * 3 * N + N + n] * gelu(acc);
      want.push(resDtype === 'f16' ? roundF16(v) : v);
    }
  }
  return { got, want, kinds: g.ops.map((o) => o.kind), stats };
}

describe(`linear() with a residual (seed ${SEED})`, () => {
  it('f32 residual, 10 rows: a GEMM writing the gated branch, then an in-place add', async () => {
    const r = await run(10, 'f32');
    expect(r.kinds.filter((k) => k === 'linear')).toHaveLength(1);
    // Only the add writes over the residual's storage (the GEMM has its own f32 output).
    expect(r.kinds.filter((k) => k === 'add')).toHaveLength(1);
    expect(r.stats.inPlaceOps).toBe(1); // the add writes over the residual
    expectClose(r.got, r.want, { relL2: 2e-4 }, 'separate residual vs float64');
  });
  it('f32 residual, 4 rows (skinny): fused into the linear, in place', async () => {
    const r = await run(4, 'f32');
    expect(r.kinds).not.toContain('add');
    expect(r.stats.inPlaceOps).toBe(1);
    expectClose(r.got, r.want, { relL2: 2e-4 }, 'fused skinny residual vs float64');
  });
  it('f16 residual, 10 rows: fused into the linear, in place', async () => {
    const r = await run(10, 'f16');
    expect(r.kinds).not.toContain('add');
    expect(r.stats.inPlaceOps).toBe(1);
    expectClose(r.got, r.want, { relL2: 2e-3 }, 'fused f16 residual vs float64');
  });
});
