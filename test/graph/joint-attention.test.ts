// Joint attention the way FLUX double blocks do it: two streams' QKV written into one q/k/v at different
// sequence offsets (the second write is a required in-place op), one attention over the joint sequence, then
// the output split back into streams. Also a host op that produces a tensor (the shape a collective takes).
import { describe, expect, it } from 'vitest';
import { compile } from '../../src/graph/executor.js';
import { Graph } from '../../src/graph/graph.js';
import { analyzeLiveness, GraphBuildError } from '../../src/graph/liveness.js';
import { attention, qkvPrep } from '../../src/graph/ops/attention.js';
import { add } from '../../src/graph/ops/elementwise.js';
import { WeightStore } from '../../src/graph/weights.js';
import { expectClose, freshSeed, randn, rng, testContext } from '../helpers/gpu.js';
import { attentionFromQkvRef } from './reference/attention-ref.js';

const H = 2;
const D = 8;
const C = H * D;
const LT = 3; // text tokens
const LI = 10; // image tokens

function build() {
  const g = new Graph('joint');
  const txt = g.input('txt_qkv', [1, LT, 3 * C], 'f16');
  const img = g.input('img_qkv', [1, LI, 3 * C], 'f16');
  const first = qkvPrep(g, txt, { heads: H, totalLen: LT + LI, seqOffset: 0, name: 'txt' });
  const joint = qkvPrep(g, img, { heads: H, into: first, seqOffset: LT, name: 'img' });
  const { out } = attention(g, joint.q, joint.k, joint.v, { name: 'attn' });
  const flat = g.reshape(out, [LT + LI, C]);
  g.output('txt_out', g.sliceRows(flat, 0, LT));
  g.output('img_out', g.sliceRows(flat, LT, LI));
  return { g, first };
}

describe('joint attention graph', () => {
  it('writes two streams into one q/k/v, attends jointly and splits the result (f16 q/k/v/out: relL2 <= 3e-3)', async () => {
    const seed = freshSeed();
    const rand = rng(seed);
    const ctx = await testContext();
    const { g } = build();
    const plan = await compile(ctx, g, new WeightStore());
    expect(plan.stats.inPlaceOps).toBe(1);
    const txt = randn(rand, LT * 3 * C, 1, 'f16');
    const img = randn(rand, LI * 3 * C, 1, 'f16');
    plan.setInput('txt_qkv', txt);
    plan.setInput('img_qkv', img);
    await plan.run();
    const want = attentionFromQkvRef([...txt, ...img], LT + LI, H, D);
    expectClose(await plan.readOutput('txt_out'), want.slice(0, LT * C), { relL2: 3e-3 }, `txt (seed ${seed})`);
    expectClose(await plan.readOutput('img_out'), want.slice(LT * C), { relL2: 3e-3 }, `img (seed ${seed})`);
    plan.destroy();
  });

  it('refuses to fill a q/k/v in place while the partial one is still read later', () => {
    const { g, first } = build();
    g.output('partial_q', first.q); // keeps the text-only q alive: the image write cannot go over it
    expect(() => analyzeLiveness(g)).toThrow(GraphBuildError);
    expect(() => analyzeLiveness(g)).toThrow(/img#1 must write .* in place over 'txt\.q'.*graph output/);
  });

  it('a host op can produce a tensor consumed by later GPU ops (two command buffers)', async () => {
    const seed = freshSeed();
    const rand = rng(seed);
    const ctx = await testContext();
    const g = new Graph('host-produce');
    const x = g.input('x', [5, 12], 'f32');
    const y = add(g, x, x);
    const fromHost = randn(rand, 60, 1, 'f32');
    const [z] = g.hostOp('collective', [y], [{ shape: [5, 12], dtype: 'f32', name: 'gathered' }], async (host, outs) => {
      const seen = await host.read(y); // y is complete: the first command buffer was submitted before this runs
      host.write(outs[0], seen.map((v, i) => v + fromHost[i]));
    });
    g.output('out', add(g, z, x));
    const plan = await compile(ctx, g, new WeightStore());
    expect(plan.stats.commandBuffers).toBe(2);
    const xv = randn(rand, 60, 1, 'f32');
    plan.setInput('x', xv);
    await plan.run();
    expectClose(await plan.readOutput('out'), Array.from(xv, (v, i) => 3 * v + fromHost[i]), { relL2: 1e-6 }, `host op (seed ${seed})`);
    expect(plan.lastRun!.encodeMs).toBeGreaterThan(0);
    if (ctx.caps.timestampQuery) {
      // Timestamps span both command buffers (the query set is resolved in the last one).
      const prof = await plan.profile();
      expect(prof.ops.map((o) => o.kind)).toEqual(['add', 'add']);
      expectClose(await plan.readOutput('out'), Array.from(xv, (v, i) => 3 * v + fromHost[i]), { relL2: 1e-6 }, `host op, profiled run (seed ${seed})`);
    }
    plan.destroy();
  });
});
