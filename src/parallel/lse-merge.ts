// Merging attention results over disjoint key blocks (ring attention): with o_a, o_b the softmax-normalised
// outputs over two key sets and lse_a, lse_b their log-sum-exps, the result over the union is
//   o = (e^(lse_a - m) o_a + e^(lse_b - m) o_b) / (e^(lse_a - m) + e^(lse_b - m)),   lse = m + log(sum),
// m = max(lse_a, lse_b). Exact (up to rounding) in any order; one small kernel merges two partials, and a ring of
// n blocks chains n - 1 merges with an f32 accumulator (only the last one rounds to f16).
import type { GpuContext } from '../gpu/context.js';
import { bindGroup, type DType, DTYPE_BYTES, grid1d, type KernelCall, numel, paramsBuffer, type TensorView } from '../gpu/kernel.js';
import type { Graph } from '../graph/graph.js';
import type { Tensor } from '../graph/tensor.js';
import { LINEAR_WG } from '../kernels-wgsl/wgsl-util.js';

const WG = 256;

function mergeWgsl(aType: DType, outType: DType): string {
  return `enable f16;
struct Params { n: u32, rows: u32, heads: u32, d: u32 }
@group(0) @binding(0) var<storage, read> oA: array<${aType}>;
@group(0) @binding(1) var<storage, read> lseA: array<f32>;
@group(0) @binding(2) var<storage, read> oB: array<f16>;
@group(0) @binding(3) var<storage, read> lseB: array<f32>;
@group(0) @binding(4) var<storage, read_write> o: array<${outType}>;
@group(0) @binding(5) var<storage, read_write> lse: array<f32>;
@group(0) @binding(6) var<uniform> p: Params;
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = (${LINEAR_WG}) * ${WG}u + lid;
  if (i >= p.n) { return; }
  let width = p.heads * p.d;
  let col = i % width;
  let l = i / width;
  let li = (col / p.d) * p.rows + l;   // lse is [H, rows]
  let a = lseA[li];
  let b = lseB[li];
  let m = max(a, b);
  // A row that saw no key in either block (lse = -inf) stays 0 with lse -inf, as the attention kernel writes it.
  if (m < -3.0e38) {
    o[i] = ${outType}(0.0);
    if (col % p.d == 0u) { lse[li] = m; }
    return;
  }
  let wa = exp(a - m);
  let wb = exp(b - m);
  let s = wa + wb;
  o[i] = ${outType}((f32(oA[i]) * wa + f32(oB[i]) * wb) / s);
  if (col % p.d == 0u) { lse[li] = m + log(s); }
}
`;
}

export interface LseMergeArgs {
  /** [1, rows, H*D] f16 or f32, with lseA [1, H, rows] f32. */
  oA: TensorView;
  lseA: TensorView;
  /** [1, rows, H*D] f16, with lseB [1, H, rows] f32. */
  oB: TensorView;
  lseB: TensorView;
  out: TensorView;
  lseOut: TensorView;
  heads: number;
}

export async function lseMerge(ctx: GpuContext, a: LseMergeArgs): Promise<KernelCall> {
  const op = 'lseMerge';
  const [B, rows, W] = a.oA.shape;
  if (B !== 1 || a.oA.shape.length !== 3) throw new Error(`${op}: oA [${a.oA.shape}] must be [1, rows, H*D]`);
  if (W % a.heads !== 0) throw new Error(`${op}: width ${W} is not a multiple of heads ${a.heads}`);
  for (const [n, t] of [['oB', a.oB], ['out', a.out]] as const) if (numel(t.shape) !== rows * W) throw new Error(`${op}: ${n} [${t.shape}] must hold ${rows}x${W}`);
  for (const [n, t] of [['lseA', a.lseA], ['lseB', a.lseB], ['lseOut', a.lseOut]] as const) {
    if (numel(t.shape) !== a.heads * rows || t.dtype !== 'f32') throw new Error(`${op}: ${n} [${t.shape}] ${t.dtype} must be f32 [1, ${a.heads}, ${rows}]`);
  }
  if (a.oB.dtype !== 'f16') throw new Error(`${op}: oB must be f16 (an attention output)`);
  const n = rows * W;
  const pipeline = await ctx.pipeline(`lseMerge:${a.oA.dtype}:${a.out.dtype}`, mergeWgsl(a.oA.dtype, a.out.dtype));
  const params = paramsBuffer(ctx, [{ u32: n }, { u32: rows }, { u32: a.heads }, { u32: W / a.heads }], `${op}.params`);
  return {
    label: op,
    pipeline,
    bindGroup: bindGroup(ctx, pipeline, [a.oA, a.lseA, a.oB, a.lseB, a.out, a.lseOut, params], op),
    workgroups: grid1d(Math.ceil(n / WG), ctx.caps.limits.maxComputeWorkgroupsPerDimension),
    flops: 6 * n,
    bytes: n * (DTYPE_BYTES[a.oA.dtype] + 2 + DTYPE_BYTES[a.out.dtype]) + 3 * 4 * a.heads * rows,
  };
}

/** Graph op: merges partial attention results (out [1, rows, H*D] f16, lse [1, H, rows] f32) in order. */
export function mergePartials(g: Graph, parts: { out: Tensor; lse: Tensor }[], heads: number, name = 'lse_merge'): Tensor {
  g.check(parts.length >= 1, name, () => 'needs at least one partial result');
  let acc = parts[0];
  for (let i = 1; i < parts.length; i++) {
    const last = i === parts.length - 1;
    const p = parts[i];
    const a = acc; // the launch runs at compile time, after acc has moved on
    const outs = g.op({
      kind: 'lse_merge',
      name,
      inputs: [a.out, a.lse, p.out, p.lse],
      outputs: [
        { shape: p.out.shape, dtype: last ? 'f16' : 'f32' },
        { shape: p.lse.shape, dtype: 'f32' },
      ],
      exec: {
        type: 'kernel',
        launch: (ctx, view) => lseMerge(ctx, { oA: view(a.out), lseA: view(a.lse), oB: view(p.out), lseB: view(p.lse), out: view(outs[0]), lseOut: view(outs[1]), heads }),
      },
    });
    acc = { out: outs[0], lse: outs[1] };
  }
  return acc.out;
}
