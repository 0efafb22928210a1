// Quantized checkpoint formats, at the file-format level: which tensor dtypes the loader dequantizes on the GPU
// (fp8 from safetensors, GGUF block types), and how "scaled" fp8 files name their per-tensor scales.
//
// Scale names (ComfyUI's conventions, as written by its scaled-fp8 exports such as
// t5xxl_fp8_e4m3fn_scaled.safetensors and flux_dev_fp8_scaled_diffusion_model.safetensors):
//   legacy:  a `scaled_fp8` marker tensor, and per weight `<layer>.scale_weight` (f32 scalar; also
//            `<layer>.scale_input`, an activation scale for fp8 matmuls, which dequantize-at-load ignores);
//   newer:   `<layer>.weight_scale` (and `<layer>.input_scale`, `<layer>.comfy_quant`).
// The weight's value is fp8.float() * scale; a weight without a scale tensor has scale 1. Only per-tensor (one
// value) scales are supported; per-channel or block scales are refused with the tensor named.
import { isDequantFormat, type DequantFormat } from '../kernels-wgsl/dequant.js';
import type { TensorDType } from './dtypes.js';
import { CheckpointError } from './safetensors.js';

export type { DequantFormat } from '../kernels-wgsl/dequant.js';

const COMPANION = /(^|\.)scaled_fp8$|\.(scale_weight|scale_input|weight_scale|input_scale|comfy_quant)$/;

/** Tensors that describe another tensor's quantization rather than being model weights. */
export function isQuantCompanion(name: string): boolean {
  return COMPANION.test(name);
}

/** The dequantizing upload handles this dtype (fp8 or a supported GGUF block type). */
export function isQuantized(dtype: TensorDType): dtype is DequantFormat {
  return isDequantFormat(dtype);
}

/** Where a weight tensor's per-tensor scale would be, in the order they are tried. */
export function scaleNamesFor(tensor: string): string[] {
  const layer = tensor.endsWith('.weight') ? tensor.slice(0, -'.weight'.length) : tensor;
  return [`${layer}.scale_weight`, `${layer}.weight_scale`];
}

/** A per-tensor scale's value from its bytes (F32, F16 or BF16, one element); errors name file and tensor. */
export function decodeScale(bytes: Uint8Array, dtype: TensorDType, numel: number, file: string, tensor: string, of: string): number {
  const fail = (why: string): never => {
    throw new CheckpointError(`${file}: scale tensor '${tensor}' of '${of}' ${why}`, file, tensor);
  };
  if (numel !== 1) fail(`has ${numel} values; only per-tensor (single value) fp8 scales are supported, not per-channel or block scales`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let v: number;
  if (dtype === 'F32') v = dv.getFloat32(0, true);
  else if (dtype === 'BF16') v = new Float32Array(new Uint32Array([dv.getUint16(0, true) << 16]).buffer)[0];
  else if (dtype === 'F16') {
    const h = dv.getUint16(0, true);
    const e = (h >> 10) & 31, m = h & 1023, s = h & 0x8000 ? -1 : 1;
    v = e === 31 ? (m ? NaN : s * Infinity) : e === 0 ? s * m * 2 ** -24 : s * (1 + m / 1024) * 2 ** (e - 15);
  } else return fail(`has dtype ${dtype}; expected F32, F16 or BF16`);
  if (!Number.isFinite(v) || v === 0) fail(`is ${v}; a scale must be finite and non-zero`);
  return v;
}
