// FLUX with W8A8 linears (DitGraphOptions.int8): the int8 graph quantizes exactly the linears fluxInt8Weight names
// (block attention projections and MLPs), derives each int8 weight once per WeightStore (a second graph reuses
// them), and its velocity stays close to the f16 graph's on the same weights and inputs. The kernels themselves
// are checked against float64 in test/kernels/linear-i8.test.ts.
import { describe, expect, it } from 'vitest';
import { buildFluxGraph, FluxTransformer, fluxInt8Weight, tinyFluxConfig } from '../../src/models/flux/index.js';
import { randomWeightStore } from '../../src/models/random-weights.js';
import { freshSeed, rng, testContext } from '../helpers/gpu.js';

const SEED = freshSeed();

describe(`FLUX W8A8 linears (seed ${SEED})`, () => {
  it('names the block linears only', () => {
    for (const n of ['double_blocks.0.img_attn.qkv.weight', 'double_blocks.3.txt_mlp.2.weight', 'single_blocks.1.linear1.weight', 'single_blocks.0.linear2.weight', 'double_blocks.0.img_attn.proj.weight']) expect(fluxInt8Weight(n), n).toBe(true);
    for (const n of ['double_blocks.0.img_mod.lin.weight', 'single_blocks.2.modulation.lin.weight', 'img_in.weight', 'final_layer.linear.weight', 'time_in.in_layer.weight']) expect(fluxInt8Weight(n), n).toBe(false);
  });

  it('the int8 graph quantizes every block linear and matches the f16 graph within the quantization error', async () => {
    const ctx = await testContext();
    const cfg = tinyFluxConfig();
    const { store } = await randomWeightStore(ctx, cfg, (SEED % 1000) + 1);
    const shape = { batch: 1, txtTokens: 7, gridH: 3, gridW: 5 };
    const g = buildFluxGraph(cfg, shape, { int8: true });
    const blockLinears = [...g.weights.keys()].filter((n) => fluxInt8Weight(n) && !n.includes('#int8') && n.endsWith('.weight'));
    expect(blockLinears.length).toBeGreaterThan(0);
    expect(g.int8Weights.size).toBe(blockLinears.length);
    // One quantization per distinct activation: the single blocks' qkv and mlp_in (two row views of linear1)
    // share theirs, so there is one per block weight.
    expect(g.ops.filter((o) => o.kind === 'quantize_i8').length).toBe(blockLinears.length);
    expect(g.ops.filter((o) => o.kind === 'linear').length).toBeGreaterThan(blockLinears.length);
    // linear2's input [attention | MLP hidden] is quantized from its two parts: no concatenated copy.
    expect(g.ops.filter((o) => o.kind === 'concat_columns')).toHaveLength(0);
    expect(buildFluxGraph(cfg, shape).ops.filter((o) => o.kind === 'concat_columns')).toHaveLength(cfg.singleBlocks);
    const rand = rng(SEED);
    const arr = (n: number, s: number) => Float32Array.from({ length: n }, () => (rand() * 2 - 1) * s);
    const Li = shape.gridH * shape.gridW;
    const inp = {
      img: arr(Li * cfg.inChannels, 1), txt: arr(shape.txtTokens * cfg.contextInDim, 0.5), pooled: arr(cfg.pooledDim, 0.5),
      timesteps: [0.7], guidance: cfg.guidanceEmbed ? [3.5] : undefined,
    };
    const f16 = await FluxTransformer.create(ctx, store, cfg, shape);
    const want = await f16.forward(inp);
    f16.destroy();
    const before = store.size;
    const q = await FluxTransformer.create(ctx, store, cfg, shape, { int8: true });
    const got = await q.forward(inp);
    q.destroy();
    expect(store.size - before).toBe(2 * blockLinears.length); // q + scale per weight, kept in the store
    // A second int8 graph (another shape) reuses the derived weights.
    const q2 = await FluxTransformer.create(ctx, store, cfg, { ...shape, gridW: 4 }, { int8: true });
    q2.destroy();
    expect(store.size - before).toBe(2 * blockLinears.length);
    let num = 0;
    let den = 0;
    for (let i = 0; i < want.length; i++) {
      num += (got[i] - want[i]) ** 2;
      den += want[i] ** 2;
    }
    const rel = Math.sqrt(num / den);
    expect(got.every(Number.isFinite)).toBe(true);
    // Per-row int8 costs ~1% per linear; a broken int8 path (wrong scale, wrong weight) is O(1).
    expect(rel).toBeGreaterThan(1e-5);
    expect(rel).toBeLessThan(0.08);
    console.log(`[flux-int8.test] velocity relL2 int8 vs f16: ${rel.toExponential(2)}`);
    store.destroy();

    // int8 mode: the store releases each f16 block weight once its int8 form exists; int8 graphs do not bind them
    // (the same velocity, bit for bit), the store shrinks, and an f16 graph is refused naming the released weight.
    const { store: s2 } = await randomWeightStore(ctx, cfg, (SEED % 1000) + 1);
    s2.releaseInt8Sources = true;
    const bytes0 = s2.totalBytes;
    const r = await FluxTransformer.create(ctx, s2, cfg, shape, { int8: true });
    const again = await r.forward(inp);
    r.destroy();
    expect(Array.from(again)).toEqual(Array.from(got));
    for (const n of blockLinears) expect(s2.has(n), n).toBe(false);
    const int8Bytes = [...g.int8Weights.values()].reduce((t, nm) => t + s2.get(nm.q).shape.reduce((a, b) => a * b, 4) + s2.get(nm.scale).shape[0] * 4, 0);
    const f16Bytes = blockLinears.reduce((t, n) => t + g.weights.get(n)!.bytes, 0);
    expect(s2.totalBytes).toBe(bytes0 - f16Bytes + int8Bytes);
    console.log(`[flux-int8.test] int8 mode store: ${bytes0} -> ${s2.totalBytes} bytes`);
    const r2 = await FluxTransformer.create(ctx, s2, cfg, { ...shape, gridW: 4 }, { int8: true });
    r2.destroy();
    await expect(FluxTransformer.create(ctx, s2, cfg, shape)).rejects.toThrow(/was released: its int8 form was made/);
    s2.destroy();
  });
});
