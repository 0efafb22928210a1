// Full-size models with random weights, generated on the GPU (no 24 GB file needed to benchmark a step).
// Linear weights ~ N(0, 0.02) like the models' initialisation; norm scales ~ 1 so activations keep a realistic
// scale through the blocks (the benchmark also checks the output stays finite).
import type { GpuContext } from '../gpu/context.js';
import { WeightStore } from '../graph/weights.js';
import { allocTensor, encodeCalls } from '../gpu/kernel.js';
import { randomFill } from '../kernels-wgsl/random-fill.js';
import type { ModelConfig } from '../weights/model-config.js';
import { weightSources } from '../weights/name-map.js';

export async function randomWeightStore(ctx: GpuContext, cfg: ModelConfig, seed = 1): Promise<{ store: WeightStore; bytes: number; buffers: GPUBuffer[] }> {
  const store = new WeightStore();
  const buffers: GPUBuffer[] = [];
  let bytes = 0;
  let i = 0;
  for (const src of weightSources(cfg)) {
    if (src.optional) continue;
    const t = allocTensor(ctx, src.shape, 'f16', src.name);
    const isNormScale = /(\.scale|norm_q\.weight|norm_k\.weight|norm_added_[qk]\.weight)$/.test(src.name);
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
