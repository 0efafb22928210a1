// A named weight store: checkpoint loaders fill it (name -> TensorView), graphs declare weights by name and
// the executor resolves them at compile time, checking shape and dtype with a message naming the weight.
import type { GpuContext } from '../gpu/context.js';
import { allocTensor, byteSize, type DType, type TensorView } from '../gpu/kernel.js';
import { encodeHostData } from '../gpu/host-data.js';

export class WeightStore {
  private readonly views = new Map<string, TensorView>();
  private readonly owned = new Set<GPUBuffer>();

  set(name: string, view: TensorView): void {
    this.views.set(name, view);
  }

  get(name: string): TensorView {
    const v = this.views.get(name);
    if (!v) throw new Error(`weight '${name}' is not in the store${this.hint(name)}`);
    return v;
  }

  has(name: string): boolean {
    return this.views.has(name);
  }

  names(): string[] {
    return [...this.views.keys()];
  }

  get size(): number {
    return this.views.size;
  }

  /** Bytes of all distinct weights (what they occupy on the GPU). */
  get totalBytes(): number {
    let s = 0;
    for (const v of this.views.values()) s += byteSize(v);
    return s;
  }

  /** Uploads host numbers as a weight in its own buffer (tests, tiny models, small constants). */
  upload(ctx: GpuContext, name: string, data: ArrayLike<number>, shape: readonly number[], dtype: DType = 'f16'): TensorView {
    const n = shape.reduce((a, b) => a * b, 1);
    if (data.length !== n) throw new Error(`weight '${name}': ${data.length} values for shape [${shape}] (${n} expected)`);
    const t = allocTensor(ctx, shape, dtype, name);
    ctx.write(t.buffer, encodeHostData(dtype, data, `weight '${name}'`));
    this.owned.add(t.buffer);
    this.set(name, t);
    return t;
  }

  /** Checks a view against what a graph declared; returns the problem or null. */
  static mismatch(name: string, view: TensorView, shape: readonly number[], dtype: DType): string | null {
    const same = view.shape.length === shape.length && view.shape.every((d, i) => d === shape[i]);
    if (!same) return `weight '${name}' has shape [${view.shape}] but the graph needs [${shape}]`;
    if (view.dtype !== dtype) return `weight '${name}' is ${view.dtype} but the graph needs ${dtype}`;
    return null;
  }

  /** Frees the buffers this store allocated itself (loaders that bring their own buffers free those). */
  destroy(): void {
    for (const b of this.owned) b.destroy();
    this.owned.clear();
    this.views.clear();
  }

  private hint(name: string): string {
    const tail = name.split('.').slice(-2).join('.');
    const close = this.names().filter((n) => n.endsWith(tail)).slice(0, 3);
    return close.length ? ` (similar names present: ${close.join(', ')})` : this.views.size === 0 ? ' (the store is empty)' : '';
  }
}
