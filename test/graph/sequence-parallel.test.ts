// Sequence parallelism through host ops: each rank's plan holds a slice of the tokens, all-gathers the QKV
// rows at a host op (between its two command buffers), and attends its local queries to every key. The ranks'
// plans run concurrently on one device with an in-process collective; together they must reproduce
// attention over the whole sequence.
import { describe, expect, it } from 'vitest';
import { compile, type Plan } from '../../src/graph/executor.js';
import { Graph } from '../../src/graph/graph.js';
import { attention, qkvPrep } from '../../src/graph/ops/attention.js';
import { allGatherRows, type Collective, LocalCollectiveGroup } from '../../src/graph/ops/collective.js';
import { WeightStore } from '../../src/graph/weights.js';
import { expectClose, freshSeed, randn, rng, testContext } from '../helpers/gpu.js';
import { attentionFromQkvRef } from './reference/attention-ref.js';

const H = 2;
const D = 8;
const C = H * D;
const RANKS = 3;
const LS = 5; // tokens per rank
const L = RANKS * LS;

// 1-D RoPE over the global token position (so a gather in the wrong rank order changes the result: attention
// without positions is invariant to permuting keys and values together).
const angle = (pos: number, j: number) => pos * Math.pow(100, (-2 * j) / D);
const table = (from: number, n: number, f: (x: number) => number) =>
  Float32Array.from({ length: n * (D / 2) }, (_, i) => f(angle(from + Math.floor(i / (D / 2)), i % (D / 2))));

function shardGraph(comm: Collective): Graph {
  const g = new Graph(`sp-rank${comm.rank}`);
  const qkv = g.input('qkv', [1, LS, 3 * C], 'f16');
  const mine = { cos: g.constant('rope.local.cos', table(comm.rank * LS, LS, Math.cos), [LS, D / 2]), sin: g.constant('rope.local.sin', table(comm.rank * LS, LS, Math.sin), [LS, D / 2]) };
  const every = { cos: g.constant('rope.cos', table(0, L, Math.cos), [L, D / 2]), sin: g.constant('rope.sin', table(0, L, Math.sin), [L, D / 2]) };
  const local = qkvPrep(g, qkv, { heads: H, rope: mine, name: 'q_local' }); // first command buffer
  const gathered = allGatherRows(g, g.reshape(qkv, [LS, 3 * C]), comm, { name: 'gather_qkv' });
  const full = qkvPrep(g, g.reshape(gathered, [1, L, 3 * C]), { heads: H, rope: every, name: 'kv_full' }); // second
  g.output('out', attention(g, local.q, full.k, full.v, { name: 'attn' }).out);
  return g;
}

describe('sequence-parallel shards with a host-op all-gather', () => {
  it(`${RANKS} ranks x ${LS} tokens reproduce full attention over ${L} tokens (f16 q/k/v/out: relL2 <= 3e-3)`, async () => {
    const seed = freshSeed();
    const rand = rng(seed);
    const ctx = await testContext();
    const group = new LocalCollectiveGroup(RANKS);
    const plans: Plan[] = [];
    for (let r = 0; r < RANKS; r++) plans.push(await compile(ctx, shardGraph(group.member(r)), new WeightStore()));
    expect(plans[0].stats.commandBuffers).toBe(2);
    expect(plans[0].stats.hostOps).toBe(1);
    for (let step = 0; step < 2; step++) {
      const all = randn(rand, L * 3 * C, 1, 'f16');
      plans.forEach((p, r) => p.setInput('qkv', all.slice(r * LS * 3 * C, (r + 1) * LS * 3 * C)));
      await Promise.all(plans.map((p) => p.run()));
      // Reference: rotate q and k of every token by its global position (pairs 2j, 2j+1), then plain attention.
      const rotated = Float64Array.from(all);
      for (let l = 0; l < L; l++) {
        for (const which of [0, 1]) {
          for (let h = 0; h < H; h++) {
            const base = l * 3 * C + which * C + h * D;
            for (let j = 0; j < D / 2; j++) {
              const [c, s2] = [Math.cos(angle(l, j)), Math.sin(angle(l, j))];
              const [e, o] = [all[base + 2 * j], all[base + 2 * j + 1]];
              rotated[base + 2 * j] = c * e - s2 * o;
              rotated[base + 2 * j + 1] = s2 * e + c * o;
            }
          }
        }
      }
      const want = attentionFromQkvRef(rotated, L, H, D);
      for (let r = 0; r < RANKS; r++) {
        expectClose(await plans[r].readOutput('out'), want.slice(r * LS * C, (r + 1) * LS * C), { relL2: 3e-3 }, `rank ${r} step ${step} (seed ${seed})`);
      }
    }
    for (const p of plans) p.destroy();
  });

  it('the in-process collective refuses mismatched contributions', async () => {
    const group = new LocalCollectiveGroup(2);
    const a = group.member(0).allGather(new Uint8Array(4));
    await expect(group.member(1).allGather(new Uint8Array(8))).rejects.toThrow(/rank 1 sent 8 bytes, others 4/);
    void a;
  });
});
