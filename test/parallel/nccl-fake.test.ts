// The whole NCCL path without a GPU: native/nccl-bridge loads a stand-in for libcudart + libnccl.so.2
// (fake-nccl/fake_cuda_nccl.c: host memory as device memory, NCCL send/recv matched per pair in order), so the
// bridge's chunk pipeline, pinning and bounce paths, its error reporting, and NcclGroup's rounds run for real.
// Sequence-parallel attention over NcclGroup must equal the same graphs over the in-process transport, bit for bit.
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { compile, type Plan } from '../../src/graph/executor.js';
import { Graph } from '../../src/graph/graph.js';
import { WeightStore } from '../../src/graph/weights.js';
import { parallelAttention, shardRange, type SpStrategy } from '../../src/parallel/attention.js';
import { loadBridgeModule, NcclGroup, NcclRank, probeNccl, unmatched } from '../../src/parallel/nccl.js';
import { inProcessGroup, type Transport } from '../../src/parallel/transport.js';
import { freshSeed, randn, rng, testContext } from '../helpers/gpu.js';

const dir = mkdtempSync(join(tmpdir(), 'fake-nccl-'));
const lib = join(dir, 'libfake_cuda_nccl.so');
execFileSync('gcc', ['-O1', '-fPIC', '-shared', 'test/parallel/fake-nccl/fake_cuda_nccl.c', '-o', lib, '-lpthread']);
execFileSync(process.execPath, ['native/nccl-bridge/build.mjs']);
process.env.TETRISERVE_CUDART_PATH = lib;
process.env.TETRISERVE_NCCL_PATH = lib;

async function attentionOutputs(comms: Transport[], strategy: SpStrategy, ulysses: number | undefined, H: number, L: number, D: number, inputs: Float64Array[], chunkBytes?: number): Promise<Float32Array[]> {
  const ctx = await testContext();
  const size = comms.length;
  const rows = comms.map((c) => shardRange(L, size, c.rank).count);
  const plans: Plan[] = [];
  for (const comm of comms) {
    const g = new Graph(`nccl-${strategy}-r${comm.rank}`);
    const [q, k, v] = ['q', 'k', 'v'].map((n) => g.input(n, [1, H, rows[comm.rank], D], 'f16'));
    g.output('out', parallelAttention(g, q, k, v, { comm, strategy, ulysses, rows, chunkBytes }));
    plans.push(await compile(ctx, g, new WeightStore()));
  }
  plans.forEach((p, r) => {
    const { start, count } = shardRange(L, size, r);
    ['q', 'k', 'v'].forEach((n, i) => {
      const x = new Float64Array(H * count * D);
      for (let h = 0; h < H; h++) x.set(inputs[i].subarray((h * L + start) * D, (h * L + start + count) * D), h * count * D);
      p.setInput(n, x);
    });
  });
  await Promise.all(plans.map((p) => p.run()));
  const out = await Promise.all(plans.map((p) => p.readOutput('out')));
  for (const p of plans) p.destroy();
  return out;
}

describe('NCCL bridge against a stand-in CUDA/NCCL library', () => {
  it('loads it and reports its version and devices', () => {
    expect(probeNccl()).toEqual({ ok: true, ncclVersion: 22800, devices: 4 });
  });

  it.each([
    { strategy: 'ulysses' as const, size: 2, H: 4, L: 21, D: 16, chunkBytes: 200 },
    { strategy: 'ring' as const, size: 3, H: 2, L: 20, D: 8, chunkBytes: undefined },
    { strategy: 'hybrid' as const, size: 4, ulysses: 2, H: 4, L: 26, D: 8, chunkBytes: 96 },
  ])('$strategy x$size over NcclGroup equals the in-process transport bit for bit', async ({ strategy, size, ulysses, H, L, D, chunkBytes }) => {
    const rand = rng(freshSeed());
    const inputs = [0, 1, 2].map(() => Float64Array.from(randn(rand, H * L * D)));
    const group = new NcclGroup([...Array(size).keys()]);
    try {
      const viaNccl = await attentionOutputs([...Array(size).keys()].map((r) => group.member(r)), strategy, ulysses, H, L, D, inputs, chunkBytes);
      const viaLocal = await attentionOutputs(inProcessGroup(size), strategy, ulysses, H, L, D, inputs, chunkBytes);
      viaNccl.forEach((o, r) => expect(Buffer.compare(Buffer.from(o.buffer), Buffer.from(viaLocal[r].buffer)), `rank ${r}`).toBe(0));
      expect(group.stats.rounds).toBeGreaterThan(0);
      expect(group.stats.unpinnedRounds).toBe(0);
    } finally {
      group.destroy();
    }
  });

  it('one communicator per rank (the one-process-per-GPU and multi-node layout) gives the same result', async () => {
    const rand = rng(freshSeed());
    const [H, L, D] = [4, 19, 16];
    const inputs = [0, 1, 2].map(() => Float64Array.from(randn(rand, H * L * D)));
    const id = NcclRank.uniqueId();
    expect(() => new NcclRank(new Uint8Array(5), 2, 0, 0)).toThrow(/128 bytes/);
    const ranks = [0, 1].map((r) => new NcclRank(id, 2, r, r));
    try {
      const viaRanks = await attentionOutputs(ranks.map((r) => r.transport()), 'ulysses', undefined, H, L, D, inputs, 300);
      const viaLocal = await attentionOutputs(inProcessGroup(2), 'ulysses', undefined, H, L, D, inputs, 300);
      viaRanks.forEach((o, r) => expect(Buffer.compare(Buffer.from(o.buffer), Buffer.from(viaLocal[r].buffer)), `rank ${r}`).toBe(0));
      expect(ranks[0].stats.rounds).toBeGreaterThan(2);
    } finally {
      for (const r of ranks) r.destroy();
    }
  });

  it('a round whose sends and receives do not pair up fails with the reason instead of hanging NCCL', async () => {
    const bytes = (n: number) => new Uint8Array(n);
    expect(unmatched([{ local: 0, sends: [{ peer: 1, data: bytes(8) }], recvs: [] }, { local: 1, sends: [], recvs: [{ peer: 0, data: bytes(8) }] }])).toBeNull();
    expect(unmatched([{ local: 0, sends: [{ peer: 1, data: bytes(8) }], recvs: [] }, { local: 1, sends: [], recvs: [{ peer: 0, data: bytes(4) }] }])).toMatch(/rank 1 expects 4 bytes from rank 0 but it sends 8/);
    expect(unmatched([{ local: 0, sends: [], recvs: [] }, { local: 1, sends: [], recvs: [{ peer: 0, data: bytes(4) }] }])).toMatch(/sends nothing more/);
    const g = new NcclGroup([0, 1]);
    try {
      const [a, b] = [g.member(0), g.member(1)];
      await expect(Promise.all([a.exchange([{ peer: 1, data: bytes(8) }], []), b.exchange([], [])])).rejects.toThrow(/NcclGroup round 0: rank 0 sends 8 bytes to rank 1, which does not receive them/);
    } finally {
      g.destroy();
    }
  });

  it('chunks large messages in the bridge, bounces unpinnable memory, and reports a failed collective', async () => {
    const b = loadBridgeModule();
    const h = b.commInitAll([0, 1]);
    const n = 300_000;
    const a = new Uint8Array(n).map((_, i) => i & 255);
    const c = new Uint8Array(n).map((_, i) => (i * 3) & 255);
    const ra = new Uint8Array(n);
    const rc = new Uint8Array(n);
    process.env.TETRISERVE_NCCL_CHUNK_MB = '0.0625'; // 64 KiB chunks: 5 rounds of the pipeline
    try {
      const t = await b.exchange(h, [{ local: 0, sends: [{ peer: 1, data: a }], recvs: [{ peer: 1, data: ra }] }, { local: 1, sends: [{ peer: 0, data: c }], recvs: [{ peer: 0, data: rc }] }]);
      expect(t.chunks).toBe(5);
      expect(t.pinned).toBe(true);
      expect(Buffer.compare(ra, c)).toBe(0);
      expect(Buffer.compare(rc, a)).toBe(0);
      process.env.FAKE_CUDA_NOREGISTER = '1';
      ra.fill(0);
      const t2 = await b.exchange(h, [{ local: 0, sends: [{ peer: 1, data: a.subarray(7) }], recvs: [{ peer: 1, data: ra.subarray(7) }] }, { local: 1, sends: [{ peer: 0, data: c.subarray(7) }], recvs: [{ peer: 0, data: rc.subarray(7) }] }]);
      expect(t2.pinned).toBe(false);
      expect(Buffer.compare(ra.subarray(7), c.subarray(7))).toBe(0);
      process.env.FAKE_NCCL_FAIL = '1';
      await expect(b.exchange(h, [{ local: 0, sends: [{ peer: 1, data: a }], recvs: [] }, { local: 1, sends: [], recvs: [{ peer: 0, data: rc }] }])).rejects.toThrow(/nccl-bridge: collective failed: nccl\.groupEnd\(\): fake: internal error/);
    } finally {
      delete process.env.TETRISERVE_NCCL_CHUNK_MB;
      delete process.env.FAKE_CUDA_NOREGISTER;
      delete process.env.FAKE_NCCL_FAIL;
      b.commDestroy(h);
    }
    expect(() => b.exchange(h, [])).toThrow(/unknown communicator/);
  });
});
