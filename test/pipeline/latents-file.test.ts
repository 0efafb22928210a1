// --latents files: [1, C, H, W], [C, H, W] and FLUX-packed [1, H/2*W/2, 4C], in F32/F16/BF16, and clear errors.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { writeSafetensors } from '../../src/loading/safetensors-writer.js';
import { patchify } from '../../src/models/latents.js';
import { readLatentsFile } from '../../src/pipeline/latents-file.js';
import { gaussianNoise } from '../../src/pipeline/noise.js';
import { f32ToBf16Bits, roundF16, toF16Array } from '../../src/util/f16.js';

const dir = mkdtempSync(join(tmpdir(), 'dit-lat-'));
const shape = { channels: 4, height: 6, width: 10 };
const x = gaussianNoise(3, 240);
const bytes = (a: ArrayBufferView) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

describe('--latents files', () => {
  it('reads the diffusers layouts and FLUX packing', async () => {
    const p1 = join(dir, 'a.safetensors');
    await writeSafetensors(p1, [{ name: 'latents', dtype: 'F32', shape: [1, 4, 6, 10], data: bytes(x) }]);
    expect(await readLatentsFile(p1, shape)).toEqual(x);
    const p2 = join(dir, 'packed.safetensors');
    await writeSafetensors(p2, [{ name: 'noise', dtype: 'F16', shape: [1, 15, 16], data: bytes(toF16Array(patchify(x, 4, 6, 10, 2, 'c-p-q'))) }]);
    const back = await readLatentsFile(p2, shape);
    for (let i = 0; i < 240; i++) expect(back[i]).toBe(roundF16(x[i]));
    const p3 = join(dir, 'bf16.safetensors');
    await writeSafetensors(p3, [{ name: 't', dtype: 'BF16', shape: [4, 6, 10], data: bytes(Uint16Array.from(x, f32ToBf16Bits)) }]);
    const b = await readLatentsFile(p3, shape);
    for (let i = 0; i < 240; i++) expect(Math.abs(b[i] - x[i])).toBeLessThanOrEqual(Math.abs(x[i]) / 128);
  });

  it('names the shape the size needs', async () => {
    const p = join(dir, 'wrong.safetensors');
    await writeSafetensors(p, [{ name: 'latents', dtype: 'F32', shape: [1, 4, 10, 6], data: bytes(x) }]);
    await expect(readLatentsFile(p, shape)).rejects.toThrow(/shape \[1, 4, 10, 6\]; this size needs \[1, 4, 6, 10\]/);
    const q = join(dir, 'two.safetensors');
    await writeSafetensors(q, [{ name: 'a', dtype: 'F32', shape: [1], data: bytes(new Float32Array(1)) }, { name: 'b', dtype: 'F32', shape: [1], data: bytes(new Float32Array(1)) }]);
    await expect(readLatentsFile(q, shape)).rejects.toThrow(/holds 2 tensors/);
    const r = join(dir, 'int.safetensors');
    await writeSafetensors(r, [{ name: 'latents', dtype: 'I32', shape: [240], data: bytes(new Int32Array(240)) }]);
    await expect(readLatentsFile(r, shape)).rejects.toThrow(/not a float type/);
  });
});
