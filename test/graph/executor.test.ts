// Executor on a real device (lavapipe in CI): planned arenas, in-place reuse, views and copies, host ops between
// command buffers, repeated runs, GPU-side inputs, profiling, and the build/compile errors users will hit.
import { describe, expect, it } from 'vitest';
import { compile } from '../../src/graph/executor.js';
import { Graph } from '../../src/graph/graph.js';
import { GraphBuildError } from '../../src/graph/liveness.js';
import { add, addScaled, mul, silu } from '../../src/graph/ops/elementwise.js';
import { layerNorm } from '../../src/graph/ops/norm.js';
import { formatProfile } from '../../src/graph/profile-report.js';
import { GraphShapeError } from '../../src/graph/tensor.js';
import { WeightStore } from '../../src/graph/weights.js';
import { expectClose, freshSeed, randn, rng, uploadTensor } from '../helpers/gpu.js';
import { testContext } from '../helpers/gpu.js';

const R = 7;
const C = 40;

/** x -> layerNorm(w,b) -> silu -> * s (broadcast) -> 0.5*m + 2*x; plus row slices/concat and a host readback. */
function buildGraph(hostSeen?: { rows: Float32Array | null }) {
  const g = new Graph('exec-test');
  const x = g.input('x', [R, C], 'f32');
  const w = g.weight('ln.weight', [C], 'f16');
  const b = g.weight('ln.bias', [C], 'f16');
  const s = g.weight('scale', [C], 'f32');
  const y = g.scope('blk', () => layerNorm(g, x, { weight: w, bias: b, eps: 1e-5, dtype: 'f32' }));
  const z = silu(g, y); // y dies here: in place
  const m = mul(g, z, s);
  const o = addScaled(g, m, x, 0.5, 2);
  // Rows 2..4 (copy: 160-byte rows are not 256-aligned) and a concat of the last row with the first two.
  const mid = g.sliceRows(o, 2, 3, 'mid');
  if (hostSeen) {
    g.hostOp('peek', [mid], [], async (host) => {
      hostSeen.rows = await host.read(mid);
    });
  }
  const cat = g.concatRows([g.sliceRows(o, R - 1, 1), g.sliceRows(o, 0, 2)], 'cat');
  g.output('out', o);
  g.output('mid', mid);
  g.output('cat', g.reshape(cat, [3 * C]));
  return g;
}

function reference(x: Float64Array, w: Float64Array, b: Float64Array, s: Float64Array): Float64Array {
  const out = new Float64Array(R * C);
  for (let r = 0; r < R; r++) {
    let mean = 0;
    for (let c = 0; c < C; c++) mean += x[r * C + c];
    mean /= C;
    let v = 0;
    for (let c = 0; c < C; c++) v += (x[r * C + c] - mean) ** 2;
    const inv = 1 / Math.sqrt(v / C + 1e-5);
    for (let c = 0; c < C; c++) {
      const y = (x[r * C + c] - mean) * inv * w[c] + b[c];
      const z = y / (1 + Math.exp(-y));
      out[r * C + c] = 0.5 * z * s[c] + 2 * x[r * C + c];
    }
  }
  return out;
}

async function setup(seed: number) {
  const ctx = await testContext();
  const rand = rng(seed);
  const w = randn(rand, C, 1, 'f16');
  const b = randn(rand, C, 0.5, 'f16');
  const s = randn(rand, C, 1, 'f32');
  const weights = new WeightStore();
  weights.upload(ctx, 'ln.weight', w, [C], 'f16');
  weights.upload(ctx, 'ln.bias', b, [C], 'f16');
  weights.upload(ctx, 'scale', s, [C], 'f32');
  return { ctx, rand, w, b, s, weights };
}

const rows = (a: ArrayLike<number>, from: number, n: number) => Array.from(a).slice(from * C, (from + n) * C);

describe('executor', () => {
  it('runs a graph with in-place ops, copies and a host op, and matches the float64 reference on repeated runs', async () => {
    const seed = freshSeed();
    const { ctx, rand, w, b, s, weights } = await setup(seed);
    const seen = { rows: null as Float32Array | null };
    const plan = await compile(ctx, buildGraph(seen), weights);
    expect(plan.stats.hostOps).toBe(1);
    expect(plan.stats.commandBuffers).toBe(2);
    expect(plan.stats.dispatches).toBe(4);
    expect(plan.stats.inPlaceOps).toBeGreaterThanOrEqual(1);
    expect(plan.stats.activationBytes).toBeGreaterThanOrEqual(plan.stats.liveSetPeakBytes);
    for (let run = 0; run < 2; run++) {
      const x = randn(rand, R * C, 3, 'f32').map((v, i) => v + (i % C === 0 ? 50 : 0)); // a large-mean column
      plan.setInput('x', x);
      await plan.run();
      const want = reference(x, w, b, s);
      const bound = { relL2: 1e-5 }; // f16 weights are exact inputs and all storage and math is f32: only f32 rounding remains
      expectClose(await plan.readOutput('out'), want, bound, `out (seed ${seed}, run ${run})`);
      expectClose(await plan.readOutput('mid'), rows(want, 2, 3), bound, `mid (seed ${seed})`);
      expectClose(await plan.readOutput('cat'), [...rows(want, R - 1, 1), ...rows(want, 0, 2)], bound, `cat (seed ${seed})`);
      expectClose(seen.rows!, rows(want, 2, 3), bound, `host op saw (seed ${seed})`);
    }
    plan.destroy();
  });

  it('gives the same result when arenas are capped small (several arenas) and when the input comes from a GPU tensor', async () => {
    const seed = freshSeed();
    const { ctx, rand, w, b, s, weights } = await setup(seed);
    const plan = await compile(ctx, buildGraph(), weights, { maxArenaBytes: 2048 });
    expect(plan.stats.arenaBytes.length).toBeGreaterThan(2);
    const x = randn(rand, R * C, 1, 'f32');
    plan.setInput('x', uploadTensor(ctx, x, [R, C], 'f32'));
    await plan.run();
    expectClose(await plan.readOutput('out'), reference(x, w, b, s), { relL2: 1e-5 }, `out (seed ${seed})`);
    plan.destroy();
  });

  it('runs encoded ahead (prepareRun): inputs written or copied after the encode still reach the run; plans with host ops refuse', async () => {
    const seed = freshSeed();
    const { ctx, rand, w, b, s, weights } = await setup(seed);
    const plan = await compile(ctx, buildGraph(), weights);
    expect(plan.stats.hostOps).toBe(0);
    for (let run = 0; run < 3; run++) {
      expect(plan.prepareRun()).toBe(true); // encoded before the inputs of this run exist
      const x = randn(rand, R * C, 2, 'f32');
      // Run 1 takes its input as a GPU tensor (an input copy queued in front of the prepared commands).
      if (run === 1) plan.setInput('x', uploadTensor(ctx, x, [R, C], 'f32'));
      else plan.setInput('x', x);
      await plan.run();
      expectClose(await plan.readOutput('out'), reference(x, w, b, s), { relL2: 1e-5 }, `prepared run ${run} (seed ${seed})`);
    }
    // runTimed / profile encode afresh (and drop what was prepared); the next plain run encodes again.
    plan.prepareRun();
    const x = randn(rand, R * C, 2, 'f32');
    plan.setInput('x', x);
    await plan.runTimed();
    expectClose(await plan.readOutput('out'), reference(x, w, b, s), { relL2: 1e-5 }, `timed run after prepareRun (seed ${seed})`);
    plan.destroy();
    expect(plan.prepareRun()).toBe(false);
    const withHost = await compile(ctx, buildGraph({ rows: null }), weights);
    expect(withHost.prepareRun()).toBe(false);
    withHost.destroy();
  });

  it('submits a long segment in pieces as it encodes (copies and a host op between): same numbers, every pass timed', async () => {
    const seed = freshSeed();
    const { ctx, rand } = await setup(seed);
    // 230 kernel steps: x_{i+1} = a_i x_i + b_i (addScaled against a constant row); row copies every 37 steps end a
    // pass inside a submission; a host op splits the chain into two segments (two encoders, each submitted in pieces).
    const g = new Graph('submit-pieces');
    const x0 = g.input('x', [R, C], 'f32');
    const row = g.input('row', [C], 'f32');
    const coef = Array.from({ length: 230 }, () => [0.5 + rand(), rand() - 0.5]);
    let x = x0;
    for (let i = 0; i < coef.length; i++) {
      x = addScaled(g, x, row, coef[i][0] > 1.2 ? 1 / coef[i][0] : coef[i][0], coef[i][1]);
      if (i % 37 === 36) x = g.concatRows([g.sliceRows(x, 1, R - 1), g.sliceRows(x, 0, 1)]); // rotate rows: copies
      if (i === 150) g.hostOp('peek', [x], [], async () => {});
    }
    g.output('out', x);
    const plan = await compile(ctx, g, new WeightStore());
    const xv = randn(rand, R * C, 1, 'f32');
    const rv = randn(rand, C, 1, 'f32');
    let want = Array.from(xv);
    for (let i = 0; i < coef.length; i++) {
      const a = coef[i][0] > 1.2 ? 1 / coef[i][0] : coef[i][0];
      want = want.map((v, k) => a * v + coef[i][1] * rv[k % C]);
      if (i % 37 === 36) want = [...want.slice(C), ...want.slice(0, C)];
    }
    plan.setInput('x', xv);
    plan.setInput('row', rv);
    await plan.run();
    // Steps per segment: 151 + 79 (plus copies); pieces: 151 -> before steps 8, 104 -> 3; 79 -> before 8 -> 2.
    expect(plan.lastRun!.submits).toBe(5);
    expectClose(await plan.readOutput('out'), want, { relL2: 1e-5 }, `chained run (seed ${seed})`);
    const ms = await plan.runTimed();
    if (ctx.caps.timestampQuery) expect(ms).toBeGreaterThan(0);
    expectClose(await plan.readOutput('out'), want, { relL2: 1e-5 }, `timed chained run (seed ${seed})`);
    plan.destroy();
  });

  it('profiles per op and aggregates by kind', async () => {
    const { ctx, rand, weights } = await setup(freshSeed());
    const plan = await compile(ctx, buildGraph(), weights);
    plan.setInput('x', randn(rand, R * C, 1, 'f32'));
    const prof = await plan.profile();
    if (ctx.caps.timestampQuery) {
      expect(prof.ops.map((o) => o.kind)).toEqual(['layer_norm', 'silu', 'mul', 'add_scaled']);
      expect(prof.byKind.length).toBe(4);
      expect(prof.ops[0].label).toMatch(/^blk\/layer_norm#0$/);
      expect(formatProfile(prof)).toMatch(/\| layer_norm \| [0-9.]+ \| [0-9.]+% \| 1 \|/);
    }
    plan.destroy();
  });

  it('builds unaligned weight slices and weight concatenations once at compile time (no per-run copies)', async () => {
    const seed = freshSeed();
    const rand = rng(seed);
    const ctx = await testContext();
    const g = new Graph('param-slices');
    const a = g.weight('a', [5, 4], 'f32'); // 16-byte rows: slices at row 1 are not 256-aligned
    const b = g.weight('b', [2, 4], 'f32');
    const x = g.input('x', [3, 4], 'f32');
    const fused = g.concatRows([g.sliceRows(a, 1, 2), b], 'fused'); // [4, 4]
    expect(g.sliceRows(a, 1, 2)).toBe(g.sliceRows(a, 1, 2)); // the same slice twice is one constant
    g.output('y', add(g, x, g.sliceRows(fused, 1, 3)));
    const av = randn(rand, 20, 1, 'f32');
    const bv = randn(rand, 8, 1, 'f32');
    const store = new WeightStore();
    store.upload(ctx, 'a', av, [5, 4], 'f32');
    store.upload(ctx, 'b', bv, [2, 4], 'f32');
    const plan = await compile(ctx, g, store);
    expect(plan.stats.copies).toBe(0);
    const xv = randn(rand, 12, 1, 'f32');
    plan.setInput('x', xv);
    await plan.run();
    const fusedRef = [...av.slice(4, 12), ...bv];
    expectClose(await plan.readOutput('y'), Array.from(xv, (v, i) => v + fusedRef[4 + i]), { relL2: 1e-7 }, `param slices (seed ${seed})`);
    plan.destroy();
    store.destroy();
  });

  it('names every missing or mis-shaped weight at compile time', async () => {
    const ctx = await testContext();
    const weights = new WeightStore();
    weights.upload(ctx, 'ln.weight', new Float64Array(C + 1), [C + 1], 'f16');
    const err = (await compile(ctx, buildGraph(), weights).catch((e: unknown) => e)) as Error;
    expect(err).toBeInstanceOf(GraphBuildError);
    expect(err.message).toMatch(/'ln.weight' has shape \[41\] but the graph needs \[40\]/);
    expect(err.message).toMatch(/missing weight 'ln.bias'/);
    expect(err.message).toMatch(/missing weight 'scale'/);
    weights.destroy();
  });

  it('rejects bad inputs and names with messages that say what exists', async () => {
    const { ctx, weights } = await setup(freshSeed());
    const plan = await compile(ctx, buildGraph(), weights);
    expect(() => plan.setInput('x', new Float32Array(R * C - 1))).toThrow(/got 279 values but 'x' \[7, 40\] f32 holds 280/);
    expect(() => plan.setInput('y', new Float32Array(1))).toThrow(/has no input 'y' \(inputs: x\)/);
    await expect(plan.readOutput('nope')).rejects.toThrow(/no output 'nope' \(outputs: out, mid, cat\)/);
    const other = new Graph('other');
    expect(() => other.output('o', plan.graph.inputs.get('x')!)).toThrow(/does not belong to graph 'other'/);
    plan.destroy();
    await expect(plan.run()).rejects.toThrow(/used after destroy/);
  });

  it('prefixes a kernel launch error with the op label', async () => {
    const ctx = await testContext();
    const g = new Graph('bad-launch');
    const x = g.input('x', [4]);
    const [y] = g.scope('blk', () =>
      g.op({ kind: 'custom', inputs: [x], outputs: [{ shape: [4], dtype: 'f32' }], exec: { type: 'kernel', launch: () => Promise.reject(new Error('kernel says no')) } }),
    );
    g.output('y', y);
    await expect(compile(ctx, g, new WeightStore())).rejects.toThrow(/^blk\/custom#0: kernel says no$/);
  });

  it('reports shape errors at build time naming the op and tensors', () => {
    const g = new Graph();
    const x = g.input('x', [R, C]);
    const s = g.weight('s', [C + 1], 'f32');
    expect(() => g.scope('blk', () => mul(g, x, s))).toThrow(GraphShapeError);
    expect(() => g.scope('blk', () => mul(g, x, s))).toThrow(/blk\/mul#\d+: 's' \[41\] f32 does not broadcast onto 'x' \[7, 40\] f32/);
    expect(() => g.reshape(x, [3, 3])).toThrow(/cannot reshape 'x' \[7, 40\]/);
    expect(() => layerNorm(g, x, { weight: s })).toThrow(/weight 's' \[41\] f32 must have shape \[40\]/);
  });
});
