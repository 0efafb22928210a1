// The contract between WGSL kernels, their host-side launch code and the op graph.
// A launch function validates shapes, compiles (cached) its WGSL and returns a KernelCall: a pipeline, a bind
// group and a grid. The graph records KernelCalls once and replays them every denoising step, so launch code
// runs at graph-build time, never per step. This file also re-exports the tensor vocabulary (tensor-view.ts) so
// launch code has one import for both.
import type { GpuContext } from './context.js';
import { byteSize, type TensorView } from './tensor-view.js';

export * from './tensor-view.js';

export interface KernelCall {
  label: string;
  pipeline: GPUComputePipeline;
  bindGroup: GPUBindGroup;
  workgroups: [number, number, number];
  /** Useful arithmetic (for benchmarks' TFLOP/s); 0 where not meaningful. */
  flops: number;
  /** Minimum bytes moved to/from memory (for benchmarks' GB/s). */
  bytes: number;
}

export type Param = { u32: number } | { i32: number } | { f32: number };

/**
 * A uniform buffer holding scalar parameters in declaration order (each 4 bytes; the WGSL struct must
 * declare the same fields, all u32/i32/f32, in the same order). Padded to 16 bytes.
 */
export function paramsBuffer(ctx: GpuContext, params: Param[], label = 'params'): GPUBuffer {
  const n = Math.max(4, Math.ceil(params.length / 4) * 4);
  const raw = new ArrayBuffer(n * 4);
  const u = new Uint32Array(raw);
  const i = new Int32Array(raw);
  const f = new Float32Array(raw);
  params.forEach((p, k) => {
    if ('u32' in p) u[k] = p.u32 >>> 0;
    else if ('i32' in p) i[k] = p.i32 | 0;
    else f[k] = p.f32;
  });
  const buf = ctx.device.createBuffer({ label, size: raw.byteLength, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
  ctx.device.queue.writeBuffer(buf, 0, raw);
  return buf;
}

/** Binds resources to @group(0) @binding(0..n-1) in order. Tensors bind their exact byte range. */
export function bindGroup(ctx: GpuContext, pipeline: GPUComputePipeline, resources: (TensorView | GPUBuffer)[], label?: string): GPUBindGroup {
  const entries: GPUBindGroupEntry[] = resources.map((r, binding) => {
    if ('shape' in r) {
      const size = Math.ceil(byteSize(r) / 4) * 4;
      return { binding, resource: { buffer: r.buffer, offset: r.offset, size } };
    }
    return { binding, resource: { buffer: r } };
  });
  return ctx.device.createBindGroup({ label, layout: pipeline.getBindGroupLayout(0), entries });
}

/**
 * Splits a 1-D workgroup count over x and y so it stays within maxComputeWorkgroupsPerDimension (65535).
 * The shader recovers the linear id as `wid.x + wid.y * num_workgroups.x` and must bounds-check it.
 */
export function grid1d(workgroups: number, maxPerDim = 65535): [number, number, number] {
  if (workgroups <= maxPerDim) return [Math.max(1, workgroups), 1, 1];
  const y = Math.ceil(workgroups / maxPerDim);
  return [Math.ceil(workgroups / y), y, 1];
}

/** Records calls into one compute pass (WebGPU orders dispatches and makes earlier writes visible). */
export function encodeCalls(encoder: GPUCommandEncoder, calls: readonly KernelCall[], timestampWrites?: GPUComputePassTimestampWrites): void {
  const pass = encoder.beginComputePass(timestampWrites ? { timestampWrites } : undefined);
  for (const c of calls) {
    pass.setPipeline(c.pipeline);
    pass.setBindGroup(0, c.bindGroup);
    pass.dispatchWorkgroups(c.workgroups[0], c.workgroups[1], c.workgroups[2]);
  }
  pass.end();
}

/** Encodes, submits and waits: the simple path for tests and one-off work. */
export async function runCalls(ctx: GpuContext, calls: readonly KernelCall[]): Promise<void> {
  const enc = ctx.device.createCommandEncoder();
  encodeCalls(enc, calls);
  ctx.device.queue.submit([enc.finish()]);
  await ctx.sync();
}
