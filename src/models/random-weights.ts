// Full-size models with random weights, generated on the GPU (no 24 GB file needed to benchmark a step or to
// serve without a checkpoint). Linear weights ~ N(0, 0.02) like the models' initialisation; norm scales ~ 1 so
// activations keep a realistic scale through the blocks (the benchmark also checks the output stays finite).
import type { GpuContext } from '../gpu/context.js';
import { allocTensor, encodeCalls } from '../gpu/kernel.js';
import { WeightStore } from '../graph/weights.js';
import { randomFill } from '../kernels-wgsl/random-fill.js';
import type { FamilyConfig } from './family.js';
import { familyOf } from './registry.js';

/** A 1-D norm scale (QK-RMSNorm `.scale`, `norm_q.weight`, `layer_norm.weight`): multiplies, so it must be ~1. */
const NORM_SCALE = /(\.scale|norm[^.]*\.weight)$/;

export async function randomWeightStore(ctx: GpuContext, cfg: FamilyConfig, seed = 1): Promise<{ store: WeightStore; bytes: number; buffers: GPUBuffer[] }> {
  const store = new WeightStore();
  const buffers: GPUBuffer[] = [];
  let bytes = 0;
  let i = 0;
  for (const src of familyOf(cfg).weightSources(cfg)) {
    if (src.optional) continue;
    const t = allocTensor(ctx, src.shape, src.dtype ?? 'f16', src.name);
    const isNormScale = src.shape.length === 1 && NORM_SCALE.test(src.name);
    const call = await randomFill(ctx, { out: t, seed: seed * 100_003 + i++, mean: isNormScale ? 1 : 0, std: 0.02 });
    const enc = ctx.device.createCommandEncoder();
    encodeCalls(enc, [call]);
    ctx.device.queue.submit([enc.finish()]);
    store.set(src.name, t);
    buffers.push(t.buffer);
    bytes += t.buffer.size;
  }
  await ctx.sync();
  return { store, bytes, buffers };
}
