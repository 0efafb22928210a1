// Graph wrappers for kernels-wgsl/matmul.ts: linear (nn.Linear layout, fused bias/activation/gated residual)
// and batched matmul.
import type { DType } from '../../gpu/kernel.js';
import * as k from '../../kernels-wgsl/matmul.js';
import { int8RowWords, quantizeRowsI8 } from '../../kernels-wgsl/quantize-i8.js';
import { expectRank, expectShapeIs, fail, type Graph, type OpOptions, type Tensor } from './common.js';
import { concatColumns } from './layout.js';
import { add } from './elementwise.js';

/**
 * Whether linear() applies an f32 residual in a separate add instead of the GEMM's epilogue: for every GEMM with
 * more than 8 rows. The GEMM then writes gate * act(x W^T + b) as f32 (the value the fused epilogue would add, so
 * the sum is the same to the bit) and an elementwise add, in place over the residual, adds it. Measured in the
 * FLUX.1-dev step on the H200 (2026-12-01, docs/matmul.md): the fused in-place f32 residual held img_proj at 177
 * TFLOP/s (W8A8, 1024²) against 277 unfused, linear2 at 367 against 433, and the step went from 274.9 to 263.5 ms
 * GPU time with the adds (3.9 ms) included; reading the residual from its own read-only binding instead of in place
 * changed nothing. The skinny (GEMV) linears keep the fused form: their epilogue is a few thousand elements.
 */
function separateResidual(rows: number, residual: Tensor | undefined): boolean {
  return residual !== undefined && residual.dtype === 'f32' && rows > 8;
}

export interface LinearOptions extends OpOptions {
  bias?: Tensor;
  activation?: k.Activation;
  /**
   * out = residual + gate * act(x W^T + b). The output takes the residual's dtype (the f32 residual stream) and
   * is written over the residual's storage when nothing reads the residual afterwards.
   */
  residual?: Tensor;
  /** Per-batch gate: chunk `chunk` of `mod` [B, G*N] (the adaLN linear's output). */
  gate?: { mod: Tensor; chunk: number };
  /** Output dtype when there is no residual (default f16: it feeds another matmul or attention). */
  dtype?: DType;
  path?: k.MatmulPathChoice;
}

/**
 * The checks linear() makes of w, bias, residual and gate against an x of shape [...lead, K] (described by
 * `xDesc`); returns the output shape and dtype and the gate's rows per batch element.
 */
function linearOperands(label: string, lead: number[], K: number, xDesc: string, w: Tensor, opts: LinearOptions): { outShape: number[]; dtype: DType; rowsPerBatch?: number } {
  expectRank(label, 'w', w, 2);
  const [N, wK] = w.shape;
  if (K !== wK) fail(label, `x ${xDesc} has K=${K} but w ${w.describe()} needs K=${wK} (w is [out_features, in_features])`);
  const outShape = [...lead, N];
  if (opts.bias) expectShapeIs(label, 'bias', opts.bias, [N]);
  const dtype = opts.residual?.dtype ?? opts.dtype ?? 'f16';
  if (opts.residual) {
    expectShapeIs(label, 'residual', opts.residual, outShape);
    if (opts.dtype && opts.dtype !== opts.residual.dtype) fail(label, `dtype ${opts.dtype} differs from residual ${opts.residual.describe()}`);
  }
  let rowsPerBatch: number | undefined;
  if (opts.gate) {
    const m = opts.gate.mod;
    expectRank(label, 'gate', m, 2);
    if (m.shape[1] % N !== 0) fail(label, `gate ${m.describe()} must be [B, G*${N}]`);
    const G = m.shape[1] / N;
    if (!Number.isInteger(opts.gate.chunk) || opts.gate.chunk < 0 || opts.gate.chunk >= G) fail(label, `gate chunk ${opts.gate.chunk} out of range 0..${G - 1} for ${m.describe()}`);
    const M = lead.reduce((a, b) => a * b, 1);
    if (M % m.shape[0] !== 0) fail(label, `x ${xDesc} has ${M} rows, not a multiple of the gate's batch ${m.shape[0]}`);
    rowsPerBatch = M / m.shape[0];
  }
  return { outShape, dtype, rowsPerBatch };
}

/** x [..., K] @ w[N, K]^T -> [..., N]. */
export function linear(g: Graph, x: Tensor, w: Tensor, opts: LinearOptions = {}): Tensor {
  const label = g.nextLabel('linear', opts.name);
  const { outShape, dtype, rowsPerBatch } = linearOperands(label, x.shape.slice(0, -1), x.last, x.describe(), w, opts);
  if (separateResidual(x.numel / x.last, opts.residual)) {
    const branch = linear(g, x, w, { ...opts, residual: undefined, dtype: 'f32' }); // [..., N] f32
    return add(g, opts.residual!, branch, { name: `${opts.name ?? 'linear'}.residual` });
  }
  const { bias, residual, gate, activation, path } = opts;
  const src = g.options.int8Weights ? g.weightRows(w) : null;
  if (src && g.options.int8Weights!(src.weight.name)) {
    return linearInt8(g, quantizedActivation(g, x, [x], src.weight.shape[1], opts.name, label), src, { ...opts, dtype }, label, outShape, rowsPerBatch);
  }
  const [out] = g.op({
    kind: 'linear',
    name: opts.name ?? 'linear',
    inputs: [x, w, bias, residual, gate?.mod],
    outputs: [{ shape: outShape, dtype, name: opts.name }],
    inPlace: residual ? [{ output: 0, input: residual, required: false }] : [],
    sharedBufferOk: true, // matmul binds inputs sharing out's buffer read_write
    exec: {
      type: 'kernel',
      // linearCalls: where the device's tile table has a split-K winner for this shape (the H200's two K >= 12288
      // linears at 512², +10-13% in the sweep), the GEMM into an f32 workspace and a reduce applying the epilogue.
      launch: (ctx, v) =>
        k.linearCalls(ctx, {
          x: v(x), w: v(w), out: v(out), bias: bias && v(bias), activation, residual: residual && v(residual),
          gate: gate && v(gate.mod), gateChunk: gate?.chunk, rowsPerBatch, path, label,
        }),
    },
  });
  return out;
}

/**
 * linear() of the column concatenation of parts [R, K_i] (same rows and dtype) with w [N, sum K_i]. The f16 path
 * concatenates and runs linear(); the W8A8 path quantizes straight from the parts, so the concatenated copy is
 * never written (FLUX's single blocks: [attention output | MLP hidden] -> linear2).
 */
export function linearOfColumns(g: Graph, parts: Tensor[], w: Tensor, opts: LinearOptions & { concatName?: string } = {}): Tensor {
  if (separateResidual(parts[0].numel / parts[0].last, opts.residual)) {
    const branch = linearOfColumns(g, parts, w, { ...opts, residual: undefined, dtype: 'f32' }); // [R, N] f32
    return add(g, opts.residual!, branch, { name: `${opts.name ?? 'linear'}.residual` });
  }
  const src = g.options.int8Weights ? g.weightRows(w) : null;
  const quantizable = parts.length > 1 && parts.every((p) => p.rank === 2 && p.rows === parts[0].rows && p.dtype === parts[0].dtype && p.last % 4 === 0);
  if (!src || !g.options.int8Weights!(src.weight.name) || !quantizable) {
    return linear(g, parts.length === 1 ? parts[0] : concatColumns(g, parts, opts.concatName), w, opts);
  }
  const label = g.nextLabel('linear', opts.name);
  const K = parts.reduce((a, p) => a + p.last, 0);
  const { outShape, dtype, rowsPerBatch } = linearOperands(label, [parts[0].rows], K, parts.map((p) => p.describe()).join(' | '), w, opts);
  return linearInt8(g, quantizedActivation(g, parts[0], parts, K, opts.name, label), src, { ...opts, dtype }, label, outShape, rowsPerBatch);
}

/** x -> its int8 form, per graph tensor (a tensor belongs to one graph); keyed by the first part. */
const quantizedActivations = new WeakMap<Tensor, { parts: Tensor[]; pair: Tensor[] }>();

/**
 * The int8 form of an activation (x itself, or the column concatenation of parts): [R, words] u32 (4 int8 each)
 * + [R] f32 row scales, made once per activation (FLUX's single blocks run two linears, qkv and mlp_in, on the
 * same x).
 */
function quantizedActivation(g: Graph, key: Tensor, parts: Tensor[], K: number, name: string | undefined, label: string): { xq: Tensor; xs: Tensor } {
  const words = int8RowWords(K);
  const lead = parts.length === 1 ? key.shape.slice(0, -1) : [key.rows];
  const M = lead.reduce((a, b) => a * b, 1);
  const known = quantizedActivations.get(key);
  if (known && known.parts.length === parts.length && known.parts.every((p, i) => p === parts[i])) return { xq: known.pair[0], xs: known.pair[1] };
  const outs: Tensor[] = [];
  outs.push(...g.op({
    kind: 'quantize_i8',
    name: `${name ?? 'linear'}.quantize`,
    inputs: parts,
    outputs: [{ shape: [...lead, words], dtype: 'u32' }, { shape: [M], dtype: 'f32' }],
    sharedBufferOk: true, // the kernel binds x read_write when it shares the outputs' buffer
    exec: {
      type: 'kernel',
      launch: (ctx, v) => quantizeRowsI8(ctx, { x: parts.length === 1 ? v(parts[0]) : parts.map((p) => v(p)), q: v(outs[0]), scale: v(outs[1]), label: `${label}.quantize` }),
    },
  }));
  quantizedActivations.set(key, { parts, pair: outs });
  return { xq: outs[0], xs: outs[1] };
}

/**
 * The W8A8 form of linear(): x is quantized per row (token) to int8 by its own op (quantizedActivation), then an
 * int8 x int8 GEMM with the weight's int8 form (derived from the f16 weight at compile time) applies the same
 * epilogue.
 */
function linearInt8(
  g: Graph, act: { xq: Tensor; xs: Tensor }, w: { weight: Tensor; start: number; count: number }, opts: LinearOptions & { dtype: DType }, label: string,
  outShape: number[], rowsPerBatch: number | undefined,
): Tensor {
  const words = int8RowWords(w.weight.shape[1]);
  const wq = g.int8Weight(w.weight, words, w);
  const { xq, xs } = act;
  const { bias, residual, gate, activation } = opts;
  const [out] = g.op({
    kind: 'linear',
    name: opts.name ?? 'linear',
    inputs: [xq, xs, wq.q, wq.scale, bias, residual, gate?.mod],
    outputs: [{ shape: outShape, dtype: opts.dtype, name: opts.name }],
    inPlace: residual ? [{ output: 0, input: residual, required: false }] : [],
    sharedBufferOk: true,
    exec: {
      type: 'kernel',
      launch: (ctx, v) =>
        k.linearI8Calls(ctx, {
          xq: v(xq), xScale: v(xs), wq: v(wq.q), wScale: v(wq.scale), out: v(out), bias: bias && v(bias), activation,
          residual: residual && v(residual), gate: gate && v(gate.mod), gateChunk: gate?.chunk, rowsPerBatch, path: opts.path, label,
        }),
    },
  });
  return out;
}

/** out[b] = alpha * a[b] @ op(b[b]); a [..., M, K], b [..., K, N] (or [..., N, K] with transposeB, or 2-D shared). */
export function matmul(g: Graph, a: Tensor, b: Tensor, opts: OpOptions & { transposeB?: boolean; alpha?: number; dtype?: DType; path?: k.MatmulPathChoice } = {}): Tensor {
  const label = g.nextLabel('matmul', opts.name);
  if (a.rank < 2 || b.rank < 2) fail(label, `a ${a.describe()} and b ${b.describe()} must be at least 2-D`);
  const [M, K] = a.shape.slice(-2);
  const [b0, b1] = b.shape.slice(-2);
  const bK = opts.transposeB ? b1 : b0;
  const N = opts.transposeB ? b0 : b1;
  if (bK !== K) fail(label, `b ${b.describe()} does not match a ${a.describe()}: K=${K} needed${opts.transposeB ? ' (transposeB: b is [..., N, K])' : ''}`);
  const batch = a.shape.slice(0, -2);
  if (b.rank > 2 && b.shape.slice(0, -2).join() !== batch.join()) fail(label, `b ${b.describe()} batch dims must equal a's [${batch}] or b must be 2-D`);
  const [out] = g.op({
    kind: 'matmul',
    name: opts.name ?? 'matmul',
    inputs: [a, b],
    outputs: [{ shape: [...batch, M, N], dtype: opts.dtype ?? 'f16', name: opts.name }],
    sharedBufferOk: true,
    exec: {
      type: 'kernel',
      launch: (ctx, v) => k.matmul(ctx, { a: v(a), b: v(b), out: v(out), transposeB: opts.transposeB, alpha: opts.alpha, path: opts.path, label }),
    },
  });
  return out;
}
