// A named weight store: checkpoint loaders fill it (name -> TensorView), graphs declare weights by name and
// the executor resolves them at compile time, checking shape and dtype with a message naming the weight.
import type { GpuContext } from '../gpu/context.js';
import { allocTensor, byteSize, type DType, type TensorView } from '../gpu/kernel.js';
import { encodeHostData } from '../gpu/host-data.js';
import type { PackedWeight } from './packed.js';

export class WeightStore {
  private readonly views = new Map<string, TensorView>();
  private readonly owned = new Set<GPUBuffer>();
  /** Weights kept quantized on the GPU (resident mode): the executor expands each just before its readers. */
  private readonly packedViews = new Map<string, PackedWeight>();
  /** Released weights and why (release()). */
  private readonly released = new Map<string, string>();
  /**
   * int8 mode (a pipeline loaded with int8): once a weight's int8 form is made (graph/int8-weights.ts), its f16 form
   * is released, so the store holds the int8 copy instead of both. Off by default: a store that also serves f16
   * graphs (`dit bench model --int8` times both) must keep it.
   */
  releaseInt8Sources = false;

  set(name: string, view: TensorView): void {
    this.released.delete(name);
    this.packedViews.delete(name);
    this.views.set(name, view);
  }

  /** Registers a weight kept in its checkpoint encoding on the GPU (graph/packed.ts). */
  setPacked(name: string, w: PackedWeight): void {
    this.views.delete(name);
    this.packedViews.set(name, w);
  }

  get(name: string): TensorView {
    const v = this.views.get(name);
    if (!v) {
      if (this.released.has(name)) throw new Error(`weight '${name}' was released: ${this.released.get(name)}`);
      if (this.packedViews.has(name)) {
        throw new Error(`weight '${name}' is kept quantized on the GPU (${this.packedViews.get(name)!.format}, weights mode 'resident'): only compiled graphs read it (expanded at use); load with weights mode 'expand' to get an f16 tensor`);
      }
      throw new Error(`weight '${name}' is not in the store${this.hint(name)}`);
    }
    return v;
  }

  /** The packed weight of that name, or undefined when it is a plain tensor (or absent). */
  packed(name: string): PackedWeight | undefined {
    return this.packedViews.get(name);
  }

  has(name: string): boolean {
    return this.views.has(name) || this.packedViews.has(name);
  }

  names(): string[] {
    return [...this.views.keys(), ...this.packedViews.keys()];
  }

  get size(): number {
    return this.views.size + this.packedViews.size;
  }

  /** Bytes of all distinct weights (what they occupy on the GPU; packed weights count their packed bytes). */
  get totalBytes(): number {
    let s = 0;
    for (const v of this.views.values()) s += byteSize(v);
    for (const w of this.packedViews.values()) s += w.bytes;
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

  /** Registers a tensor whose buffer this store now owns (freed by destroy), e.g. a derived int8 weight. */
  adopt(name: string, view: TensorView): void {
    this.owned.add(view.buffer);
    this.set(name, view);
  }

  /**
   * Destroys a plain weight's GPU buffer and forgets it (get() then says why), unless another entry shares the
   * buffer. Returns whether it was released.
   */
  release(name: string, why: string): boolean {
    const v = this.views.get(name);
    if (!v) return false;
    for (const [other, w] of this.views) if (other !== name && w.buffer === v.buffer) return false;
    this.views.delete(name);
    this.owned.delete(v.buffer);
    v.buffer.destroy();
    this.released.set(name, why);
    return true;
  }

  /** Why a weight is gone (release()), or undefined. */
  releasedWhy(name: string): string | undefined {
    return this.released.get(name);
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
    this.packedViews.clear();
  }

  private hint(name: string): string {
    const tail = name.split('.').slice(-2).join('.');
    const close = this.names().filter((n) => n.endsWith(tail)).slice(0, 3);
    return close.length ? ` (similar names present: ${close.join(', ')})` : this.views.size === 0 ? ' (the store is empty)' : '';
  }
}
