// Sequence-parallel attention (Ulysses, ring, hybrid) against float64 attention over the whole sequence. Each
// rank's plan holds a contiguous, possibly uneven slice of the tokens; the plans run concurrently on one lavapipe
// device and talk through the in-process transport. Per-rank outputs are NaN-poisoned by fresh inputs each run.
import { describe, expect, it } from 'vitest';
import { compile, type Plan } from '../../src/graph/executor.js';
import { Graph } from '../../src/graph/graph.js';
import { exchangeOp, exchangeStats } from '../../src/graph/ops/collective.js';
import { WeightStore } from '../../src/graph/weights.js';
import { checkStrategy, parallelAttention, type SequenceParallel, shardRange, spGroups, type SpStrategy } from '../../src/parallel/attention.js';
import { SharedMemoryGroup } from '../../src/parallel/shm.js';
import { inProcessGroup, type Transport } from '../../src/parallel/transport.js';
import { expectClose, freshSeed, randn, rng, testContext } from '../helpers/gpu.js';

function attentionRef(q: Float64Array, k: Float64Array, v: Float64Array, H: number, L: number, D: number): Float64Array {
  // q/k/v [H, L, D] -> out [L, H*D]
  const out = new Float64Array(L * H * D);
  const s = new Float64Array(L);
  for (let h = 0; h < H; h++) {
    for (let i = 0; i < L; i++) {
      let mx = -Infinity;
      for (let j = 0; j < L; j++) {
        let d = 0;
        for (let e = 0; e < D; e++) d += q[(h * L + i) * D + e] * k[(h * L + j) * D + e];
        s[j] = d / Math.sqrt(D);
        mx = Math.max(mx, s[j]);
      }
      let z = 0;
      for (let j = 0; j < L; j++) z += (s[j] = Math.exp(s[j] - mx));
      for (let e = 0; e < D; e++) {
        let acc = 0;
        for (let j = 0; j < L; j++) acc += s[j] * v[(h * L + j) * D + e];
        out[i * H * D + h * D + e] = acc / z;
      }
    }
  }
  return out;
}

/** Rows [start, start+count) of every head of [H, L, D]. */
function sliceHeads(x: Float64Array, H: number, L: number, D: number, start: number, count: number): Float64Array {
  const out = new Float64Array(H * count * D);
  for (let h = 0; h < H; h++) out.set(x.subarray((h * L + start) * D, (h * L + start + count) * D), h * count * D);
  return out;
}

// 'mailbox': the in-process transport (copies through its own buffers); 'shm': the shared-memory transport
// (one copy from the sender's mapped staging into the receiver's, on native threads when the bridge is built).
// chunkBytes: small values cut every message into several pipelined chunks (pieces straddle head rows).
const CASES: { strategy: SpStrategy; size: number; ulysses?: number; H: number; L: number; D: number; transport: 'mailbox' | 'shm'; chunkBytes?: number }[] = [
  { strategy: 'ulysses', size: 2, H: 2, L: 19, D: 16, transport: 'mailbox' },
  { strategy: 'ulysses', size: 2, H: 4, L: 21, D: 16, transport: 'shm', chunkBytes: 100 },
  { strategy: 'ulysses', size: 3, H: 6, L: 17, D: 8, transport: 'shm' },
  { strategy: 'ring', size: 2, H: 2, L: 20, D: 16, transport: 'shm', chunkBytes: 256 },
  { strategy: 'ring', size: 4, H: 2, L: 23, D: 8, transport: 'mailbox' },
  { strategy: 'hybrid', size: 4, ulysses: 2, H: 4, L: 22, D: 8, transport: 'shm', chunkBytes: 64 },
];

function transports(kind: 'mailbox' | 'shm', size: number): Transport[] {
  if (kind === 'mailbox') return inProcessGroup(size);
  const g = new SharedMemoryGroup(size);
  return Array.from({ length: size }, (_, r) => g.member(r));
}

describe('sequence-parallel attention through the in-process transport', () => {
  it.each(CASES)('$strategy x$size (H=$H, L=$L uneven, D=$D, $transport, chunk $chunkBytes) equals attention over all tokens', async ({ strategy, size, ulysses, H, L, D, transport, chunkBytes }) => {
    const seed = freshSeed();
    const rand = rng(seed);
    const ctx = await testContext();
    const comms = transports(transport, size);
    const rows = comms.map((c) => shardRange(L, size, c.rank).count);
    const plans: Plan[] = [];
    for (const comm of comms) {
      const g = new Graph(`sp-${strategy}-r${comm.rank}`);
      const Lr = rows[comm.rank];
      const [q, k, v] = ['q', 'k', 'v'].map((n) => g.input(n, [1, H, Lr, D], 'f16'));
      const sp: SequenceParallel = { comm, strategy, ulysses, rows, chunkBytes };
      g.output('out', parallelAttention(g, q, k, v, sp));
      plans.push(await compile(ctx, g, new WeightStore()));
    }
    expect(plans[0].stats.hostOps).toBeGreaterThan(0);
    for (let run = 0; run < 2; run++) {
      const [q, k, v] = [0, 1, 2].map(() => Float64Array.from(randn(rand, H * L * D, 1.5)));
      plans.forEach((p, r) => {
        const { start, count } = shardRange(L, size, r);
        p.setInput('q', sliceHeads(q, H, L, D, start, count));
        p.setInput('k', sliceHeads(k, H, L, D, start, count));
        p.setInput('v', sliceHeads(v, H, L, D, start, count));
      });
      await Promise.all(plans.map((p) => p.run()));
      const want = attentionRef(q, k, v, H, L, D);
      for (let r = 0; r < size; r++) {
        const { start, count } = shardRange(L, size, r);
        expectClose(await plans[r].readOutput('out'), want.subarray(start * H * D, (start + count) * H * D), { relL2: 3e-3 }, `${strategy} rank ${r} run ${run} (seed ${seed})`);
      }
    }
    expect(exchangeStats(comms[0]).calls).toBeGreaterThan(0);
    for (const p of plans) p.destroy();
  });

  it('bad shardings and ranges are build errors that name the problem', () => {
    const [a] = inProcessGroup(2);
    const g = new Graph('bad');
    const [q, k, v] = ['q', 'k', 'v'].map((n) => g.input(n, [1, 2, 5, 8], 'f16'));
    expect(() => parallelAttention(g, q, k, v, { comm: a, strategy: 'ulysses', rows: [6, 5] })).toThrow(/rank 0 holds 5 rows but the sharding says 6/);
    expect(() => parallelAttention(g, q, k, v, { comm: a, strategy: 'ulysses', rows: [5] })).toThrow(/must give a positive length for each of 2 ranks/);
    expect(() => parallelAttention(g, q, k, v, { comm: a, strategy: 'hybrid', ulysses: 3, rows: [5, 5] })).toThrow(/must divide the group size 2/);
    expect(() => exchangeOp(g, a, { sends: [{ peer: 1, tensor: q, byteOffset: 2, bytes: 8 }], recvs: [], outputs: [] })).toThrow(/not 4-byte aligned/);
    expect(() => exchangeOp(g, a, { sends: [{ peer: 0, tensor: q, byteOffset: 0, bytes: 8 }], recvs: [], outputs: [] })).toThrow(/peer 0 must be another rank/);
    expect(() => exchangeOp(g, a, { sends: [], recvs: [{ peer: 1, bytes: 8, place: [{ output: 0, at: 0, byteOffset: 0, bytes: 16 }] }], outputs: [{ shape: [4], dtype: 'f16' }] })).toThrow(/lies outside its message/);
  });

  it('groups: hybrid 8 = 2 (Ulysses) x 4 (ring); uneven shards; clear errors', () => {
    expect(spGroups({ strategy: 'hybrid', ulysses: 2 }, 8, 5)).toEqual({ ulysses: [4, 5], ring: [1, 3, 5, 7] });
    expect(spGroups({ strategy: 'ulysses' }, 4, 1)).toEqual({ ulysses: [0, 1, 2, 3], ring: [1] });
    expect([0, 1, 2].map((r) => shardRange(7, 3, r))).toEqual([{ start: 0, count: 3 }, { start: 3, count: 2 }, { start: 5, count: 2 }]);
    expect(() => checkStrategy({ strategy: 'ulysses' }, 5, 24)).toThrow(/degrees that do: 1, 2, 3, 4, 6, 8, 12, 24/);
    expect(() => checkStrategy({ strategy: 'hybrid', ulysses: 3 }, 8, 24)).toThrow(/must divide the group size 8/);
  });
});
