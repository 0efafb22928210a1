import { describe, expect, it } from 'vitest';
import { BufferPool, sizeClass } from '../../src/gpu/buffer-pool.js';
import { testContext } from '../helpers/gpu.js';

describe('sizeClass', () => {
  it('rounds small sizes to powers of two and large ones to eighths', () => {
    expect(sizeClass(1)).toBe(256);
    expect(sizeClass(300)).toBe(512);
    expect(sizeClass(2 ** 20)).toBe(2 ** 20);
    expect(sizeClass(2 ** 20 + 1)).toBe(2 ** 20 + 2 ** 18);
    for (const b of [3e6, 7.7e7, 1.23e9]) {
      const c = sizeClass(b);
      expect(c).toBeGreaterThanOrEqual(b);
      expect(c / b).toBeLessThanOrEqual(1.25);
    }
  });
});

describe('BufferPool', () => {
  it('reuses released buffers of the same class and usage', async () => {
    const ctx = await testContext();
    const pool = new BufferPool(ctx.device);
    const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST;
    const a = pool.acquire(1000, usage);
    pool.release(a);
    expect(pool.idleBytes).toBe(1024);
    expect(pool.acquire(900, usage)).toBe(a);
    expect(pool.acquire(900, usage)).not.toBe(a);
    expect(pool.acquire(900, GPUBufferUsage.STORAGE)).not.toBe(a);
    pool.destroy();
  });

  it('refuses buffers it does not own and bounds what it keeps', async () => {
    const ctx = await testContext();
    const pool = new BufferPool(ctx.device, 4096);
    expect(() => pool.release(ctx.createBuffer(64))).toThrow(/not acquired/);
    const bufs = [0, 1, 2].map(() => pool.acquire(2048, GPUBufferUsage.STORAGE));
    bufs.forEach((b) => pool.release(b));
    expect(pool.idleBytes).toBe(4096);
    pool.destroy();
  });

  it('serves repeated readbacks of different sizes correctly', async () => {
    const ctx = await testContext();
    for (const n of [3, 1000, 17, 4096]) {
      const data = Float32Array.from({ length: n }, (_, i) => i + n);
      const buf = ctx.upload(data);
      expect(Array.from(new Float32Array(await ctx.readback(buf, data.byteLength)))).toEqual(Array.from(data));
    }
  });
});
