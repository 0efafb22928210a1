import { describe, expect, it } from 'vitest';
import { addScaled, binary, unary, type UnaryOp } from '../../src/kernels-wgsl/elementwise.js';
import { type DType, numel, runCalls } from '../../src/gpu/kernel.js';
import { expectClose, freshSeed, poisonedTensor, randn, readTensor, rng, storageBound, testContext, uploadTensor } from '../helpers/gpu.js';

// float64 references. erf via a high-precision series/continued fraction is overkill: use the identity with
// Math functions (Abramowitz-Stegun would be circular), so compute erf by numerical integration-free series.
function erf(x: number): number {
  // Taylor series converges fast for |x| < 3; beyond, erf is 1 to double precision's needs here (f16/f32 outputs).
  if (Math.abs(x) > 5) return Math.sign(x);
  let sum = 0;
  let term = x;
  for (let n = 0; n < 200; n++) {
    sum += term / (2 * n + 1);
    term *= (-x * x) / (n + 1);
    if (Math.abs(term) < 1e-17) break;
  }
  return (2 / Math.sqrt(Math.PI)) * sum;
}

const REF: Record<UnaryOp, (x: number, alpha: number) => number> = {
  silu: (x) => x / (1 + Math.exp(-x)),
  gelu_tanh: (x) => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3))),
  gelu_erf: (x) => 0.5 * x * (1 + erf(x / Math.SQRT2)),
  quick_gelu: (x) => x / (1 + Math.exp(-1.702 * x)),
  scale: (x, a) => a * x,
};

// f32 evaluation of exp/tanh/erf-based activations: WGSL allows a few ulps each; 1e-5 relative covers them.
const COMPUTE_REL = 1e-5;

describe('unary', () => {
  const cases: { shape: number[]; x: DType; out: DType; op: UnaryOp; inPlace?: boolean }[] = [
    { shape: [3, 7], x: 'f16', out: 'f16', op: 'silu' },
    { shape: [5, 3077], x: 'f16', out: 'f32', op: 'gelu_tanh' },
    { shape: [2, 11], x: 'f32', out: 'f16', op: 'gelu_tanh' },
    { shape: [2, 66], x: 'f32', out: 'f32', op: 'gelu_erf' },
    { shape: [1], x: 'f32', out: 'f16', op: 'quick_gelu' },
    { shape: [4, 9], x: 'f32', out: 'f32', op: 'scale', inPlace: true },
    { shape: [1000], x: 'f16', out: 'f32', op: 'gelu_erf', inPlace: false },
    { shape: [3, 5], x: 'f16', out: 'f16', op: 'silu', inPlace: true },
  ];
  for (const k of cases) {
    it(`${k.op} [${k.shape}] ${k.x}->${k.out}${k.inPlace ? ' in-place' : ''}`, async () => {
      const ctx = await testContext();
      const seed = freshSeed();
      const n = numel(k.shape);
      const x = randn(rng(seed), n, 3, k.x);
      if (n > 4) { x[0] = 12; x[1] = -12; x[2] = 0; } // saturated tails of tanh/sigmoid, and zero
      const xt = uploadTensor(ctx, x, k.shape, k.x);
      const out = k.inPlace ? xt : poisonedTensor(ctx, k.shape, k.out);
      const alpha = -0.37;
      await runCalls(ctx, [await unary(ctx, { x: xt, out, op: k.op, alpha })]);
      const want = Array.from(x, (v) => REF[k.op](v, alpha));
      expectClose(await readTensor(ctx, out), want, storageBound(want, k.out, COMPUTE_REL), `unary ${k.op} seed=${seed}`);
    });
  }
  it('rejects unknown ops and a missing alpha', async () => {
    const ctx = await testContext();
    const x = uploadTensor(ctx, [1, 2], [2], 'f16');
    await expect(unary(ctx, { x, out: x, op: 'relu' as UnaryOp })).rejects.toThrow(/unknown op 'relu'/);
    await expect(unary(ctx, { x, out: x, op: 'scale' })).rejects.toThrow(/alpha/);
  });
});

describe('binary / addScaled', () => {
  const cases: { a: number[]; b: number[]; dt: [DType, DType, DType]; op: 'add' | 'mul' | 'sub' | 'axpby'; inPlace?: 'a' | 'b' }[] = [
    { a: [3, 7], b: [3, 7], dt: ['f16', 'f16', 'f16'], op: 'add' },
    { a: [4, 5, 3077], b: [3077], dt: ['f32', 'f16', 'f32'], op: 'add', inPlace: 'a' }, // bias add into the f32 stream
    { a: [2, 6, 8], b: [1, 6, 8], dt: ['f16', 'f32', 'f16'], op: 'mul' }, // positional-embedding-like broadcast
    { a: [9], b: [9], dt: ['f32', 'f32', 'f16'], op: 'sub', inPlace: undefined },
    { a: [5, 3], b: [5, 3], dt: ['f16', 'f16', 'f16'], op: 'sub', inPlace: 'b' },
    { a: [1], b: [1], dt: ['f32', 'f32', 'f32'], op: 'axpby' },
    { a: [7, 13], b: [7, 13], dt: ['f32', 'f16', 'f32'], op: 'axpby', inPlace: 'a' }, // Euler step x += dt * v
    { a: [2, 3, 64], b: [3, 64], dt: ['f16', 'f16', 'f16'], op: 'axpby' },
  ];
  for (const k of cases) {
    it(`${k.op} [${k.a}] (op) [${k.b}] ${k.dt.join(',')}${k.inPlace ? ` in-place on ${k.inPlace}` : ''}`, async () => {
      const ctx = await testContext();
      const seed = freshSeed();
      const rand = rng(seed);
      const na = numel(k.a);
      const nb = numel(k.b);
      const a = randn(rand, na, 2, k.dt[0]);
      const b = randn(rand, nb, 2, k.dt[1]);
      const at = uploadTensor(ctx, a, k.a, k.dt[0]);
      const bt = uploadTensor(ctx, b, k.b, k.dt[1]);
      const out = k.inPlace === 'a' ? at : k.inPlace === 'b' ? bt : poisonedTensor(ctx, k.a, k.dt[2]);
      const alpha = 0.75;
      const beta = -1.3;
      const call = k.op === 'axpby' ? await addScaled(ctx, { a: at, b: bt, out, alpha, beta }) : await binary(ctx, { a: at, b: bt, out, op: k.op });
      await runCalls(ctx, [call]);
      const f = { add: (x: number, y: number) => x + y, mul: (x: number, y: number) => x * y, sub: (x: number, y: number) => x - y, axpby: (x: number, y: number) => alpha * x + beta * y }[k.op];
      const want = Array.from(a, (x, i) => f(x, b[i % nb]));
      expectClose(await readTensor(ctx, out), want, storageBound(want, out.dtype, COMPUTE_REL), `${k.op} seed=${seed}`);
    });
  }
  it('rejects shapes that do not broadcast and partial overlaps', async () => {
    const ctx = await testContext();
    const a = uploadTensor(ctx, new Float64Array(12), [3, 4], 'f16');
    await expect(binary(ctx, { a, b: uploadTensor(ctx, [1, 2, 3], [3], 'f16'), out: poisonedTensor(ctx, [3, 4], 'f16'), op: 'add' })).rejects.toThrow(/trailing dimensions/);
    await expect(binary(ctx, { a, b: uploadTensor(ctx, new Float64Array(5), [5], 'f16'), out: poisonedTensor(ctx, [3, 4], 'f16'), op: 'add' })).rejects.toThrow(/does not broadcast/);
    await expect(binary(ctx, { a, b: a, out: poisonedTensor(ctx, [4, 3], 'f16'), op: 'add' })).rejects.toThrow(/'out' has shape/);
    await expect(addScaled(ctx, { a, b: a, out: { ...a, dtype: 'f32', shape: [3, 4] }, alpha: 1, beta: 1 })).rejects.toThrow(/overlaps/);
    await expect(addScaled(ctx, { a, b: a, out: poisonedTensor(ctx, [3, 4], 'f16'), alpha: NaN, beta: 1 })).rejects.toThrow(/finite/);
  });
});
