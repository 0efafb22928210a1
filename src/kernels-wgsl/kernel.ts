// The contract between WGSL kernels, their host-side launch code and the op graph.
// A launch function validates shapes, compiles (cached) its WGSL and returns a KernelCall: a pipeline, a bind
// group and a grid. The graph records KernelCalls once and replays them every denoising step, so launch code
// runs at graph-build time, never per step.
import type { GpuContext } from '../gpu/context.js';

export type DType = 'f16' | 'f32';

export const DTYPE_BYTES: Record<DType, number> = { f16: 2, f32: 4 };

/** A tensor living in (a range of) a GPU buffer. Row-major, contiguous, innermost dimension last. */
export interface TensorView {
  buffer: GPUBuffer;
  /** Byte offset into the buffer; a multiple of minStorageBufferOffsetAlignment (256). */
  offset: number;
  shape: readonly number[];
  dtype: DType;
}

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

export function numel(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

export function byteSize(t: Pick<TensorView, 'shape' | 'dtype'>): number {
  return numel(t.shape) * DTYPE_BYTES[t.dtype];
}

/** WGSL preamble for a storage type: `enable f16;` where needed and the alias `T`. */
export function dtypePreamble(dtype: DType): string {
  return `${dtype === 'f16' ? 'enable f16;\n' : ''}alias T = ${dtype};\n`;
}

/** Throws a clear error when a tensor does not have the expected shape or dtype. */
export function expectShape(op: string, name: string, t: TensorView, shape: readonly number[], dtype?: DType): void {
  const ok = t.shape.length === shape.length && t.shape.every((d, i) => d === shape[i]);
  if (!ok) throw new Error(`${op}: '${name}' has shape [${t.shape}] but [${shape}] is required`);
  if (dtype && t.dtype !== dtype) throw new Error(`${op}: '${name}' is ${t.dtype} but ${dtype} is required`);
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

/** Allocates a tensor in its own buffer (tests and one-off work; the graph uses its own arena). */
export function allocTensor(ctx: GpuContext, shape: readonly number[], dtype: DType, label?: string): TensorView {
  return { buffer: ctx.createBuffer(numel(shape) * DTYPE_BYTES[dtype], label), offset: 0, shape: [...shape], dtype };
}
