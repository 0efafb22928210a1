// Reads the text-encoder goldens (bench/reference/make_encoder_goldens.py): float32 results of float64 PyTorch
// runs and int32 token ids, by name.
import { SafetensorsFile } from '../../src/loading/safetensors.js';

export const ENC = 'test/fixtures/tiny-encoders';

export type Golden = Map<string, { shape: number[]; data: Float32Array | Int32Array }>;

export async function readEncoderGolden(file: string): Promise<{ tensors: Golden; metadata: Record<string, string> }> {
  const f = await SafetensorsFile.open(`${ENC}/${file}`);
  try {
    const tensors: Golden = new Map();
    for (const name of f.names()) {
      const info = f.info(name);
      const b = await f.read(name);
      const buf = b.slice().buffer;
      if (info.dtype === 'F32') tensors.set(name, { shape: info.shape, data: new Float32Array(buf) });
      else if (info.dtype === 'I32') tensors.set(name, { shape: info.shape, data: new Int32Array(buf) });
      else throw new Error(`${file}: ${name} is ${info.dtype}`);
    }
    return { tensors, metadata: f.metadata };
  } finally {
    await f.close();
  }
}

export function get(g: Golden, name: string) {
  const t = g.get(name);
  if (!t) throw new Error(`golden tensor ${name} missing`);
  return t;
}

/** Unit roundoff of f16 storage (2^-11): the bounds below are multiples of it. */
export const F16_U = 2 ** -11;
