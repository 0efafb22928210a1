// Host numbers <-> the bytes a tensor of each storage dtype holds. One place, so uploads, graph inputs,
// constants and readbacks agree on f16 rounding and on integers staying integers.
import { fromF16Array, toF16Array } from '../util/f16.js';
import type { DType } from './tensor-view.js';

/** Host numbers -> bytes in `dtype`. Integer dtypes require integers in range (a token id is never rounded). */
export function encodeHostData(dtype: DType, data: ArrayLike<number>, what = 'data'): ArrayBufferView {
  switch (dtype) {
    case 'f16':
      return toF16Array(data);
    case 'f32':
      return data instanceof Float32Array ? data : Float32Array.from(data);
    case 'u32':
    case 'i32': {
      const [lo, hi] = dtype === 'u32' ? [0, 0xffffffff] : [-0x80000000, 0x7fffffff];
      for (let i = 0; i < data.length; i++) {
        const x = data[i];
        if (!Number.isInteger(x) || x < lo || x > hi) throw new Error(`${what}: value ${x} at index ${i} is not a ${dtype} integer`);
      }
      if (dtype === 'u32') return data instanceof Uint32Array ? data : Uint32Array.from(data);
      return data instanceof Int32Array ? data : Int32Array.from(data);
    }
  }
}

/** Bytes of `n` elements in `dtype` -> host numbers (f16 decoded; integers exact up to 2^24 in the f32 result). */
export function decodeHostData(dtype: DType, raw: ArrayBuffer, n: number, byteOffset = 0): Float32Array {
  switch (dtype) {
    case 'f16':
      return fromF16Array(new Uint16Array(raw, byteOffset, n));
    case 'f32':
      return new Float32Array(raw, byteOffset, n);
    case 'u32':
      return Float32Array.from(new Uint32Array(raw, byteOffset, n));
    case 'i32':
      return Float32Array.from(new Int32Array(raw, byteOffset, n));
  }
}
