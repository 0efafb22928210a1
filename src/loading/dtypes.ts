// The element types a safetensors file can declare, their sizes, and which ones the engine can upload.
// Unknown names are rejected at header-parse time; known-but-unsupported ones (I64, F8_E4M3, ...) parse fine
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

/** Source formats the GPU upload path converts from (to the engine's f16/f32 storage). */
export type UploadFormat = 'bf16' | 'f16' | 'f32';

const UPLOADABLE: Partial<Record<SafetensorsDType, UploadFormat>> = { BF16: 'bf16', F16: 'f16', F32: 'f32' };

export function isSafetensorsDType(s: unknown): s is SafetensorsDType {
  return typeof s === 'string' && Object.prototype.hasOwnProperty.call(ITEM_BYTES, s);
}

/** The upload format for a dtype, or an error naming the dtype, the tensor and the file. */
export function uploadFormat(dtype: SafetensorsDType, tensor: string, file: string): UploadFormat {
  const f = UPLOADABLE[dtype];
  if (!f) {
    throw new UserInputError(
      `${file}: tensor '${tensor}' has dtype ${dtype}, which the engine cannot load (supported: BF16, F16, F32). ` +
        'Convert the checkpoint to bf16/f16 (e.g. with safetensors + torch) or use the original release.',
      'BAD_FILE',
    );
  }
  return f;
}
