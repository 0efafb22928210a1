// conv2d (NHWC implicit GEMM) and its weight packing against a float64 direct convolution, plus a
// ResnetBlock2D-shaped chain (GroupNorm+SiLU, conv, GroupNorm+SiLU, conv, skip) against a float64 reference.
import { describe, expect, it } from 'vitest';
import { conv2d, conv2dOutputSize, packConv2dWeight, packConv2dWeightOnHost, packedConv2dWeightShape, type ConvTileName } from '../../src/kernels-wgsl/conv2d.js';
import { conv2dCalls } from '../../src/kernels-wgsl/conv2d-gemm.js';
import { groupNorm } from '../../src/kernels-wgsl/groupnorm.js';
import { allocTensor, runCalls, type DType, type TensorView } from '../../src/gpu/kernel.js';
import { roundF16 } from '../../src/util/f16.js';
import { expectClose, freshSeed, poisonedTensor, randn, readTensor, rng, testContext, uploadTensor } from '../helpers/gpu.js';
import { refGroupNorm } from '../helpers/vae-reference.js';

type Pad = [number, number, number, number];

/** float64 direct convolution: x NHWC, w PyTorch [Cout, Cin, k, k]; optional nearest-2x upsampled input. */
function refConv(x: Float64Array, [B, H, W, Cin]: number[], w: Float64Array, Cout: number, k: number, stride: number, pad: Pad,
  bias?: Float64Array, residual?: Float64Array, upsample = false): { y: Float64Array; Ho: number; Wo: number } {
  const s = upsample ? 2 : 1;
  const HL = H * s, WL = W * s;
  const Ho = Math.floor((HL + pad[0] + pad[1] - k) / stride) + 1;
  const Wo = Math.floor((WL + pad[2] + pad[3] - k) / stride) + 1;
  const y = new Float64Array(B * Ho * Wo * Cout);
  for (let b = 0; b < B; b++) for (let oy = 0; oy < Ho; oy++) for (let ox = 0; ox < Wo; ox++) {
    const o = ((b * Ho + oy) * Wo + ox) * Cout;
    for (let co = 0; co < Cout; co++) {
      let acc = bias ? bias[co] : 0;
      for (let ky = 0; ky < k; ky++) {
        const iy = oy * stride - pad[0] + ky;
        if (iy < 0 || iy >= HL) continue;
        for (let kx = 0; kx < k; kx++) {
          const ix = ox * stride - pad[2] + kx;
          if (ix < 0 || ix >= WL) continue;
          const xi = ((b * H + Math.floor(iy / s)) * W + Math.floor(ix / s)) * Cin;
          for (let ci = 0; ci < Cin; ci++) acc += x[xi + ci] * w[((co * Cin + ci) * k + ky) * k + kx];
        }
      }
      y[o + co] = acc + (residual ? residual[o + co] : 0);
    }
  }
  return { y, Ho, Wo };
}

interface Case {
  name: string;
  B: number; H: number; W: number; Cin: number; Cout: number;
  k: 1 | 3; stride?: 1 | 2; padding?: number | Pad;
  bias?: DType; residual?: DType; out?: DType; tile?: ConvTileName; upsample?: boolean;
  /** Runs conv2dCalls with this path (gemm = im2col + linear) and cols scratch budget (bytes) to force row chunks. */
  gemm?: { colsBudgetBytes: number; chunks: number };
}

async function runCase(c: Case): Promise<void> {
  const ctx = await testContext();
  const seed = freshSeed();
  const rand = rng(seed);
  const stride = c.stride ?? 1;
  const padding = c.padding ?? (c.k === 3 ? 1 : 0);
  const pad: Pad = typeof padding === 'number' ? [padding, padding, padding, padding] : padding;
  const xs = [c.B, c.H, c.W, c.Cin];
  const x = randn(rand, c.B * c.H * c.W * c.Cin);
  const wStd = 1 / Math.sqrt(c.Cin * c.k * c.k);
  const w = randn(rand, c.Cout * c.Cin * c.k * c.k, wStd);
  const bias = c.bias ? randn(rand, c.Cout, 0.5, c.bias) : undefined;
  const [Ho, Wo] = conv2dOutputSize(c.H * (c.upsample ? 2 : 1), c.W * (c.upsample ? 2 : 1), c.k, stride, pad);
  const outShape = [c.B, Ho, Wo, c.Cout];
  const residual = c.residual ? randn(rand, c.B * Ho * Wo * c.Cout, 1, c.residual) : undefined;
  const ref = refConv(x, xs, w, c.Cout, c.k, stride, pad, bias, residual, c.upsample);

  const xT = uploadTensor(ctx, x, xs, 'f16');
  const wTorch = uploadTensor(ctx, w, [c.Cout, c.Cin, c.k, c.k], 'f16');
  const wPacked = poisonedTensor(ctx, packedConv2dWeightShape(wTorch.shape), 'f16');
  const out = poisonedTensor(ctx, outShape, c.out ?? 'f16');
  const calls = [
    await packConv2dWeight(ctx, { src: wTorch, dst: wPacked }),
  ];
  const convArgs = {
    x: xT, w: wPacked, out, kernel: c.k, stride, padding, tile: c.tile, upsampleInput: c.upsample,
    bias: bias ? uploadTensor(ctx, bias, [c.Cout], c.bias!) : undefined,
    residual: residual ? uploadTensor(ctx, residual, outShape, c.residual!) : undefined,
  };
  if (c.gemm) {
    const gemmCalls = await conv2dCalls(ctx, { ...convArgs, path: 'gemm', colsBudgetBytes: c.gemm.colsBudgetBytes });
    // weight re-layout + (im2col, linear) per chunk
    expect(gemmCalls.length, `gemm chunks for ${c.name}`).toBe(1 + 2 * c.gemm.chunks);
    calls.push(...gemmCalls);
  } else {
    calls.push(await conv2d(ctx, convArgs));
  }
  await runCalls(ctx, calls);
  const got = await readTensor(ctx, out);
  // f16 inputs are exact in the reference; the error is f32 accumulation order plus the final f16 rounding.
  const bound = (c.out ?? 'f16') === 'f16' ? 2e-3 : 2e-5;
  expectClose(got, ref.y, { relL2: bound }, `conv2d ${c.name} (seed ${seed})`);
}

describe('conv2d', () => {
  // Few pipeline variants on purpose (tile x out dtype x bias/residual dtype): kernel size, stride, padding,
  // the fused upsample and bias/residual presence are uniforms, and a cold lavapipe compile of one variant costs
  // seconds of CPU. On a CPU adapter the default tile is 'small' (Cout > 16) or 'narrow' (Cout <= 16).
  const cases: Case[] = [
    // narrow tile (Cout <= 16), bias f16
    { name: '3x3 odd H=5 W=7 Cin=3 Cout=5', B: 1, H: 5, W: 7, Cin: 3, Cout: 5, k: 3, bias: 'f16' },
    { name: '3x3 Cout=3 (conv_out shape), 2 M tiles', B: 1, H: 13, W: 17, Cin: 24, Cout: 3, k: 3, bias: 'f16' },
    { name: 'stride 2, symmetric padding, odd size, Cin=3', B: 1, H: 7, W: 5, Cin: 3, Cout: 9, k: 3, stride: 2, padding: 1, bias: 'f16' },
    { name: '1x1 Cin=1 Cout=1, no bias', B: 1, H: 3, W: 1, Cin: 1, Cout: 1, k: 1 },
    // default tile (small on lavapipe), bias f16
    { name: '3x3 Cin=19 Cout=37', B: 1, H: 9, W: 6, Cin: 19, Cout: 37, k: 3, bias: 'f16' },
    { name: '1x1 shortcut Cin=35 Cout=18 B=2', B: 2, H: 6, W: 5, Cin: 35, Cout: 18, k: 1, bias: 'f16' },
    { name: 'stride 2, encoder padding (0,1,0,1), odd size, B=2', B: 2, H: 9, W: 11, Cin: 20, Cout: 23, k: 3, stride: 2, padding: [0, 1, 0, 1], bias: 'f16' },
    { name: 'fused nearest-2x upsample input', B: 1, H: 5, W: 3, Cin: 17, Cout: 20, k: 3, upsample: true, bias: 'f16' },
    { name: 'valid (padding 0), 1-pixel output column, no bias', B: 1, H: 4, W: 3, Cin: 5, Cout: 17, k: 3, padding: 0 },
    // the GPU default tile (128x128, 8x8 per thread), bias + fused residual, 3 M tiles x 2 N tiles
    { name: 'large tile, 3x3 B=2 Cin=32 Cout=130 fused residual', B: 2, H: 11, W: 13, Cin: 32, Cout: 130, k: 3, bias: 'f16', residual: 'f16', tile: 'large' },
    { name: 'small tile, fused residual without bias, stride 2', B: 1, H: 8, W: 9, Cin: 16, Cout: 65, k: 3, stride: 2, residual: 'f16' },
    // small tile, f32 everywhere in the epilogue
    { name: '3x3 small tile, f32 bias, f32 residual, f32 output', B: 2, H: 7, W: 5, Cin: 21, Cout: 67, k: 3, tile: 'small', out: 'f32', residual: 'f32', bias: 'f32' },
  ];
  for (const c of cases) it(c.name, () => runCase(c));

  // Tensor-core path forced (im2col + linear; linear's portable path on lavapipe). Tiny cols budgets split the
  // output rows into several 256-byte-aligned chunks, exercising the chunk offsets of out / residual.
  const gemmCases: Case[] = [
    // Cout=5 f16 rows are 10 bytes: chunks must be multiples of 128 rows, so these (M < 128) run as one chunk.
    { name: 'gemm: 3x3 odd H=5 W=7 Cin=3 Cout=5 (scalar im2col)', B: 1, H: 5, W: 7, Cin: 3, Cout: 5, k: 3, bias: 'f16', gemm: { colsBudgetBytes: 2048, chunks: 1 } },
    { name: 'gemm: Cin=19 Cout=5 stride 2 padding (0,1,0,1) B=2', B: 2, H: 9, W: 11, Cin: 19, Cout: 5, k: 3, stride: 2, padding: [0, 1, 0, 1], bias: 'f16', gemm: { colsBudgetBytes: 4096, chunks: 1 } },
    // Cout=16 f16 (32-byte rows): 8-row quantum; 8 * 180 * 2 = 2880 bytes per quantum -> 16 rows per chunk of 60.
    { name: 'gemm: fused upsample, Cin=20 (vec4 im2col), residual, 4 chunks', B: 1, H: 5, W: 3, Cin: 20, Cout: 16, k: 3, upsample: true, bias: 'f16', residual: 'f16', gemm: { colsBudgetBytes: 6000, chunks: 4 } },
    // Cout=8 f32 (32-byte rows), K=19: 8 rows per chunk of 70 (last one partial).
    { name: 'gemm: 1x1 Cin=19 Cout=8, f32 out + residual, no bias, 9 chunks', B: 2, H: 7, W: 5, Cin: 19, Cout: 8, k: 1, out: 'f32', residual: 'f32', gemm: { colsBudgetBytes: 400, chunks: 9 } },
    { name: 'gemm: stride 2 (0,1,0,1) Cin=19 Cout=16 B=2, 3 chunks', B: 2, H: 9, W: 11, Cin: 19, Cout: 16, k: 3, stride: 2, padding: [0, 1, 0, 1], bias: 'f16', gemm: { colsBudgetBytes: 6000, chunks: 3 } },
  ];
  for (const c of gemmCases) it(c.name, () => runCase(c));

  it('packs weights on the host exactly as on the GPU', async () => {
    const ctx = await testContext();
    const seed = freshSeed();
    const shape = [7, 5, 3, 3];
    const w = randn(rng(seed), 7 * 5 * 9);
    const src = uploadTensor(ctx, w, shape, 'f16');
    const dst = poisonedTensor(ctx, packedConv2dWeightShape(shape), 'f16');
    await runCalls(ctx, [await packConv2dWeight(ctx, { src, dst })]);
    const host = packConv2dWeightOnHost(Float64Array.from(w), shape, (n) => new Float64Array(n));
    expect(Array.from(await readTensor(ctx, dst))).toEqual(Array.from(host));
  });

  it('rejects bad shapes with errors that name the problem', async () => {
    const ctx = await testContext();
    const x = allocTensor(ctx, [1, 5, 5, 8], 'f16');
    const wPacked = allocTensor(ctx, [3, 3, 8, 4], 'f16');
    const out = allocTensor(ctx, [1, 5, 5, 4], 'f16');
    await expect(conv2d(ctx, { x, w: allocTensor(ctx, [4, 8, 3, 3], 'f16'), out, kernel: 3 })).rejects.toThrow(/PyTorch layout.*packConv2dWeight/);
    await expect(conv2d(ctx, { x, w: wPacked, out: allocTensor(ctx, [1, 4, 5, 4], 'f16'), kernel: 3 })).rejects.toThrow(/'out' has shape \[1,4,5,4\] but \[1,5,5,4\]/);
    await expect(conv2d(ctx, { x: allocTensor(ctx, [1, 5, 5, 8], 'f32'), w: wPacked, out, kernel: 3 })).rejects.toThrow(/'x' must be f16/);
    await expect(conv2d(ctx, { x, w: wPacked, out, kernel: 3, bias: allocTensor(ctx, [5], 'f16') })).rejects.toThrow(/'bias' has shape/);
    await expect(conv2d(ctx, { x, w: wPacked, out, kernel: 3, residual: out })).rejects.toThrow(/overlaps 'residual'/);
    await expect(conv2d(ctx, { x, w: wPacked, out, kernel: 5 as 3 })).rejects.toThrow(/kernel must be 1 or 3/);
    expect(() => packedConv2dWeightShape([4, 8, 3])).toThrow(/\[Cout, Cin, k, k\]/);
  });
});

/** float64 GroupNorm (+SiLU) over NHWC. */

describe('ResnetBlock2D-shaped chain', () => {
  it('GN+SiLU, conv3x3, GN+SiLU, conv3x3, 1x1 shortcut skip matches float64', async () => {
    const ctx = await testContext();
    const seed = freshSeed();
    const rand = rng(seed);
    const [B, H, W, Cin, Cout, groups, eps] = [1, 9, 7, 64, 96, 32, 1e-6];
    const xs = [B, H, W, Cin];
    const ys = [B, H, W, Cout];
    const x = randn(rand, B * H * W * Cin, 1.5);
    const g1 = randn(rand, Cin, 0.2).map((v) => roundF16(1 + v));
    const b1 = randn(rand, Cin, 0.2);
    const w1 = randn(rand, Cout * Cin * 9, 1 / Math.sqrt(Cin * 9));
    const c1 = randn(rand, Cout, 0.1);
    const g2 = randn(rand, Cout, 0.2).map((v) => roundF16(1 + v));
    const b2 = randn(rand, Cout, 0.2);
    const w2 = randn(rand, Cout * Cout * 9, 1 / Math.sqrt(Cout * 9));
    const c2 = randn(rand, Cout, 0.1);
    const ws = randn(rand, Cout * Cin, 1 / Math.sqrt(Cin));
    const cs = randn(rand, Cout, 0.1);

    // float64 reference (no intermediate rounding: the bound below covers the GPU's f16 intermediates).
    const pad: Pad = [1, 1, 1, 1];
    const h1 = refGroupNorm(x, xs[0], xs[1] * xs[2], xs[3], g1, b1, groups, eps, true);
    const h2 = refConv(h1, xs, w1, Cout, 3, 1, pad, c1).y;
    const h3 = refGroupNorm(h2, ys[0], ys[1] * ys[2], ys[3], g2, b2, groups, eps, true);
    const skip = refConv(x, xs, ws, Cout, 1, 1, [0, 0, 0, 0], cs).y;
    const ref = refConv(h3, ys, w2, Cout, 3, 1, pad, c2, skip).y;

    const up = (d: Float64Array, s: number[], dt: DType = 'f16'): TensorView => uploadTensor(ctx, d, s, dt);
    const pack = async (d: Float64Array, s: number[]) => {
      const dst = allocTensor(ctx, packedConv2dWeightShape(s), 'f16');
      return { dst, call: await packConv2dWeight(ctx, { src: up(d, s), dst }) };
    };
    const p1 = await pack(w1, [Cout, Cin, 3, 3]);
    const p2 = await pack(w2, [Cout, Cout, 3, 3]);
    const ps = await pack(ws, [Cout, Cin, 1, 1]);
    const xT = up(x, xs);
    const t1 = poisonedTensor(ctx, xs, 'f16');
    const t2 = poisonedTensor(ctx, ys, 'f16');
    const t3 = poisonedTensor(ctx, ys, 'f16');
    const tSkip = poisonedTensor(ctx, ys, 'f16');
    const out = poisonedTensor(ctx, ys, 'f16');
    const calls = [
      p1.call, p2.call, ps.call,
      ...(await groupNorm(ctx, { x: xT, out: t1, weight: up(g1, [Cin]), bias: up(b1, [Cin]), groups, eps, silu: true })),
      await conv2d(ctx, { x: t1, w: p1.dst, bias: up(c1, [Cout]), out: t2, kernel: 3 }),
      ...(await groupNorm(ctx, { x: t2, out: t3, weight: up(g2, [Cout]), bias: up(b2, [Cout]), groups, eps, silu: true })),
      await conv2d(ctx, { x: xT, w: ps.dst, bias: up(cs, [Cout]), out: tSkip, kernel: 1 }),
      await conv2d(ctx, { x: t3, w: p2.dst, bias: up(c2, [Cout]), out, kernel: 3, residual: tSkip }),
    ];
    await runCalls(ctx, calls);
    // Three f16 roundings of intermediates (t1, t2, t3, skip) each contribute ~3e-4 relative.
    expectClose(await readTensor(ctx, out), ref, { relL2: 4e-3 }, `resnet block chain (seed ${seed})`);
  });
});
