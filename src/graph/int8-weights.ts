// The int8 forms of weights that W8A8 linears read (graph.int8Weight): made on the GPU from the f16 weight the
// first time a graph needing them is compiled against a WeightStore, then kept in that store (owned by it, freed
// with it), so every graph of a model (each resolution, each batch) shares one copy. In int8 mode
// (store.releaseInt8Sources, set by pipelines loaded with int8) the f16 weight is released right after: int8 graphs
// never bind it (the executor binds only parameters an op reads). Otherwise it stays (f16 graphs on the same store).
import type { GpuContext } from '../gpu/context.js';
import { allocTensor, runCalls } from '../gpu/kernel.js';
import { int8RowWords, quantizeRowsI8 } from '../kernels-wgsl/quantize-i8.js';
import type { Graph } from './graph.js';
import type { WeightStore } from './weights.js';

/** Quantizes every int8 weight `graph` declares that `weights` lacks; problems are returned, not thrown (the executor reports all at once). */
export async function deriveInt8Weights(ctx: GpuContext, graph: Graph, weights: WeightStore): Promise<string[]> {
  const problems: string[] = [];
  for (const names of graph.int8Weights.values()) {
    if (weights.has(names.q) && weights.has(names.scale)) continue;
    if (!weights.has(names.source)) continue; // reported as a missing weight by the executor
    if (weights.packed(names.source)) {
      problems.push(`weight '${names.source}' is kept quantized (${weights.packed(names.source)!.format}, weights mode 'resident'): int8 linears quantize f16 weights; load with weights mode 'expand' or turn int8 off`);
      continue;
    }
    const w = weights.get(names.source);
    if (w.shape.length !== 2 || (w.dtype !== 'f16' && w.dtype !== 'f32')) {
      problems.push(`weight '${names.source}' is [${w.shape}] ${w.dtype}: int8 linears need a 2-D f16/f32 [N, K] weight`);
      continue;
    }
    const [N, K] = w.shape;
    const q = allocTensor(ctx, [N, int8RowWords(K)], 'u32', names.q);
    const scale = allocTensor(ctx, [N], 'f32', names.scale);
    await runCalls(ctx, [await quantizeRowsI8(ctx, { x: w, q, scale, label: `${names.source} -> int8` })]);
    weights.adopt(names.q, q);
    weights.adopt(names.scale, scale);
    // int8 mode: the f16 form goes at once, so the peak is the f16 model plus one int8 weight.
    if (weights.releaseInt8Sources) weights.release(names.source, 'its int8 form was made and this store keeps only that (int8 mode); load the model without int8 to run f16 linears');
  }
  return problems;
}
