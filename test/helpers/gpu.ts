// Shared test plumbing for GPU kernels: one real Dawn device per test process (lavapipe in CI), seeded fresh
// random inputs (the seed is printed on failure so a failing case can be replayed), poisoned outputs, and
// error metrics against float64 CPU references.
import { randomInt } from 'node:crypto';
import { GpuContext } from '../../src/gpu/context.js';
import { allocTensor, type DType, type TensorView, numel } from '../../src/gpu/kernel.js';
import { fromF16Array, roundF16, toF16Array } from '../../src/util/f16.js';
import { mulberry32 } from '../../src/util/random.js';

let shared: Promise<GpuContext> | null = null;

/** The process-wide test device. Robustness stays on in tests (kernels must be correct with it too). */
export function testContext(): Promise<GpuContext> {
  shared ??= GpuContext.open({ robustness: true });
  return shared;
}

/** Seed for this run: TEST_SEED replays a failure, otherwise fresh each run. */
export function freshSeed(): number {
  return process.env.TEST_SEED ? Number(process.env.TEST_SEED) : randomInt(1, 2 ** 31);
}

export const rng = mulberry32;

/** Normal(0, std) samples, already rounded to the storage dtype so the reference sees the GPU's exact inputs. */
export function randn(rand: () => number, n: number, std = 1, dtype: DType = 'f16'): Float64Array {
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const u = Math.max(rand(), 1e-12);
    const v = rand();
    const x = std * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
    out[i] = dtype === 'f16' ? roundF16(x) : Math.fround(x);
  }
  return out;
}

export function uniform(rand: () => number, n: number, lo: number, hi: number, dtype: DType = 'f16'): Float64Array {
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const x = lo + (hi - lo) * rand();
    out[i] = dtype === 'f16' ? roundF16(x) : Math.fround(x);
  }
  return out;
}

export function encode(data: ArrayLike<number>, dtype: DType): Uint16Array | Float32Array {
  return dtype === 'f16' ? toF16Array(data) : Float32Array.from(data);
}

/** Uploads host numbers as a tensor of the given dtype. */
export function uploadTensor(ctx: GpuContext, data: ArrayLike<number>, shape: readonly number[], dtype: DType): TensorView {
  if (data.length !== numel(shape)) throw new Error(`uploadTensor: ${data.length} values for shape [${shape}]`);
  const t = allocTensor(ctx, shape, dtype);
  ctx.write(t.buffer, encode(data, dtype));
  return t;
}

export const POISON_F16 = 0x7e007e00; // two f16 NaNs
export const POISON_F32 = 0x7fc00000; // f32 NaN

/** An output tensor pre-filled with NaN, so any element the kernel fails to write is caught. */
export function poisonedTensor(ctx: GpuContext, shape: readonly number[], dtype: DType): TensorView {
  const t = allocTensor(ctx, shape, dtype);
  ctx.fill(t.buffer, dtype === 'f16' ? POISON_F16 : POISON_F32);
  return t;
}

export async function readTensor(ctx: GpuContext, t: TensorView): Promise<Float32Array> {
  const n = numel(t.shape);
  const bytes = n * (t.dtype === 'f16' ? 2 : 4);
  const raw = await ctx.readback(t.buffer, bytes, t.offset);
  return t.dtype === 'f16' ? fromF16Array(new Uint16Array(raw, 0, n)) : new Float32Array(raw, 0, n);
}

export interface ErrorStats {
  relL2: number;
  maxAbs: number;
  nonFinite: number;
  worstIndex: number;
}

export function errorStats(actual: ArrayLike<number>, expected: ArrayLike<number>): ErrorStats {
  if (actual.length !== expected.length) throw new Error(`length mismatch ${actual.length} vs ${expected.length}`);
  let num = 0;
  let den = 0;
  let maxAbs = 0;
  let worstIndex = -1;
  let nonFinite = 0;
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i];
    const e = expected[i];
    if (!Number.isFinite(a)) {
      nonFinite++;
      if (worstIndex < 0) worstIndex = i;
      continue;
    }
    const d = a - e;
    num += d * d;
    den += e * e;
    if (Math.abs(d) > maxAbs) {
      maxAbs = Math.abs(d);
      if (nonFinite === 0) worstIndex = i;
    }
  }
  return { relL2: Math.sqrt(num / Math.max(den, 1e-30)), maxAbs, nonFinite, worstIndex };
}

/**
 * Asserts the GPU output matches the reference: every element finite (poison overwritten) and the relative L2
 * error under `relL2`. The message carries the seed and the worst element for replay.
 */
export function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, bound: { relL2: number; maxAbs?: number }, what: string): ErrorStats {
  const s = errorStats(actual, expected);
  const where = s.worstIndex >= 0 ? ` worst at [${s.worstIndex}]: got ${actual[s.worstIndex]}, want ${expected[s.worstIndex]}` : '';
  if (s.nonFinite > 0) throw new Error(`${what}: ${s.nonFinite} non-finite outputs (unwritten or overflow);${where}`);
  if (!(s.relL2 <= bound.relL2)) throw new Error(`${what}: relative L2 error ${s.relL2.toExponential(3)} > ${bound.relL2};${where}`);
  if (bound.maxAbs !== undefined && !(s.maxAbs <= bound.maxAbs)) throw new Error(`${what}: max abs error ${s.maxAbs} > ${bound.maxAbs};${where}`);
  return s;
}

/** The spacing of `dtype` values at |v| (one ulp), subnormals included: what storing v can cost at most, twice. */
export function ulpOf(v: number, dtype: DType): number {
  const a = Math.abs(v);
  if (dtype === 'f16') return a < 2 ** -14 ? 2 ** -24 : 2 ** (Math.floor(Math.log2(a)) - 10);
  if (dtype === 'f32') return a < 2 ** -126 ? 2 ** -149 : 2 ** (Math.floor(Math.log2(a)) - 23);
  return 0; // integers are exact
}

/**
 * A relative-L2 bound derived from the output's storage rather than picked by hand: every element may be off by
 * one ulp of its dtype at the exact value (rounding the f32 result, which itself may sit half an ulp off, can
 * cross one rounding boundary), subnormals included, plus the op's own f32 computation error `computeRel`
 * (its conditioning: a few f32 ulps for simple arithmetic, more for transcendental functions and reductions).
 * A fixed bound like 1e-3 for f16 fails whenever the outputs fall in f16's subnormal range, where rounding alone
 * exceeds it (a flaky quick_gelu case hit exactly that).
 */
export function storageBound(expected: ArrayLike<number>, dtype: DType, computeRel: number): { relL2: number } {
  let num = 0;
  let den = 0;
  for (let i = 0; i < expected.length; i++) {
    const u = ulpOf(expected[i], dtype);
    num += u * u;
    den += expected[i] * expected[i];
  }
  return { relL2: Math.sqrt(num / Math.max(den, 1e-300)) + computeRel };
}
