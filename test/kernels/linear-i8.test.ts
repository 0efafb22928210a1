// W8A8 linears (issue 13's optional INT8 path): the per-row int8 quantizer against a float64 reference of its
// formula, and the int8 GEMM (portable dot4I8Packed kernel everywhere; the 16x16x32 i8 tensor-core kernel where
// the adapter has it, and emulated on any adapter with MATMUL_EMULATE=1) against float64 references: exactly the
// documented arithmetic on the quantized operands (tight), and the unquantized f64 product (the quantization
// error, loose). Odd shapes, every epilogue step, NaN-poisoned outputs, and shape errors.
import { describe, expect, it } from 'vitest';
import { type DType, type TensorView, allocTensor, runCalls } from '../../src/gpu/kernel.js';
import { int8MatmulUnavailable } from '../../src/gpu/variants.js';
import { emulateSubgroupMatrixI8 } from '../../src/kernels-wgsl/matmul-emulate.js';
import { linearI8Calls, type GemmI8Tuning, type SgTiling } from '../../src/kernels-wgsl/matmul.js';
import { int8RowWords, quantizeRowsI8 } from '../../src/kernels-wgsl/quantize-i8.js';
import { expectClose, freshSeed, poisonedTensor, randn, readTensor, rng, testContext, uploadTensor } from '../helpers/gpu.js';

const ctx = await testContext();
const SEED = freshSeed();
const noTc = int8MatmulUnavailable(ctx.caps);
if (noTc) console.log(`[linear-i8.test] int8 tensor-core tests skipped: ${noTc}; they run on the GPU machine.`);
const EMULATE = process.env.MATMUL_EMULATE === '1';

/** float64 reference of the quantizer: scale = amax/127, q = round-half-even(x * 127/amax) clamped to +-127. */
function quantRef(x: Float64Array, R: number, K: number): { q: Int8Array; scale: Float64Array } {
  const q = new Int8Array(R * K);
  const scale = new Float64Array(R);
  for (let r = 0; r < R; r++) {
    let amax = 0;
    for (let k = 0; k < K; k++) amax = Math.max(amax, Math.abs(x[r * K + k]));
    scale[r] = amax / 127;
    const inv = amax === 0 ? 0 : 127 / amax;
    for (let k = 0; k < K; k++) {
      const v = x[r * K + k] * inv;
      const f = Math.floor(v);
      const d = v - f;
      const rounded = d > 0.5 || (d === 0.5 && f % 2 !== 0) ? f + 1 : f;
      q[r * K + k] = Math.max(-127, Math.min(127, rounded));
    }
  }
  return { q, scale };
}

/**
 * The GPU's codes against the float64 formula. The GPU multiplies by 127/amax computed in f32 (WGSL division: 2.5
 * ulp), so a value within that of a rounding tie (x * 127/amax = k + 0.5, frequent with f16 inputs, whose ratios
 * are often exact) may land one code away; every other code must match exactly.
 */
function expectCodes(qHost: Int8Array, x: Float64Array, R: number, K: number, ref: { q: Int8Array; scale: Float64Array }): void {
  for (let r = 0; r < R; r++) {
    for (let k = 0; k < K; k++) {
      const i = r * K + k;
      if (qHost[i] === ref.q[i]) continue;
      const v = ref.scale[r] === 0 ? 0 : x[i] / ref.scale[r];
      const nearTie = Math.abs(Math.abs(v - Math.trunc(v)) - 0.5) < 1e-4;
      expect(nearTie && Math.abs(qHost[i] - ref.q[i]) === 1, `row ${r} column ${k}: code ${qHost[i]}, float64 formula ${ref.q[i]} (x * 127/amax = ${v})`).toBe(true);
    }
  }
}

/** Unpacks [R, words] u32 into int8 [R, K] (drops the padding), checking the padding is zero. */
function unpack(raw: Uint32Array, R: number, K: number): Int8Array {
  const W = int8RowWords(K);
  const out = new Int8Array(R * K);
  for (let r = 0; r < R; r++) {
    for (let k = 0; k < W * 4; k++) {
      const v = ((raw[r * W + (k >> 2)] >>> ((k & 3) * 8)) << 24) >> 24;
      if (k < K) out[r * K + k] = v;
      else if (v !== 0) throw new Error(`row ${r}: padding byte ${k} is ${v}, not 0`);
    }
  }
  return out;
}

async function readU32(t: TensorView): Promise<Uint32Array> {
  const n = t.shape.reduce((a, b) => a * b, 1);
  return new Uint32Array(await ctx.readback(t.buffer, n * 4, t.offset));
}

async function quantize(x: Float64Array, R: number, K: number, dtype: DType) {
  const xv = uploadTensor(ctx, x, [R, K], dtype);
  const q = allocTensor(ctx, [R, int8RowWords(K)], 'u32');
  ctx.fill(q.buffer, 0xdeadbeef);
  const scale = poisonedTensor(ctx, [R], 'f32');
  await runCalls(ctx, [await quantizeRowsI8(ctx, { x: xv, q, scale })]);
  return { q, scale, qHost: unpack(await readU32(q), R, K), sHost: await readTensor(ctx, scale) };
}

describe(`quantizeRowsI8 (seed ${SEED})`, () => {
  for (const [R, K, dtype] of [[5, 64, 'f16'], [3, 37, 'f16'], [7, 3072, 'f16'], [2, 100, 'f32'], [1, 1, 'f32']] as const) {
    it(`[${R}, ${K}] ${dtype}: scales and codes match the float64 formula; padding is zero`, async () => {
      const rand = rng(SEED + R * 7 + K);
      const x = randn(rand, R * K, 2, dtype);
      if (R > 2) for (let k = 0; k < K; k++) x[K + k] = 0; // row 1: all zeros -> scale 0, codes 0
      const { qHost, sHost } = await quantize(x, R, K, dtype);
      const ref = quantRef(x, R, K);
      for (let r = 0; r < R; r++) expect(Math.abs(sHost[r] - ref.scale[r])).toBeLessThanOrEqual(1e-6 * ref.scale[r]);
      expectCodes(qHost, x, R, K, ref);
    });
  }
  // Column parts (FLUX's linear2 input [attention | MLP hidden], quantized without writing the concatenation): the
  // same formula over the concatenated row. Odd part widths (multiples of 4), a zero row and rows whose maximum
  // lies in either part.
  for (const [R, K1, K2, dtype] of [[6, 12, 52, 'f16'], [3, 3072, 1028, 'f16'], [4, 8, 20, 'f32']] as const) {
    it(`column parts [${R}, ${K1}] | [${R}, ${K2}] ${dtype}: the formula over the concatenated rows`, async () => {
      const rand = rng(SEED + R * 11 + K1 + K2);
      const K = K1 + K2;
      const x = randn(rand, R * K, 2, dtype);
      for (let k = 0; k < K; k++) x[K + k] = 0; // row 1: zeros
      x[2 * K + 1] = 40; // row 2: the maximum in the first part
      if (R > 3) x[3 * K + K1 + 3] = -40; // row 3: in the second part
      const left = new Float64Array(R * K1), right = new Float64Array(R * K2);
      for (let r = 0; r < R; r++) {
        left.set(x.subarray(r * K, r * K + K1), r * K1);
        right.set(x.subarray(r * K + K1, (r + 1) * K), r * K2);
      }
      const q = allocTensor(ctx, [R, int8RowWords(K)], 'u32');
      ctx.fill(q.buffer, 0xdeadbeef);
      const scale = poisonedTensor(ctx, [R], 'f32');
      const parts = [uploadTensor(ctx, left, [R, K1], dtype), uploadTensor(ctx, right, [R, K2], dtype)];
      await runCalls(ctx, [await quantizeRowsI8(ctx, { x: parts, q, scale })]);
      const qHost = unpack(await readU32(q), R, K);
      const sHost = await readTensor(ctx, scale);
      const ref = quantRef(x, R, K);
      for (let r = 0; r < R; r++) expect(Math.abs(sHost[r] - ref.scale[r]), `scale of row ${r}`).toBeLessThanOrEqual(1e-6 * ref.scale[r]);
      expectCodes(qHost, x, R, K, ref);
    });
  }
  it('refuses column parts that cannot be read 4 columns at a time, or that disagree in rows', async () => {
    const q = allocTensor(ctx, [2, 8], 'u32');
    const scale = allocTensor(ctx, [2], 'f32');
    const a = uploadTensor(ctx, new Float64Array(2 * 10), [2, 10], 'f16');
    const b = uploadTensor(ctx, new Float64Array(2 * 6), [2, 6], 'f16');
    await expect(quantizeRowsI8(ctx, { x: [a, b], q, scale })).rejects.toThrow(/x\[0\] has 10 columns.*multiple of 4/);
    const c = uploadTensor(ctx, new Float64Array(3 * 8), [3, 8], 'f16');
    const d = uploadTensor(ctx, new Float64Array(2 * 8), [2, 8], 'f16');
    await expect(quantizeRowsI8(ctx, { x: [d, c], q, scale })).rejects.toThrow(/same rows/);
  });
  it('refuses a wrong q shape with the shape it needs', async () => {
    const x = uploadTensor(ctx, new Float64Array(40), [2, 20], 'f16');
    await expect(quantizeRowsI8(ctx, { x, q: allocTensor(ctx, [2, 5], 'u32'), scale: allocTensor(ctx, [2], 'f32') })).rejects.toThrow(/\[2,8\] u32 is required/);
  });
});

const ACT = { none: (y: number) => y, gelu_tanh: (y: number) => 0.5 * y * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (y + 0.044715 * y ** 3))), silu: (y: number) => y / (1 + Math.exp(-y)) };

interface Case {
  M: number; K: number; N: number; outType: 'f16' | 'f32';
  bias?: boolean; act?: keyof typeof ACT; gate?: boolean; residual?: 'separate' | 'inplace';
}

async function runCase(c: Case, tuning?: GemmI8Tuning, path?: 'tiled' | 'subgroup-matrix') {
  const rand = rng(SEED + c.M * 31 + c.N * 7 + c.K);
  const { M, K, N } = c;
  const x = randn(rand, M * K, 1, 'f16');
  const w = randn(rand, N * K, 1 / Math.sqrt(K), 'f16');
  const xq = await quantize(x, M, K, 'f16');
  const wq = await quantize(w, N, K, 'f16');
  const bias = c.bias ? randn(rand, N, 0.5, 'f16') : undefined;
  const G = 3;
  const gate = c.gate ? randn(rand, 1 * G * N, 1, 'f16') : undefined;
  const residual = c.residual ? randn(rand, M * N, 1, c.outType) : undefined;
  const out = c.residual === 'inplace' ? uploadTensor(ctx, residual!, [M, N], c.outType) : poisonedTensor(ctx, [M, N], c.outType);
  const calls = await linearI8Calls(ctx, {
    xq: xq.q, xScale: xq.scale, wq: wq.q, wScale: wq.scale, out, path,
    bias: bias && uploadTensor(ctx, bias, [N], 'f16'), activation: c.act,
    gate: gate && uploadTensor(ctx, gate, [1, G * N], 'f16'), gateChunk: gate ? 1 : undefined, rowsPerBatch: gate ? M : undefined,
    residual: c.residual === 'inplace' ? out : residual && uploadTensor(ctx, residual, [M, N], c.outType),
  }, tuning);
  await runCalls(ctx, calls);
  const got = await readTensor(ctx, out);
  // Reference 1: the documented arithmetic on the quantized operands (int sums exact); reference 2: unquantized.
  const ref = (quantized: boolean) => {
    const o = new Float64Array(M * N);
    for (let m = 0; m < M; m++) {
      for (let n = 0; n < N; n++) {
        let s = 0;
        if (quantized) {
          for (let k = 0; k < K; k++) s += xq.qHost[m * K + k] * wq.qHost[n * K + k];
          s *= xq.sHost[m] * wq.sHost[n];
        } else for (let k = 0; k < K; k++) s += x[m * K + k] * w[n * K + k];
        let y = s + (bias ? bias[n] : 0);
        y = ACT[c.act ?? 'none'](y);
        if (gate) y *= gate[1 * N + n];
        if (residual) y += residual[m * N + n];
        o[m * N + n] = y;
      }
    }
    return o;
  };
  expectClose(got, ref(true), { relL2: c.outType === 'f16' ? 3e-3 : 2e-5 }, `int8 linear ${JSON.stringify(c)} vs its own arithmetic`);
  // Per-row int8 of N(0,1) data: ~1% relative error of the product.
  expectClose(got, ref(false), { relL2: 3e-2 }, `int8 linear ${JSON.stringify(c)} vs the unquantized product`);
}

const CASES: Case[] = [
  { M: 64, K: 64, N: 64, outType: 'f32' },
  { M: 37, K: 100, N: 29, outType: 'f16', bias: true, act: 'gelu_tanh' },
  { M: 130, K: 272, N: 70, outType: 'f32', gate: true, residual: 'inplace' },
  { M: 5, K: 48, N: 131, outType: 'f16', bias: true, act: 'silu', residual: 'separate' },
  // N % 8 == 0: the tensor-core kernel's 16-byte output stores (store_out8), every epilogue step.
  { M: 37, K: 80, N: 72, outType: 'f32', bias: true, act: 'gelu_tanh', gate: true, residual: 'separate' },
  { M: 66, K: 96, N: 136, outType: 'f16', bias: true, act: 'silu', gate: true, residual: 'inplace' },
];

describe(`linearI8Calls, portable dot4I8Packed kernel (seed ${SEED})`, () => {
  for (const c of CASES) it(`${JSON.stringify(c)}`, async () => runCase(c, undefined, 'tiled'));
  it('refuses operands quantized from different K', async () => {
    const a = allocTensor(ctx, [4, 8], 'u32');
    const b = allocTensor(ctx, [4, 12], 'u32');
    const s = allocTensor(ctx, [4], 'f32');
    await expect(linearI8Calls(ctx, { xq: a, xScale: s, wq: b, wScale: s, out: allocTensor(ctx, [4, 4], 'f32') })).rejects.toThrow(/same K/);
  });
});

// Small tilings for the emulation (lavapipe) and the real kernel; on the GPU also the default tiling.
const SMALL: SgTiling = { sgM: 2, sgN: 2, fragM: 1, fragN: 1, bk: 32, staging: 'staged', stages: 1, groupM: 4, subgroupSize: ctx.caps.subgroupMaxSize || 32, vecSmem: true, pad: 16 };

// The emulated shader is for adapters without the real builtins (NVIDIA's driver refuses it, see matmul.test.ts).
describe.skipIf(!EMULATE || !noTc)(`int8 tensor-core kernel, emulated (MATMUL_EMULATE=1, seed ${SEED})`, () => {
  const tuning = (t: SgTiling): GemmI8Tuning => ({ tiling: { ...t, subgroupSize: 8 }, transform: { name: 'emulate-i8', fn: emulateSubgroupMatrixI8 } });
  it('two K steps, ragged M/N/K, bias + GELU, f16 out', async () => runCase({ M: 37, K: 80, N: 29, outType: 'f16', bias: true, act: 'gelu_tanh' }, tuning({ ...SMALL })), 600_000);
  it('2x2 fragments per subgroup, gate + in-place residual', async () => runCase({ M: 70, K: 96, N: 66, outType: 'f32', gate: true, residual: 'inplace' }, tuning({ ...SMALL, fragM: 2, fragN: 2, bk: 64 })), 600_000);
  it('16-byte output stores (N % 8 == 0), bias + GELU + gate + in-place residual, f16 out', async () => runCase({ M: 37, K: 64, N: 72, outType: 'f16', bias: true, act: 'gelu_tanh', gate: true, residual: 'inplace' }, tuning({ ...SMALL })), 600_000);
  it('split-K in 2 (scaled partials, then the reduce applies bias + SiLU + residual)', async () => runCase({ M: 37, K: 96, N: 29, outType: 'f16', bias: true, act: 'silu', residual: 'separate' }, tuning({ ...SMALL, splitK: 2 })), 600_000);
  it('straight-line K loop (branchFree), 3 K steps', async () => {
    await runCase({ M: 37, K: 80, N: 32, outType: 'f16', bias: true, residual: 'inplace' }, tuning({ ...SMALL, branchFree: true }));
  }, 900_000);
  it('register prefetch two K steps ahead, 3 K steps', async () => {
    await runCase({ M: 37, K: 80, N: 32, outType: 'f16', bias: true, residual: 'inplace' }, tuning({ ...SMALL, prefetchDepth: 2 }));
  }, 900_000);
  it('rolled K sub-steps without register prefetch, ragged, K shorter than a sub-step', async () => {
    await runCase({ M: 37, K: 80, N: 32, outType: 'f16', bias: true, act: 'gelu_tanh', residual: 'inplace' }, tuning({ ...SMALL, bk: 64, rollK: true, prefetch: false }));
    await runCase({ M: 20, K: 12, N: 29, outType: 'f32' }, tuning({ ...SMALL, bk: 64, rollK: true, prefetch: false }));
  }, 900_000);
});

describe.skipIf(!!noTc)(`int8 tensor-core kernel on this GPU (seed ${SEED})`, () => {
  for (const c of CASES) it(`default tiling ${JSON.stringify(c)}`, async () => runCase(c));
  it('FLUX-like shape 300x3072x512, default tiling', async () => runCase({ M: 300, K: 3072, N: 512, outType: 'f16', bias: true }));
  it('small tiling, ragged', async () => runCase({ M: 37, K: 80, N: 29, outType: 'f16', bias: true, act: 'gelu_tanh' }, { tiling: SMALL }));
  it('split-K in 3, ragged last slice, gate + in-place residual', async () => runCase({ M: 37, K: 400, N: 29, outType: 'f32', gate: true, residual: 'inplace' }, { tiling: { ...SMALL, splitK: 3 } }));
  it('straight-line K loop (branchFree), ragged, wide 16-subgroup tile', async () => {
    const t: SgTiling = { ...SMALL, sgM: 2, sgN: 4, fragM: 4, fragN: 2, bk: 128, groupM: 8, branchFree: true };
    for (const tiling of [t, { ...t, sgM: 4, sgN: 4, bk: 96 }]) {
      await runCase({ M: 300, K: 300, N: 264, outType: 'f16', bias: true, act: 'gelu_tanh', gate: true, residual: 'inplace' }, { tiling });
      await runCase({ M: 37, K: 20, N: 29, outType: 'f32', bias: true }, { tiling });
    }
  });
  it('register prefetch two K steps ahead (prefetchDepth 2): 3, 4 and 1 K steps', async () => {
    const t: SgTiling = { ...SMALL, sgM: 2, sgN: 4, fragM: 4, fragN: 2, bk: 128, groupM: 8, prefetchDepth: 2 };
    for (const tiling of [t, { ...t, sgM: 4, sgN: 4, bk: 96 }]) {
      await runCase({ M: 300, K: 300, N: 264, outType: 'f16', bias: true, act: 'gelu_tanh', gate: true, residual: 'inplace' }, { tiling });
      await runCase({ M: 130, K: 512, N: 72, outType: 'f32' }, { tiling });
      await runCase({ M: 37, K: 20, N: 29, outType: 'f32', bias: true }, { tiling });
    }
  });
  it('register-lean main loops (rolled K sub-steps, no register prefetch), ragged, a K shorter than one sub-step', async () => {
    const t: SgTiling = { ...SMALL, sgM: 2, sgN: 4, fragM: 4, fragN: 2, bk: 128, groupM: 8 };
    for (const tiling of [{ ...t, rollK: true, prefetch: false }, { ...t, rollK: true }, { ...t, sgM: 4, sgN: 4, bk: 96, rollK: true, prefetch: false }, { ...t, rollK: true, rollKStep: 2 as const, branchFree: true }]) {
      await runCase({ M: 300, K: 400, N: 264, outType: 'f16', bias: true, act: 'gelu_tanh', gate: true, residual: 'inplace' }, { tiling });
      await runCase({ M: 37, K: 20, N: 29, outType: 'f32', bias: true }, { tiling });
    }
  });
  it('the shape-chosen tilings: 256x128 at a wide N; a long K', async () => {
    await runCase({ M: 4100, K: 32, N: 9216, outType: 'f16', bias: true });
    await runCase({ M: 300, K: 12288, N: 64, outType: 'f16', bias: true, act: 'gelu_tanh' });
  });
});
