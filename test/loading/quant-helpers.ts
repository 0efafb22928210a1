// Test-only writers of quantized checkpoints, for the end-to-end runs: turn a float checkpoint into a ComfyUI-style
// scaled fp8 safetensors file or a city96-style GGUF (BFL names, 1-D tensors and embedders in F32, the rest in a
// block type). The quantizers here need not match the reference tools bit for bit (dequantization is what the
// goldens pin down); they only have to produce valid files of the real layouts.
import { writeFile } from 'node:fs/promises';
import { Checkpoint } from '../../src/loading/checkpoint.js';
import { SafetensorsFile } from '../../src/loading/safetensors.js';
import { writeSafetensors, type TensorSpec } from '../../src/loading/safetensors-writer.js';
import { bf16BitsToF32, f16BitsToF32, f32ToF16Bits } from '../../src/util/f16.js';

/** A tensor of a safetensors file or checkpoint as f32 values. */
export async function readF32(f: SafetensorsFile | Checkpoint, name: string): Promise<Float32Array> {
  const t = f.info(name);
  const raw = await f.read(name);
  const out = new Float32Array(t.numel);
  const dv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  for (let i = 0; i < t.numel; i++) {
    out[i] = t.dtype === 'F32' ? dv.getFloat32(4 * i, true) : t.dtype === 'BF16' ? bf16BitsToF32(dv.getUint16(2 * i, true)) : f16BitsToF32(dv.getUint16(2 * i, true));
  }
  return out;
}

/** e4m3fn code -> value (NaN for the two NaN codes). */
export function e4m3Value(b: number): number {
  const s = b & 0x80 ? -1 : 1, e = (b >> 3) & 15, m = b & 7;
  if (e === 15 && m === 7) return NaN;
  return e === 0 ? s * m * 2 ** -9 : s * (1 + m / 8) * 2 ** (e - 7);
}

const E4M3_POS = Array.from({ length: 127 }, (_, b) => e4m3Value(b)); // codes 0..126: 0 .. 448, increasing

/** Nearest e4m3fn code (ties to the even code), saturating at +-448. */
export function e4m3Encode(x: number): number {
  const a = Math.min(Math.abs(x), 448);
  let lo = 0, hi = 126;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (E4M3_POS[mid] <= a) lo = mid; else hi = mid;
  }
  const dl = a - E4M3_POS[lo], dh = E4M3_POS[hi] - a;
  const code = dl < dh ? lo : dh < dl ? hi : (lo & 1 ? hi : lo);
  return (x < 0 ? 0x80 : 0) | code;
}

/**
 * Writes `src` (a file or a sharded folder) as ONE scaled e4m3fn file, as ComfyUI's *_fp8_scaled exports are:
 * every 2-D weight (except names matching `keep`) becomes F8_E4M3 with a `<layer>.scale_weight` f32 scalar.
 */
export async function writeScaledFp8(src: string, dst: string, keep?: RegExp): Promise<void> {
  const f = await Checkpoint.open(src, { stripPrefixes: [] });
  try {
    const tensors: (TensorSpec & { data: Uint8Array })[] = [{ name: 'scaled_fp8', dtype: 'F8_E4M3', shape: [2], data: new Uint8Array(2) }];
    for (const name of f.listTensors()) {
      const t = f.info(name);
      if (t.shape.length !== 2 || keep?.test(name)) {
        tensors.push({ name: t.name, dtype: t.dtype as TensorSpec['dtype'], shape: t.shape, data: await f.read(t.name) });
        continue;
      }
      const x = await readF32(f, t.name);
      const amax = x.reduce((a, v) => Math.max(a, Math.abs(v)), 0);
      const scale = Math.fround(amax > 0 ? amax / 448 : 1);
      tensors.push({ name: t.name, dtype: 'F8_E4M3', shape: t.shape, data: Uint8Array.from(x, (v) => e4m3Encode(v / scale)) });
      tensors.push({ name: t.name.replace(/\.weight$/, '.scale_weight'), dtype: 'F32', shape: [], data: new Uint8Array(new Float32Array([scale]).buffer) });
    }
    await writeSafetensors(dst, tensors);
  } finally {
    await f.close();
  }
}

export type BlockType = 'Q8_0' | 'Q4_0';
const GGML_ID = { F32: 0, Q4_0: 2, Q8_0: 8 } as const;

/** Quantizes rows of 32-value blocks (llama.cpp's reference quantizers for Q8_0 / Q4_0). */
export function quantizeBlocks(x: Float32Array, type: BlockType): Uint8Array {
  const nb = x.length / 32;
  const bb = type === 'Q8_0' ? 34 : 18;
  const out = new Uint8Array(nb * bb);
  const dv = new DataView(out.buffer);
  for (let b = 0; b < nb; b++) {
    const blk = x.subarray(32 * b, 32 * b + 32);
    if (type === 'Q8_0') {
      const amax = blk.reduce((a, v) => Math.max(a, Math.abs(v)), 0);
      const d = amax / 127, id = d ? 1 / d : 0;
      dv.setUint16(b * bb, f32ToF16Bits(d), true);
      for (let j = 0; j < 32; j++) dv.setInt8(b * bb + 2 + j, Math.sign(blk[j] * id) * Math.round(Math.abs(blk[j] * id)));
    } else {
      let max = 0;
      for (const v of blk) if (Math.abs(v) > Math.abs(max)) max = v;
      const d = max / -8, id = d ? 1 / d : 0;
      dv.setUint16(b * bb, f32ToF16Bits(d), true);
      for (let j = 0; j < 16; j++) {
        const q = (v: number) => Math.min(15, Math.max(0, Math.trunc(v * id + 8.5)));
        out[b * bb + 2 + j] = q(blk[j]) | (q(blk[j + 16]) << 4);
      }
    }
  }
  return out;
}

interface GgufTensor { name: string; shape: number[]; type: number; data: Uint8Array }

function ggufString(s: string): Uint8Array {
  const b = new TextEncoder().encode(s);
  const out = new Uint8Array(8 + b.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(b.length), true);
  out.set(b, 8);
  return out;
}

/** A GGUF v3 file (alignment 32) with string metadata and the given tensors (torch shapes; stored reversed). */
export function encodeGguf(metadata: Record<string, string>, tensors: GgufTensor[]): Uint8Array {
  const parts: Uint8Array[] = [];
  const u32 = (v: number) => new Uint8Array(new Uint32Array([v]).buffer);
  const u64 = (v: number) => new Uint8Array(new BigUint64Array([BigInt(v)]).buffer);
  parts.push(u32(0x46554747), u32(3), u64(tensors.length), u64(Object.keys(metadata).length));
  for (const [k, v] of Object.entries(metadata)) parts.push(ggufString(k), u32(8), ggufString(v));
  let offset = 0;
  const offsets: number[] = [];
  for (const t of tensors) {
    parts.push(ggufString(t.name), u32(t.shape.length), ...[...t.shape].reverse().map(u64), u32(t.type), u64(offset));
    offsets.push(offset);
    offset = Math.ceil((offset + t.data.byteLength) / 32) * 32;
  }
  const headerLen = parts.reduce((a, p) => a + p.byteLength, 0);
  const dataStart = Math.ceil(headerLen / 32) * 32;
  const out = new Uint8Array(dataStart + offset);
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.byteLength; }
  tensors.forEach((t, i) => out.set(t.data, dataStart + offsets[i]));
  return out;
}

/** Writes `src` (BFL names) as a city96-style GGUF: 1-D tensors and the embedders/final layer in F32, the rest in `type`. */
export async function writeFluxGguf(src: string, dst: string, type: BlockType): Promise<void> {
  const f = await SafetensorsFile.open(src);
  try {
    const tensors: GgufTensor[] = [];
    const keepF32 = ['time_in.', 'txt_in.', 'vector_in.', 'img_in.', 'guidance_in.', 'final_layer.'];
    for (const t of f.tensors) {
      const x = await readF32(f, t.name);
      const f32 = t.shape.length === 1 || keepF32.some((k) => t.name.includes(k));
      tensors.push(f32
        ? { name: t.name, shape: t.shape, type: GGML_ID.F32, data: new Uint8Array(x.buffer) }
        : { name: t.name, shape: t.shape, type: GGML_ID[type], data: quantizeBlocks(x, type) });
    }
    await writeFile(dst, encodeGguf({ 'general.architecture': 'flux' }, tensors));
  } finally {
    await f.close();
  }
}
