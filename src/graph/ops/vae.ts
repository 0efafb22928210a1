// Graph wrappers for the channels-last VAE ops: conv2d (3x3 / 1x1, optional fused nearest-2x input upsample and
// residual add), GroupNorm(+SiLU), nearest 2x upsample.
import * as cv from '../../kernels-wgsl/conv2d.js';
import { conv2dCalls } from '../../kernels-wgsl/conv2d-gemm.js';
import * as gn from '../../kernels-wgsl/groupnorm.js';
import type { DType } from '../../gpu/kernel.js';
import * as up from '../../kernels-wgsl/upsample.js';
import { expectDtype, expectRank, expectShapeIs, fail, type Graph, type OpOptions, type Tensor } from './common.js';

export interface Conv2dOptions extends OpOptions {
  bias?: Tensor;
  stride?: 1 | 2;
  padding?: cv.Conv2dPadding;
  residual?: Tensor;
  upsampleInput?: boolean;
  dtype?: DType;
  /** w in the GEMM layout [Cout, k*k*Cin], made once at load (conv2dCalls' wGemm): no per-replay re-layout. */
  wGemm?: Tensor;
}

/** x [B, H, W, Cin] f16, packed weight w [k, k, Cin, Cout] f16 -> [B, Ho, Wo, Cout]. */
export function conv2d(g: Graph, x: Tensor, w: Tensor, opts: Conv2dOptions = {}): Tensor {
  const label = g.nextLabel('conv2d', opts.name);
  expectRank(label, 'x', x, 4);
  expectRank(label, 'w (packed [k, k, Cin, Cout])', w, 4);
  expectDtype(label, 'x', x, 'f16');
  const [B, H, W, Cin] = x.shape;
  const [kh, kw, wCin, Cout] = w.shape;
  if (kh !== kw || (kh !== 1 && kh !== 3) || wCin !== Cin) fail(label, `w ${w.describe()} must be packed [k, k, ${Cin}, Cout] with k = 1 or 3`);
  const kernel = kh as 1 | 3;
  const stride = opts.stride ?? 1;
  const s = opts.upsampleInput ? 2 : 1;
  const [Ho, Wo] = cv.conv2dOutputSize(H * s, W * s, kernel, stride, opts.padding);
  const outShape = [B, Ho, Wo, Cout];
  if (opts.bias) expectShapeIs(label, 'bias', opts.bias, [Cout]);
  if (opts.residual) expectShapeIs(label, 'residual', opts.residual, outShape);
  const { bias, residual, wGemm } = opts;
  if (wGemm) expectShapeIs(label, 'wGemm', wGemm, [Cout, kh * kw * Cin]);
  const [out] = g.op({
    kind: 'conv2d',
    name: opts.name ?? 'conv2d',
    inputs: [x, w, bias, residual, wGemm],
    outputs: [{ shape: outShape, dtype: opts.dtype ?? 'f16', name: opts.name }],
    exec: {
      type: 'kernel',
      launch: (ctx, v) =>
        conv2dCalls(ctx, {
          x: v(x), w: v(w), out: v(out), kernel, stride, padding: opts.padding, bias: bias && v(bias),
          residual: residual && v(residual), upsampleInput: opts.upsampleInput, wGemm: wGemm && v(wGemm), label,
        }),
    },
  });
  return out;
}

export function groupNorm(g: Graph, x: Tensor, weight: Tensor, bias: Tensor, opts: OpOptions & { groups?: number; eps?: number; silu?: boolean; dtype?: DType } = {}): Tensor {
  const label = g.nextLabel('group_norm', opts.name);
  const C = x.last;
  const groups = opts.groups ?? 32;
  if (C % groups !== 0) fail(label, `${groups} groups do not divide the ${C} channels of ${x.describe()}`);
  expectShapeIs(label, 'weight', weight, [C]);
  expectShapeIs(label, 'bias', bias, [C]);
  const [out] = g.op({
    kind: 'group_norm',
    name: opts.name ?? 'group_norm',
    inputs: [x, weight, bias],
    outputs: [{ shape: x.shape, dtype: opts.dtype ?? 'f16', name: opts.name }],
    exec: {
      type: 'kernel',
      launch: (ctx, v) => gn.groupNorm(ctx, { x: v(x), out: v(out), weight: v(weight), bias: v(bias), groups, eps: opts.eps ?? 1e-6, silu: opts.silu, label }),
    },
  });
  return out;
}

/** [B, H, W, C] -> [B, 2H, 2W, C] (prefer conv2d's upsampleInput, which never materialises this). */
export function upsampleNearest2x(g: Graph, x: Tensor, opts: OpOptions & { dtype?: DType } = {}): Tensor {
  expectRank(g.nextLabel('upsample2x', opts.name), 'x', x, 4);
  const [B, H, W, C] = x.shape;
  const [out] = g.op({
    kind: 'upsample2x',
    name: opts.name ?? 'upsample2x',
    inputs: [x],
    outputs: [{ shape: [B, 2 * H, 2 * W, C], dtype: opts.dtype ?? x.dtype, name: opts.name }],
    exec: { type: 'kernel', launch: (ctx, v) => up.upsampleNearest2x(ctx, { x: v(x), out: v(out), label: opts.name }) },
  });
  return out;
}
