// Reads golden files (float32 safetensors: input.*, output.*, inter.*) written by bench/reference/make_goldens.py
// and bench/reference/flux_fullsize_parity.py.
import { SafetensorsFile } from '../loading/safetensors.js';

export async function readGolden(path: string): Promise<Map<string, { shape: number[]; data: Float32Array }>> {
  const f = await SafetensorsFile.open(path);
  try {
    const out = new Map<string, { shape: number[]; data: Float32Array }>();
    for (const name of f.names()) {
      const info = { ...f.info(name), name };
      if (info.dtype !== 'F32') throw new Error(`golden ${path}: ${info.name} is ${info.dtype}, expected F32`);
      const bytes = await f.read(info.name);
      out.set(info.name, { shape: info.shape, data: new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4).slice() });
    }
    return out;
  } finally {
    await f.close();
  }
}
