// The remaining op wrappers inside real graphs, each against a float64 reference: token embedding, head
// split/merge, sequence concat/slice, softmax, conversion, transpose, timestep embedding (an encoder-like chain),
// and conv2d / GroupNorm+SiLU / nearest upsample (a VAE-like chain).
import { describe, it } from 'vitest';
import { compile } from '../../src/graph/executor.js';
import { Graph } from '../../src/graph/graph.js';
import { concatSeq, mergeHeads, sliceSeq, splitHeads, transpose2d } from '../../src/graph/ops/layout.js';
import { convert, embedding, softmax, timestepEmbedding } from '../../src/graph/ops/misc.js';
import { conv2d, groupNorm, upsampleNearest2x } from '../../src/graph/ops/vae.js';
import { WeightStore } from '../../src/graph/weights.js';
import { roundF16 } from '../../src/util/f16.js';
import { expectClose, freshSeed, randn, rng, testContext } from '../helpers/gpu.js';

describe('op wrappers in graphs', () => {
  it('encoder-like chain: embedding, split/merge heads, concat/slice, softmax, convert, transpose, timestep embedding', async () => {
    const seed = freshSeed();
    const rand = rng(seed);
    const ctx = await testContext();
    const [B, L, V, C, H] = [2, 5, 11, 16, 2];
    const g = new Graph('encoder-ops');
    const ids = g.input('ids', [B, L], 'u32');
    const t = g.input('t', [B], 'f32');
    const table = g.weight('table', [V, C], 'f16');
    const e = embedding(g, ids, table);
    const m = mergeHeads(g, splitHeads(g, e, H));
    const cat = concatSeq(g, [m, sliceSeq(g, m, 1, 3)]); // [B, 8, C]
    const p = softmax(g, cat, { scale: 0.5, dtype: 'f32' });
    const h = convert(g, p, 'f16', { shape: [16, 16] });
    g.output('tr', transpose2d(g, h));
    g.output('temb', timestepEmbedding(g, t, { dim: 7, flipSinToCos: true, downscaleFreqShift: 0, scale: 1000 }));

    const tbl = randn(rand, V * C, 2, 'f16');
    const store = new WeightStore();
    store.upload(ctx, 'table', tbl, [V, C], 'f16');
    const plan = await compile(ctx, g, store);
    const idv = Uint32Array.from({ length: B * L }, () => Math.floor(rand() * V));
    const tv = Float64Array.from({ length: B }, () => Math.fround(rand()));
    plan.setInput('ids', Array.from(idv)); // plain numbers: the executor encodes them as u32
    plan.setInput('t', tv);
    await plan.run();

    // Reference: rows of the table; concat rows [0..5) then [1..4) per batch; softmax(0.5 x) per row; f16; transpose.
    const rowsOut: number[][] = [];
    for (let b = 0; b < B; b++) {
      const rows = Array.from({ length: L }, (_, l) => Array.from(tbl.slice(idv[b * L + l] * C, (idv[b * L + l] + 1) * C)));
      rowsOut.push(...rows, ...rows.slice(1, 4));
    }
    const sm = rowsOut.map((r) => {
      const mx = Math.max(...r.map((x) => 0.5 * x));
      const ex = r.map((x) => Math.exp(0.5 * x - mx));
      const z = ex.reduce((a, c) => a + c, 0);
      return ex.map((x) => roundF16(x / z));
    });
    const flat = sm.flat();
    const tr = Array.from({ length: 256 }, (_, i) => flat[(i % 16) * 16 + Math.floor(i / 16)]);
    expectClose(await plan.readOutput('tr'), tr, { relL2: 2e-3 }, `softmax/transpose chain (seed ${seed})`);
    // FLUX timestep embedding: args = 1000 t exp(-ln(1e4) k / half), [cos, sin], zero pad for odd dim.
    const temb: number[] = [];
    for (let b = 0; b < B; b++) {
      const half = 3;
      const args = Array.from({ length: half }, (_, k) => 1000 * tv[b] * Math.exp((-Math.log(10000) * k) / half));
      temb.push(...args.map(Math.cos), ...args.map(Math.sin), 0);
    }
    expectClose(await plan.readOutput('temb'), temb, { relL2: 1e-4 }, `timestep embedding (seed ${seed})`);
    plan.destroy();
    store.destroy();
  });

  it('VAE-like chain: conv3x3 + bias, GroupNorm+SiLU, nearest 2x upsample, 1x1 conv over the upsampled input + residual', async () => {
    const seed = freshSeed();
    const rand = rng(seed);
    const ctx = await testContext();
    const [B, H, W, C, G] = [1, 4, 3, 8, 4];
    const g = new Graph('vae-ops');
    const x = g.input('x', [B, H, W, C], 'f16');
    const w3 = g.weight('w3', [3, 3, C, C], 'f16');
    const b3 = g.weight('b3', [C], 'f32');
    const gw = g.weight('gn.w', [C], 'f16');
    const gb = g.weight('gn.b', [C], 'f16');
    const w1 = g.weight('w1', [1, 1, C, C], 'f16');
    const y1 = conv2d(g, x, w3, { bias: b3 });
    const y2 = groupNorm(g, y1, gw, gb, { groups: G, silu: true });
    const u = upsampleNearest2x(g, y2);
    g.output('out', conv2d(g, y2, w1, { upsampleInput: true, residual: u, dtype: 'f32' }));

    const vals = {
      w3: randn(rand, 9 * C * C, 1 / Math.sqrt(9 * C), 'f16'),
      b3: randn(rand, C, 0.1, 'f32'),
      gw: randn(rand, C, 0.2, 'f16').map((v) => 1 + v),
      gb: randn(rand, C, 0.2, 'f16'),
      w1: randn(rand, C * C, 1 / Math.sqrt(C), 'f16'),
    };
    const store = new WeightStore();
    store.upload(ctx, 'w3', vals.w3, [3, 3, C, C], 'f16');
    store.upload(ctx, 'b3', vals.b3, [C], 'f32');
    store.upload(ctx, 'gn.w', vals.gw, [C], 'f16');
    store.upload(ctx, 'gn.b', vals.gb, [C], 'f16');
    store.upload(ctx, 'w1', vals.w1, [1, 1, C, C], 'f16');
    const plan = await compile(ctx, g, store);
    const xv = randn(rand, B * H * W * C, 1, 'f16');
    plan.setInput('x', xv);
    await plan.run();

    const at = (a: ArrayLike<number>, h: number, w: number, c: number, Wd: number) => a[(h * Wd + w) * C + c];
    const c1 = new Float64Array(H * W * C);
    for (let h = 0; h < H; h++) for (let w = 0; w < W; w++) for (let co = 0; co < C; co++) {
      let s = vals.b3[co];
      for (let dy = -1; dy <= 1; dy++) for (let dx = -1; dx <= 1; dx++) {
        const hy = h + dy;
        const wx = w + dx;
        if (hy < 0 || hy >= H || wx < 0 || wx >= W) continue;
        for (let ci = 0; ci < C; ci++) s += at(xv, hy, wx, ci, W) * vals.w3[(((dy + 1) * 3 + (dx + 1)) * C + ci) * C + co];
      }
      c1[(h * W + w) * C + co] = s;
    }
    const gnOut = new Float64Array(c1.length);
    const cpg = C / G;
    for (let gi = 0; gi < G; gi++) {
      const idx: number[] = [];
      for (let p = 0; p < H * W; p++) for (let c = gi * cpg; c < (gi + 1) * cpg; c++) idx.push(p * C + c);
      const mean = idx.reduce((a, i) => a + c1[i], 0) / idx.length;
      const vr = idx.reduce((a, i) => a + (c1[i] - mean) ** 2, 0) / idx.length;
      for (const i of idx) {
        const c = i % C;
        const y = ((c1[i] - mean) / Math.sqrt(vr + 1e-6)) * vals.gw[c] + vals.gb[c];
        gnOut[i] = y / (1 + Math.exp(-y));
      }
    }
    const out = new Float64Array(4 * H * W * C);
    for (let h = 0; h < 2 * H; h++) for (let w = 0; w < 2 * W; w++) for (let co = 0; co < C; co++) {
      let s = at(gnOut, h >> 1, w >> 1, co, W);
      for (let ci = 0; ci < C; ci++) s += at(gnOut, h >> 1, w >> 1, ci, W) * vals.w1[ci * C + co];
      out[(h * 2 * W + w) * C + co] = s;
    }
    // conv output and GroupNorm output stored as f16 between ops: relL2 <= 3e-3.
    expectClose(await plan.readOutput('out'), out, { relL2: 3e-3 }, `VAE chain (seed ${seed})`);
    plan.destroy();
    store.destroy();
  });
});
