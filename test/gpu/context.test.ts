import { describe, expect, it } from 'vitest';
import { testContext } from '../helpers/gpu.js';
import { GpuUnavailableError, ShaderCompileError } from '../../src/gpu/errors.js';
import { GpuContext, listAdapters } from '../../src/gpu/context.js';
import { allocTensor } from '../../src/gpu/kernel.js';
import { timeCalls } from '../../src/gpu/timer.js';
import { randomFill } from '../../src/kernels-wgsl/random-fill.js';

describe('GpuContext', () => {
  it('opens a real adapter with f16 and reports capabilities', async () => {
    const ctx = await testContext();
    expect(ctx.caps.f16).toBe(true);
    expect(ctx.caps.limits.maxStorageBufferBindingSize).toBeGreaterThan(0);
    expect(typeof ctx.caps.adapterName).toBe('string');
  });

  it('round-trips data through upload and readback', async () => {
    const ctx = await testContext();
    const data = Float32Array.from({ length: 1000 }, (_, i) => i * 0.5 - 17);
    const buf = ctx.upload(data);
    const back = new Float32Array(await ctx.readback(buf, data.byteLength));
    expect(Array.from(back)).toEqual(Array.from(data));
  });

  it('reports WGSL errors with the line and the numbered source', async () => {
    const ctx = await testContext();
    const bad = '@compute @workgroup_size(1) fn main() {\n  let x: u32 = undefined_thing;\n}';
    await expect(ctx.pipeline('bad-kernel', bad)).rejects.toThrow(ShaderCompileError);
    await expect(ctx.pipeline('bad-kernel', bad)).rejects.toThrow(/line 2/);
  });

  it('times passes at full timestamp resolution (Dawn quantizes to 2^16 ns unless told not to)', async () => {
    const ctx = await testContext();
    if (!ctx.caps.timestampQuery) return; // the wall-clock fallback has no quantum to check
    const out = allocTensor(ctx, [1 << 14], 'f32');
    const t = await timeCalls(ctx, [await randomFill(ctx, { out, seed: 1 })], { warmup: 1, reps: 12 });
    expect(t.method).toBe('timestamp');
    // Quantized, every sample is a whole number of 65.536 µs; exact, 12 such samples in a row do not happen.
    const quantum = 65536e-6;
    const whole = t.samplesMs.filter((ms) => Math.abs(ms / quantum - Math.round(ms / quantum)) < 1e-6);
    expect(whole.length, `samples ${t.samplesMs.map((x) => x.toFixed(6)).join(', ')} ms`).toBeLessThan(t.samplesMs.length);
  });

  it('lists the adapters Dawn sees', async () => {
    const adapters = await listAdapters();
    expect(adapters.length).toBeGreaterThan(0);
    expect(adapters[0]).toMatch(/^vulkan: /);
  });

  it('fails with an actionable error when no adapter matches', async () => {
    const err = await GpuContext.open({ adapterName: 'no-such-gpu-anywhere' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GpuUnavailableError);
    expect((err as Error).message).toMatch(/install-lavapipe\.sh/);
  });
});
