// Dequantizing inside the matmul's B-tile load (issue 16, the fused form of weights mode 'resident'): a BLoader
// (matmul-subgroup-matrix.wgsl.ts's seam) that decodes a packed weight's fp8 codes / GGUF blocks while the
// tensor-core linear stages B from global to workgroup memory, so no f16 copy of the weight is ever written.
//
// The decode is dequant.ts's own WGSL (dequantDecoderWgsl), including its integer f32 -> f16 rounding, and the
// per-tensor fp8 scale is applied exactly as there (skipped for values decoded from NaN/inf data), so the halves
// staged in workgroup memory are bit-identical to the weight that expand mode stores: with the same tiling, the
// fused linear's output is bit-identical to the linear over the expanded weight (test/loading/quant-fused.test.ts).
//
// Limits, and why this is not wired into the graph yet:
// - one part per weight (a packed weight from one checkpoint tensor, or a row range of one: BFL/city96 files fuse
//   qkv in the tensor itself), the part at byte 0 of the packed buffer; `elemOffset` selects a row range (the FLUX
//   linear1 qkv / MLP halves), which must start on a block boundary;
// - matmul.ts binds B (`w`) with the size of an f16 [N, K] tensor, so the buffer behind `w` must be at least
//   N*K*2 bytes although the loader reads fewer. Until matmul.ts takes the B binding size from the loader (a
//   one-line seam in H2's file), the fused path saves the f16 writes and reads of the transient but not its
//   memory, which is why the executor keeps the dequant-at-use transient for now (graph/packed.ts).
import type { GpuContext } from '../gpu/context.js';
import type { KernelCall, TensorView } from '../gpu/kernel.js';
import { DEQUANT_BLOCKS, dequantDecoderWgsl, type DequantFormat } from './dequant.js';
import { linearWithTiling, type BLoader, type GemmTuning, type LinearArgs } from './matmul.js';

/** The B loader for `format`: B (binding 2) read as u32 words of raw blocks, QP (binding 7) = [scale f32 bits, use scale, element offset, 0]. */
export function packedBLoader(format: DequantFormat): BLoader {
  const fn = `load_b_${format.toLowerCase()}`;
  return {
    name: `packed-${format}-v1`,
    bElem: 'u32',
    decls: `@group(0) @binding(7) var<storage, read> QP: array<u32>;
${dequantDecoderWgsl(format, 'B')}
fn ${fn}(bBase: u32, n: u32, k: u32, kEnd: u32) -> vec4<u32> {
  let base = QP[2] + bBase + n * P.K + k;
  var h = array<u32, 8>(0u, 0u, 0u, 0u, 0u, 0u, 0u, 0u);
  for (var j = 0u; j < 8u; j++) {
    if (k + j < kEnd) {
      bad = false;
      var v = deq_${format}(base + j);
      if (!bad && QP[1] == 1u) { v = v * bitcast<f32>(QP[0]); }
      h[j] = f32_to_half_bits(v);
    }
  }
  return vec4<u32>(h[0] | (h[1] << 16u), h[2] | (h[3] << 16u), h[4] | (h[5] << 16u), h[6] | (h[7] << 16u));
}`,
    fn,
  };
}

export interface PackedB {
  format: DequantFormat;
  /**
   * The raw blocks from byte 0 of this view's buffer (the view's shape is the logical [N, K]; its buffer must be
   * at least N*K*2 bytes, see the header).
   */
  w: TensorView;
  /** Per-tensor fp8 scale. */
  scale?: number;
  /** First element of the weight inside the packed stream (a row range), a multiple of the block size. */
  elemOffset?: number;
}

/**
 * linear() over a packed weight with the decode fused into the B-tile load (tensor-core path, staged B). `tuning`
 * is the tiling (and, on adapters without subgroup matrices, the emulation transform) as for linearWithTiling.
 * Returns the call and the small parameter buffer it binds (the caller owns it).
 */
export async function linearPacked(ctx: GpuContext, args: Omit<LinearArgs, 'w'>, b: PackedB, tuning: Omit<GemmTuning, 'bLoader' | 'extra'>): Promise<{ call: KernelCall; params: GPUBuffer }> {
  const blk = DEQUANT_BLOCKS[b.format];
  if (!blk) throw new Error(`linearPacked: unknown format '${b.format}'`);
  const [N, K] = b.w.shape;
  const off = b.elemOffset ?? 0;
  if (K % blk.elems !== 0) throw new Error(`linearPacked: K=${K} is not a whole number of ${b.format} blocks (${blk.elems} values)`);
  if (off % blk.elems !== 0) throw new Error(`linearPacked: element offset ${off} does not start a ${b.format} block`);
  if (K % 8 !== 0) throw new Error(`linearPacked: K=${K} must be a multiple of 8 (the loader stages 8 halves per load)`);
  if (b.w.buffer.size < N * K * 2 + b.w.offset) throw new Error(`linearPacked: the buffer behind w holds ${b.w.buffer.size} bytes; matmul.ts binds B as an f16 [${N}, ${K}] tensor (${N * K * 2} bytes)`);
  if (b.scale !== undefined && !Number.isFinite(b.scale)) throw new Error(`linearPacked: scale ${b.scale} is not finite`);
  const qp = new Uint32Array([new Uint32Array(new Float32Array([b.scale ?? 1]).buffer)[0], b.scale === undefined ? 0 : 1, off, 0]);
  const params = ctx.createBuffer(16, `linear-packed-${b.format}.qp`);
  ctx.write(params, qp);
  const call = await linearWithTiling(ctx, { ...args, w: b.w }, { ...tuning, bLoader: packedBLoader(b.format), extra: [{ buffer: params, offset: 0, shape: [4], dtype: 'u32' }] });
  return { call, params };
}
