// Reuses GPU buffers by size class and usage. Creating and destroying buffers per readback, per upload chunk or
// per request costs driver calls and fragments memory; the pool hands back a released buffer of the same class.
// Size classes are powers of two up to 1 MiB, then multiples of 1/8 of the next power of two, so at most
// 12.5% is wasted on large buffers.

export function sizeClass(bytes: number): number {
  const b = Math.max(256, Math.ceil(bytes));
  const pow = 2 ** Math.ceil(Math.log2(b));
  if (pow <= 2 ** 20) return pow;
  const step = pow / 8;
  return Math.ceil(b / step) * step;
}

export class BufferPool {
  private readonly free = new Map<string, GPUBuffer[]>();
  private readonly owned = new Set<GPUBuffer>();
  private pooledBytes = 0;

  constructor(
    private readonly device: GPUDevice,
    /** Released buffers beyond this many bytes are destroyed instead of kept. */
    private readonly maxPooledBytes = 1 << 30,
  ) {}

  acquire(bytes: number, usage: GPUBufferUsageFlags, label?: string): GPUBuffer {
    const size = sizeClass(bytes);
    const key = `${usage}:${size}`;
    const list = this.free.get(key);
    const hit = list?.pop();
    if (hit) {
      this.pooledBytes -= size;
      return hit;
    }
    const buf = this.device.createBuffer({ label, size, usage });
    this.owned.add(buf);
    return buf;
  }

  release(buf: GPUBuffer): void {
    if (!this.owned.has(buf)) throw new Error('BufferPool.release: buffer was not acquired from this pool');
    if (buf.mapState !== 'unmapped') buf.unmap();
    if (this.pooledBytes + buf.size > this.maxPooledBytes) {
      this.owned.delete(buf);
      buf.destroy();
      return;
    }
    const key = `${buf.usage}:${buf.size}`;
    let list = this.free.get(key);
    if (!list) this.free.set(key, (list = []));
    list.push(buf);
    this.pooledBytes += buf.size;
  }

  /** Bytes held in released buffers, ready for reuse. */
  get idleBytes(): number {
    return this.pooledBytes;
  }

  destroy(): void {
    for (const b of this.owned) b.destroy();
    this.owned.clear();
    this.free.clear();
    this.pooledBytes = 0;
  }
}
