// What `dit inspect` says about a checkpoint's quantization: per file, the container and how many tensors/bytes
// of each element type it holds (fp8, GGUF block types, plain floats), whether fp8 weights carry per-tensor scales,
// and the GPU memory of the model's weights in each loading mode. Reads headers only.
//
// Modes:
//   expand:   every weight dequantized to its storage type at upload (f16, or f32 where the family asks) - the
//             default (--weights-mode expand);
//   resident: quantized matrices kept in their file encoding on the GPU, each expanded to a transient f16 tensor
//             just before the ops that read it (--weights-mode resident; loading/upload.ts, graph/packed.ts). The
//             transient lives in the activation arena: `residentScratch` is the largest one (one layer's worth).
//             Weights a family keeps in f32 and 1-D weights stay expanded, as the loader does; a weight whose f16
//             form exceeds the adapter's storage-binding limit also would (not counted here: device-dependent).
import { packedLayout } from '../graph/packed.js';
import type { TensorDType } from '../loading/dtypes.js';
import { isQuantized, scaleNamesFor } from '../loading/quant-formats.js';
import { identify, openCheckpoint } from './registry.js';

export interface QuantFileSummary {
  path: string;
  container: 'safetensors' | 'gguf';
  /** dtype -> tensors and bytes of that dtype in the file. */
  dtypes: Record<string, { tensors: number; bytes: number }>;
  /** fp8 weights with a per-tensor scale tensor (ComfyUI "scaled" files). */
  scaledFp8: number;
}

export interface QuantSummary {
  files: QuantFileSummary[];
  /** Model weight bytes on the GPU in each mode. */
  memory: { expand: number; resident: number; residentScratch: number };
  /** Quantization in one phrase ('none (BF16)', 'F8_E4M3 scaled', 'GGUF Q4_K + F32', ...). */
  label: string;
}

export async function inspectQuantization(path: string): Promise<QuantSummary> {
  const ck = await openCheckpoint(path, 'dit');
  try {
    const { family, config } = identify(ck);
    const files: QuantFileSummary[] = ck.files.map((f) => {
      const dtypes: Record<string, { tensors: number; bytes: number }> = {};
      let scaledFp8 = 0;
      for (const t of f.tensors) {
        const d = (dtypes[t.dtype] ??= { tensors: 0, bytes: 0 });
        d.tensors += 1;
        d.bytes += t.byteLength;
        if (t.dtype.startsWith('F8_') && scaleNamesFor(t.name).some((n) => f.has(n))) scaledFp8 += 1;
      }
      return { path: f.path, container: f.path.endsWith('.gguf') ? 'gguf' : 'safetensors', dtypes, scaledFp8 };
    });
    let expand = 0, resident = 0, residentScratch = 0;
    for (const s of family.weightSources(config)) {
      if (s.optional) continue;
      const numel = s.shape.reduce((a, b) => a * b, 1);
      const out = (s.dtype ?? 'f16') === 'f32' ? 4 : 2;
      expand += numel * out;
      const dtype: TensorDType = ck.info(s.parts[0].tensor).dtype;
      if (isQuantized(dtype) && out === 2 && s.shape.length >= 2) {
        // The loader's packed layout: each part (row range of a tensor) at a 256-byte boundary.
        const lens = s.parts.map((p) => {
          const t = ck.info(p.tensor);
          const rows = t.shape[0] ?? 1;
          return ((p.rowEnd ?? rows) - (p.rowStart ?? 0)) * (t.byteLength / rows);
        });
        resident += packedLayout(lens).bytes;
        residentScratch = Math.max(residentScratch, numel * 2);
      } else resident += numel * out;
    }
    const all = new Map<string, number>();
    for (const f of files) for (const [d, v] of Object.entries(f.dtypes)) all.set(d, (all.get(d) ?? 0) + v.bytes);
    const byBytes = [...all.entries()].sort((a, b) => b[1] - a[1]).map(([d]) => d);
    const quant = byBytes.filter((d) => isQuantized(d as TensorDType));
    const gguf = files.some((f) => f.container === 'gguf') ? 'GGUF ' : '';
    const scaled = files.some((f) => f.scaledFp8 > 0) ? ' scaled' : '';
    const label = quant.length ? `${gguf}${quant.join(' + ')}${scaled}${byBytes.length > quant.length ? ` (+ ${byBytes.filter((d) => !quant.includes(d)).join(', ')})` : ''}` : `none (${byBytes.join(', ')})`;
    return { files, memory: { expand, resident, residentScratch }, label };
  } finally {
    await ck.close();
  }
}

/** The lines `dit inspect` prints. */
export function formatQuantization(q: QuantSummary): string[] {
  const gib = (b: number) => (b >= 2 ** 30 ? `${(b / 2 ** 30).toFixed(2)} GiB` : `${(b / 2 ** 20).toFixed(2)} MiB`);
  const gb = (b: number) => (b >= 1e9 ? `${(b / 1e9).toFixed(2)} GB` : `${(b / 1e6).toFixed(2)} MB`);
  const lines = [`quantization ${q.label}`];
  for (const f of q.files) {
    const parts = Object.entries(f.dtypes).map(([d, v]) => `${d} ${v.tensors} (${gb(v.bytes)})`);
    lines.push(`  ${f.container.padEnd(11)} ${f.path}: ${parts.join(', ')}${f.scaledFp8 ? `; ${f.scaledFp8} fp8 weights with per-tensor scales` : ''}`);
  }
  lines.push(`GPU weights  ${gib(q.memory.expand)} expanded to f16 at load (--weights-mode expand, the default)`);
  if (q.memory.resident < q.memory.expand) {
    lines.push(`             ${gib(q.memory.resident)} kept quantized on the GPU (--weights-mode resident; + up to ${gib(q.memory.residentScratch)} of f16 per layer in the activations)`);
  }
  return lines;
}
