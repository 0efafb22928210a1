// The element types a safetensors file can declare, their sizes, and which ones the engine can upload.
// Unknown names are rejected at header-parse time; known-but-unsupported ones (I64, Q2_K, ...) parse fine
// (so listing a file works) and fail only when someone tries to upload them, with the dtype named.
import { UserInputError } from '../util/errors.js';

export type SafetensorsDType =
  | 'BF16' | 'F16' | 'F32' | 'F64'
  | 'I8' | 'I16' | 'I32' | 'I64'
  | 'U8' | 'U16' | 'U32' | 'U64'
  | 'BOOL' | 'F8_E4M3' | 'F8_E5M2';

export const ITEM_BYTES: Record<SafetensorsDType, number> = {
  BF16: 2, F16: 2, F32: 4, F64: 8,
  I8: 1, I16: 2, I32: 4, I64: 8,
  U8: 1, U16: 2, U32: 4, U64: 8,
  BOOL: 1, F8_E4M3: 1, F8_E5M2: 1,
};

/**
 * GGML block types a GGUF file can hold beyond the plain ones (F32/F16/BF16/I8.. map onto the safetensors names).
 * Each stores `elems` values in `bytes` bytes; which of them the engine can dequantize: quant-formats.ts.
 */
export const GGML_BLOCKS = {
  Q4_0: [32, 18], Q4_1: [32, 20], Q5_0: [32, 22], Q5_1: [32, 24], Q8_0: [32, 34], Q8_1: [32, 40],
  Q2_K: [256, 84], Q3_K: [256, 110], Q4_K: [256, 144], Q5_K: [256, 176], Q6_K: [256, 210], Q8_K: [256, 292],
  IQ2_XXS: [256, 66], IQ2_XS: [256, 74], IQ3_XXS: [256, 98], IQ1_S: [256, 50], IQ4_NL: [32, 18], IQ3_S: [256, 110],
  IQ2_S: [256, 82], IQ4_XS: [256, 136], IQ1_M: [256, 56], TQ1_0: [256, 54], TQ2_0: [256, 66], MXFP4: [32, 17],
} as const satisfies Record<string, readonly [number, number]>;
export type GgmlBlockDType = keyof typeof GGML_BLOCKS;

/** Any element type a checkpoint tensor can have (safetensors dtypes, plus GGUF block types). */
export type TensorDType = SafetensorsDType | GgmlBlockDType;

/** Values per block and bytes per block (1 value per "block" for the plain dtypes). */
export function blockOf(dtype: TensorDType): { elems: number; bytes: number } {
  if (Object.prototype.hasOwnProperty.call(ITEM_BYTES, dtype)) return { elems: 1, bytes: ITEM_BYTES[dtype as SafetensorsDType] };
  const [elems, bytes] = GGML_BLOCKS[dtype as GgmlBlockDType];
  return { elems, bytes };
}

/** Source formats the GPU upload path converts from (to the engine's f16/f32 storage). */
export type UploadFormat = 'bf16' | 'f16' | 'f32';

const UPLOADABLE: Partial<Record<SafetensorsDType, UploadFormat>> = { BF16: 'bf16', F16: 'f16', F32: 'f32' };

export function isSafetensorsDType(s: unknown): s is SafetensorsDType {
  return typeof s === 'string' && Object.prototype.hasOwnProperty.call(ITEM_BYTES, s);
}

/** The upload format for a dtype, or an error naming the dtype, the tensor and the file. */
export function uploadFormat(dtype: TensorDType, tensor: string, file: string): UploadFormat {
  const f = UPLOADABLE[dtype as SafetensorsDType];
  if (!f) {
    throw new UserInputError(
      `${file}: tensor '${tensor}' has dtype ${dtype}, which the engine cannot load (supported: BF16, F16, F32, ` +
        'F8_E4M3, F8_E5M2, and the GGUF types Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K). ' +
        'Convert the checkpoint to one of them (e.g. bf16 with safetensors + torch) or use the original release.',
      'BAD_FILE',
    );
  }
  return f;
}
