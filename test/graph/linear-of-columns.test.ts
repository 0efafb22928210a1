// linearOfColumns (linear() of a column concatenation, FLUX's linear2 over [attention | MLP hidden]): the f16 form
// is concat + linear; the W8A8 form quantizes straight from the parts, so no concatenated copy exists. Both are
// checked against the plain path on the same operands (the W8A8 form must give the same numbers as quantizing the
// concatenation: the same arithmetic), with a gate and an in-place f32 residual like linear2's, at odd shapes.
import { describe, expect, it } from 'vitest';
import { compile } from '../../src/graph/executor.js';
import { Graph } from '../../src/graph/graph.js';
import { concatColumns } from '../../src/graph/ops/layout.js';
import { linear, linearOfColumns } from '../../src/graph/ops/matmul.js';
import { WeightStore } from '../../src/graph/weights.js';
import { expectClose, freshSeed, randn, rng, testContext } from '../helpers/gpu.js';

const SEED = freshSeed();
const [R, K1, K2, N, B] = [10, 12, 36, 19, 2];

async function run(int8: boolean, fused: boolean) {
  const ctx = await testContext();
  const rand = rng(SEED);
  const g = new Graph(`cols-${int8}-${fused}`, int8 ? { int8Weights: (n) => n === 'w' } : {});
  const a = g.input('a', [R, K1], 'f16');
  const b = g.input('b', [R, K2], 'f16');
  const res = g.input('res', [R, N], 'f32');
  const mod = g.input('mod', [B, 3 * N], 'f32');
  const w = g.weight('w', [N, K1 + K2], 'f16');
  const bias = g.weight('bias', [N], 'f16');
  const opts = { bias, residual: res, gate: { mod, chunk: 2 }, name: 'out' };
  const y = fused ? linearOfColumns(g, [a, b], w, opts) : linear(g, concatColumns(g, [a, b]), w, opts);
  g.output('y', y);
  const store = new WeightStore();
  store.upload(ctx, 'w', randn(rand, N * (K1 + K2), 0.3, 'f16'), [N, K1 + K2], 'f16');
  store.upload(ctx, 'bias', randn(rand, N, 0.5, 'f16'), [N], 'f16');
  const plan = await compile(ctx, g, store);
  plan.setInput('a', randn(rand, R * K1, 1, 'f16'));
  plan.setInput('b', randn(rand, R * K2, 1, 'f16'));
  plan.setInput('res', randn(rand, R * N, 1, 'f32'));
  plan.setInput('mod', randn(rand, B * 3 * N, 1, 'f32'));
  await plan.run();
  const out = await plan.readOutput('y');
  const kinds = g.ops.map((o) => o.kind);
  plan.destroy();
  return { out, kinds };
}

describe(`linearOfColumns (seed ${SEED})`, () => {
  it('f16: concatenates, then the same linear', async () => {
    const plain = await run(false, false);
    const fused = await run(false, true);
    expect(fused.kinds).toContain('concat_columns');
    expectClose(fused.out, plain.out, { relL2: 1e-6 }, 'f16 linearOfColumns vs linear(concat)');
  });
  it('W8A8: quantizes from the parts (no concatenation) and gives the numbers of quantizing the concatenation', async () => {
    const plain = await run(true, false);
    const fused = await run(true, true);
    expect(fused.kinds).not.toContain('concat_columns');
    expect(fused.kinds.filter((k) => k === 'quantize_i8')).toHaveLength(1);
    expect(plain.kinds).toContain('concat_columns');
    expectClose(fused.out, plain.out, { relL2: 1e-6 }, 'W8A8 linearOfColumns vs linear(concat)');
    expect(fused.out.every(Number.isFinite)).toBe(true);
  });
});
