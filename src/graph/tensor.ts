// Symbolic tensors: what the graph builder hands around. They carry shape, dtype and where their storage comes
// from (graph input, weight, constant, or an activation produced by an op); they own no GPU memory. The
// executor turns each into a TensorView (buffer + byte offset) after memory planning.
import { DTYPE_BYTES, type DType, numel } from '../gpu/kernel.js';

export type TensorRole = 'input' | 'weight' | 'constant' | 'activation';

export interface TensorAlias {
  /** The tensor whose storage this one reuses (a reshape, or a row slice at a byte offset). */
  base: Tensor;
  byteOffset: number;
}

export class Tensor {
  constructor(
    /** Unique within its graph. */
    readonly id: number,
    /** Owning graph's id: mixing tensors of two graphs is a build error, not a silent wrong binding. */
    readonly graphId: number,
    readonly name: string,
    readonly shape: readonly number[],
    readonly dtype: DType,
    readonly role: TensorRole,
    /** Index of the op that writes it (activations only). */
    readonly producer: number | null,
    readonly alias: TensorAlias | null = null,
  ) {
    for (const d of shape) {
      if (!Number.isInteger(d) || d < 1) throw new GraphShapeError(`tensor '${name}'`, `has invalid shape [${shape}]: every dimension must be a positive integer`);
    }
  }

  get numel(): number {
    return numel(this.shape);
  }

  get bytes(): number {
    return this.numel * DTYPE_BYTES[this.dtype];
  }

  get rank(): number {
    return this.shape.length;
  }

  /** Size of the last dimension. */
  get last(): number {
    return this.shape[this.shape.length - 1];
  }

  /** Product of all but the last dimension (the "rows" of a row-major matrix view). */
  get rows(): number {
    return this.numel / this.last;
  }

  /** The tensor that owns this one's bytes (views followed to the end) and this one's byte offset into it. */
  storageRoot(): { root: Tensor; byteOffset: number } {
    let byteOffset = 0;
    let root: Tensor = this;
    while (root.alias) {
      byteOffset += root.alias.byteOffset;
      root = root.alias.base;
    }
    return { root, byteOffset };
  }

  describe(): string {
    return `'${this.name}' [${this.shape.join(', ')}] ${this.dtype}`;
  }

  toString(): string {
    return this.describe();
  }
}

/** A shape problem found while building a graph: names the op, the tensors and what would be valid. */
export class GraphShapeError extends Error {
  constructor(op: string, detail: string) {
    super(`${op}: ${detail}`);
    this.name = 'GraphShapeError';
  }
}

export function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

export function shapeStr(s: readonly number[]): string {
  return `[${s.join(', ')}]`;
}
