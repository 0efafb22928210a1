// `--latents file.safetensors`: initial noise made elsewhere (e.g. torch.randn in a diffusers script), so that a
// diffusers image can be reproduced exactly. Accepted: one tensor (or one named latents/noise) of shape
// [1, C, H, W] or [C, H, W] (the diffusers latent layout), or FLUX's packed [1, H/2 * W/2, 4C] (what
// FluxPipeline's `latents=` argument takes), in F32, F16, BF16 or F64.
import { SafetensorsFile } from '../loading/safetensors.js';
import { bf16BitsToF32, fromF16Array } from '../util/f16.js';
import { unpatchify } from '../models/latents.js';
import type { LatentShape } from './request-state.js';

function toFloat32(bytes: Uint8Array, dtype: string, what: string): Float32Array {
  const copy = bytes.slice();
  switch (dtype) {
    case 'F32': return new Float32Array(copy.buffer, 0, copy.byteLength / 4);
    case 'F64': return Float32Array.from(new Float64Array(copy.buffer, 0, copy.byteLength / 8));
    case 'F16': return fromF16Array(new Uint16Array(copy.buffer, 0, copy.byteLength / 2));
    case 'BF16': return Float32Array.from(new Uint16Array(copy.buffer, 0, copy.byteLength / 2), bf16BitsToF32);
    default: throw new Error(`${what}: dtype ${dtype} is not a float type (use F32, F16, BF16 or F64)`);
  }
}

/** Reads initial latents for a generation of the given latent shape; returns [C, H, W] float32. */
export async function readLatentsFile(path: string, want: LatentShape): Promise<Float32Array> {
  const f = await SafetensorsFile.open(path);
  try {
    const names = f.names();
    const name = names.length === 1 ? names[0] : names.find((n) => n === 'latents' || n === 'noise' || n === 'input.noise');
    if (!name) throw new Error(`${path}: holds ${names.length} tensors (${names.slice(0, 5).join(', ')}); keep one, or name it 'latents'`);
    const info = f.info(name);
    const data = toFloat32(await f.read(name), info.dtype, `${path}: ${name}`);
    const { channels: C, height: H, width: W } = want;
    const s = info.shape;
    const shapeText = `[${s.join(', ')}]`;
    const expect = `[1, ${C}, ${H}, ${W}], [${C}, ${H}, ${W}] or packed [1, ${(H / 2) * (W / 2)}, ${4 * C}]`;
    const dims = s[0] === 1 && s.length === 4 ? s.slice(1) : s;
    if (dims.length === 3 && dims[0] === C && dims[1] === H && dims[2] === W) return data;
    const packed = s.length === 3 && s[0] === 1 ? s.slice(1) : s;
    if (packed.length === 2 && packed[0] === (H / 2) * (W / 2) && packed[1] === 4 * C) return unpatchify(data, C, H, W, 2, 'c-p-q');
    throw new Error(`${path}: latents ${name} have shape ${shapeText}; this size needs ${expect} (check --size against the file)`);
  } finally {
    await f.close();
  }
}
