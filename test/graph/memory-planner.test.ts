// Memory planner and liveness: pure arithmetic, no GPU.
import { describe, expect, it } from 'vitest';
import { type BufferRequest, MemoryPlanError, planMemory, validatePlan } from '../../src/graph/memory-planner.js';
import { Graph } from '../../src/graph/graph.js';
import { analyzeLiveness, GraphBuildError } from '../../src/graph/liveness.js';
import type { Tensor } from '../../src/graph/tensor.js';
import { freshSeed, rng } from '../helpers/gpu.js';

const BIG = 2 ** 40;
const opts = (extra: Partial<Parameters<typeof planMemory>[1]> = {}) => ({ alignment: 256, maxBindingBytes: BIG, maxArenaBytes: BIG, ...extra });

describe('planMemory', () => {
  it('a chain of ops needs two buffers of the largest size, in two arenas (read/write conflict)', () => {
    const reqs: BufferRequest[] = Array.from({ length: 10 }, (_, i) => ({ id: i, label: `x${i}`, bytes: 4096, start: i, end: i + 1 }));
    const conflicts = reqs.slice(1).map((r) => [r.id - 1, r.id] as const);
    const plan = planMemory(reqs, opts({ conflicts }));
    expect(validatePlan(reqs, plan, opts({ conflicts }))).toEqual([]);
    expect(plan.liveSetPeakBytes).toBe(8192);
    expect(plan.totalBytes).toBe(8192);
    expect(plan.arenaBytes.length).toBe(2);
  });

  it('aligns every offset and rounds sizes to 256 bytes', () => {
    const reqs: BufferRequest[] = [
      { id: 0, label: 'a', bytes: 1, start: 0, end: 3 },
      { id: 1, label: 'b', bytes: 300, start: 0, end: 3 },
      { id: 2, label: 'c', bytes: 257, start: 1, end: 2 },
    ];
    const plan = planMemory(reqs, opts());
    expect(validatePlan(reqs, plan, opts())).toEqual([]);
    for (const p of plan.placements.values()) expect(p.offset % 256).toBe(0);
    expect(plan.totalBytes).toBe(256 + 512 + 512);
  });

  it('random lifetimes and conflicts: no overlap, conflicts honoured, total within 1.5x of the live-set peak', () => {
    const seed = freshSeed();
    const rand = rng(seed);
    let worst = 0;
    for (let trial = 0; trial < 30; trial++) {
      const n = 5 + Math.floor(rand() * 60);
      const reqs: BufferRequest[] = Array.from({ length: n }, (_, i) => {
        const start = Math.floor(rand() * 40);
        return { id: i, label: `t${i}`, bytes: 1 + Math.floor(rand() ** 2 * 100_000), start, end: start + Math.floor(rand() * 10) };
      });
      const conflicts: [number, number][] = [];
      for (let c = 0; c < n / 2; c++) {
        const a = Math.floor(rand() * n);
        const b = Math.floor(rand() * n);
        if (a !== b) conflicts.push([a, b]);
      }
      const o = opts({ conflicts });
      const plan = planMemory(reqs, o);
      expect(validatePlan(reqs, plan, o), `seed ${seed} trial ${trial}`).toEqual([]);
      expect(plan.totalBytes).toBeGreaterThanOrEqual(plan.liveSetPeakBytes);
      const noConf = planMemory(reqs, opts());
      worst = Math.max(worst, noConf.totalBytes / noConf.liveSetPeakBytes);
    }
    expect(worst, `seed ${seed}: greedy-by-size packing ratio`).toBeLessThan(1.5);
  });

  it('splits into several arenas when one would exceed maxBufferSize', () => {
    const reqs: BufferRequest[] = Array.from({ length: 6 }, (_, i) => ({ id: i, label: `t${i}`, bytes: 1000, start: 0, end: 5 }));
    const o = opts({ maxArenaBytes: 2048 });
    const plan = planMemory(reqs, o);
    expect(validatePlan(reqs, plan, o)).toEqual([]);
    expect(plan.arenaBytes.length).toBe(3);
    for (const a of plan.arenaBytes) expect(a).toBeLessThanOrEqual(2048);
  });

  it('refuses a tensor larger than one binding, naming it', () => {
    const reqs: BufferRequest[] = [{ id: 0, label: 'block3/qkv', bytes: 5000, start: 0, end: 1 }];
    expect(() => planMemory(reqs, opts({ maxBindingBytes: 4096 }))).toThrow(MemoryPlanError);
    expect(() => planMemory(reqs, opts({ maxBindingBytes: 4096 }))).toThrow(/block3\/qkv.*maxStorageBufferBindingSize/);
  });

  it('detects a broken plan (the validator can fail)', () => {
    const reqs: BufferRequest[] = [
      { id: 0, label: 'a', bytes: 256, start: 0, end: 2 },
      { id: 1, label: 'b', bytes: 256, start: 1, end: 3 },
    ];
    const plan = planMemory(reqs, opts());
    plan.placements.set(1, { ...plan.placements.get(0)! });
    expect(validatePlan(reqs, plan, opts()).join()).toMatch(/overlap/);
  });
});

/** An op that would run a kernel; liveness only looks at its inputs, outputs and in-place hints. */
function fakeOp(g: Graph, inputs: Tensor[], shape: number[], inPlaceOver?: Tensor, required = false): Tensor {
  const [out] = g.op({
    kind: 'fake',
    inputs,
    outputs: [{ shape, dtype: 'f32' }],
    inPlace: inPlaceOver ? [{ output: 0, input: inPlaceOver, required }] : [],
    exec: { type: 'kernel', launch: () => Promise.reject(new Error('not run')) },
  });
  return out;
}

describe('analyzeLiveness', () => {
  it('takes an optional in-place hint when the input dies at that op, and conflicts read/write storages', () => {
    const g = new Graph();
    const x = g.input('x', [64]);
    const a = fakeOp(g, [x], [64]);
    const b = fakeOp(g, [a], [64], a); // a dies here -> b reuses a's storage
    const c = fakeOp(g, [b, x], [64]);
    g.output('c', c);
    const live = analyzeLiveness(g);
    expect(live.storageOf.get(b.id)!.root).toBe(a.id);
    expect(live.inPlaceTaken.get(1)).toEqual([0]);
    // x persists through the whole graph (it is an input)
    const rx = live.requests.find((r) => r.id === x.id)!;
    expect([rx.start, rx.end]).toEqual([0, 2]);
    const key = (p: [number, number]) => p.slice().sort().join();
    const conf = live.conflicts.map(key);
    expect(conf).toContain(key([x.id, a.id]));
    expect(conf).toContain(key([a.id, c.id]));
  });

  it('refuses optional in-place when the input is read later, and errors for required in-place', () => {
    const g = new Graph();
    const x = g.input('x', [64]);
    const a = fakeOp(g, [x], [64]);
    const b = fakeOp(g, [a], [64], a);
    const c = fakeOp(g, [a, b], [64]); // a still read here
    g.output('c', c);
    const live = analyzeLiveness(g);
    expect(live.storageOf.get(b.id)!.root).toBe(b.id);

    const g2 = new Graph();
    const x2 = g2.input('x', [64]);
    const a2 = fakeOp(g2, [x2], [64]);
    const b2 = fakeOp(g2, [a2], [64], a2, true);
    g2.output('c', fakeOp(g2, [a2, b2], [64]));
    expect(() => analyzeLiveness(g2)).toThrow(GraphBuildError);
    expect(() => analyzeLiveness(g2)).toThrow(/still read later by fake#2/);
  });

  it('never writes in place over a graph input or output', () => {
    const g = new Graph();
    const x = g.input('x', [64]);
    const b = fakeOp(g, [x], [64], x);
    g.output('b', b);
    const live = analyzeLiveness(g);
    expect(live.storageOf.get(b.id)!.root).toBe(b.id);
  });

  it('keeps matmul reads and writes in separate arenas unless shareBuffers is on', async () => {
    const { linear } = await import('../../src/graph/ops/matmul.js');
    const g = new Graph();
    const x = g.input('x', [4, 8], 'f16');
    const y = linear(g, x, g.weight('w', [8, 8]));
    g.output('y', y);
    const key = (p: [number, number]) => p.slice().sort().join();
    expect(analyzeLiveness(g).conflicts.map(key)).toContain(key([x.id, y.id]));
    expect(analyzeLiveness(g, { shareBuffers: true }).conflicts).toEqual([]);
  });

  it('views share storage with their base at the right offset', () => {
    const g = new Graph();
    const x = g.input('x', [4, 64]); // 256-byte rows in f32
    const a = fakeOp(g, [x], [4, 64]);
    const r = g.reshape(a, [256]);
    const s = g.sliceRows(a, 2, 2);
    g.output('r', fakeOp(g, [r, s], [8]));
    const live = analyzeLiveness(g);
    expect(live.storageOf.get(r.id)).toEqual({ root: a.id, byteOffset: 0 });
    expect(live.storageOf.get(s.id)).toEqual({ root: a.id, byteOffset: 512 });
    const ra = live.requests.find((q) => q.id === a.id)!;
    expect(ra.end).toBe(3); // kept alive by the views' consumer
  });
});

describe('planning a FLUX-shaped DiT graph (no GPU)', () => {
  it('stays within 1.15x of the largest live set, with every read/write conflict honoured', async () => {
    const { buildTinyDit, TINY_DIT_DEFAULT } = await import('../../src/models/tiny-dit/index.js');
    // FLUX.1 widths at 1024^2 (4096 image tokens, hidden 3072, 24 heads of 128, MLP 12288), 3 blocks.
    const g = buildTinyDit({ ...TINY_DIT_DEFAULT, batch: 1, gridH: 64, gridW: 64, hidden: 3072, heads: 24, axesDim: [16, 56, 56], depth: 3, patchDim: 64, condDim: 256 });
    const live = analyzeLiveness(g);
    const o = { alignment: 256, maxBindingBytes: 2 ** 31 - 4, maxArenaBytes: 2 ** 40, conflicts: live.conflicts };
    const plan = planMemory(live.requests, o);
    expect(validatePlan(live.requests, plan, o)).toEqual([]);
    // Largest live set: h (f32, 48 MiB) + qkv (72 MiB) + q, k, v (72 MiB) at the qkv-prep op. qkv-prep reads qkv
    // and writes q/k/v, so they sit in different arenas, and the MLP hidden (96 MiB) must fit beside h in one of
    // them: 216 MiB is the best any placement can do under the conflict rule (1.125x).
    const MiB = 2 ** 20;
    expect(plan.liveSetPeakBytes / MiB).toBeGreaterThan(192);
    expect(plan.liveSetPeakBytes / MiB).toBeLessThan(193); // + the tiny token and cond inputs
    expect(plan.totalBytes / plan.liveSetPeakBytes).toBeLessThan(1.15);
    // In-place gated residuals: h is never copied, so the whole stack needs no per-block memory.
    expect(live.inPlaceTaken.size).toBe(2 * 3);
  });
});
