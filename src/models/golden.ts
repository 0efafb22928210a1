// Reads golden files (float32 safetensors: input.*, output.*, inter.*) written by bench/reference/make_goldens.py
// and bench/reference/flux_fullsize_parity.py. A missing file, a folder or a non-golden file fails at once with
// the path and the fix, before any weights are loaded.
import { stat } from 'node:fs/promises';
import { SafetensorsFile } from '../loading/safetensors.js';
import { UserInputError } from '../util/errors.js';

const MAKE = 'make one with bench/reference/make_goldens.py (tiny models) or flux_fullsize_parity.py';

export async function readGolden(path: string): Promise<Map<string, { shape: number[]; data: Float32Array }>> {
  const s = await stat(path).catch(() => null);
  if (!s) throw new UserInputError(`golden ${path}: no such file (give the path of a golden .safetensors file; ${MAKE})`, 'BAD_FILE');
  if (!s.isFile()) throw new UserInputError(`golden ${path}: is a folder, not a golden .safetensors file (${MAKE})`, 'BAD_FILE');
  const f = await SafetensorsFile.open(path);
  try {
    const out = new Map<string, { shape: number[]; data: Float32Array }>();
    for (const name of f.names()) {
      const info = { ...f.info(name), name };
      if (info.dtype !== 'F32') throw new UserInputError(`golden ${path}: ${info.name} is ${info.dtype}, expected F32 (goldens are float32; ${MAKE})`, 'BAD_FILE');
      const bytes = await f.read(info.name);
      out.set(info.name, { shape: info.shape, data: new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4).slice() });
    }
    if (![...out.keys()].some((k) => k.startsWith('input.'))) throw new UserInputError(`golden ${path}: has no input.* tensors, so it is not a golden file (${MAKE})`, 'BAD_FILE');
    return out;
  } finally {
    await f.close();
  }
}
