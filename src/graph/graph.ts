// The graph builder: symbolic tensors and the ops between them, recorded once in TypeScript. Shapes are
// inferred and checked here, at build time, so a wrong model definition fails with a message naming the op
// and tensors before any GPU work. Kernel-specific wrappers (ops/*.ts) are thin layers over `op()`.
//
// Four kinds of op execution:
//  - kernel: a launch function (src/kernels-wgsl) called once at compile time with the planned TensorViews;
//    its KernelCalls are replayed every run.
//  - copy:   buffer-to-buffer byte copies (contiguous row slices / concatenation), no shader.
//  - view:   no work; the output reuses the input's storage (reshape, aligned row slice).
//  - host:   a callback that runs between command-buffer submissions (readback, and later the NCCL bridge for
//            sequence-parallel collectives). The executor splits the graph into segments at host ops.
import type { GpuContext } from '../gpu/context.js';
import type { DType, KernelCall, TensorView } from '../gpu/kernel.js';
import { GraphShapeError, Tensor, type TensorRole, shapeStr } from './tensor.js';

/** Resolves a symbolic tensor to its planned GPU view (only valid inside launch / host callbacks). */
export type ViewOf = (t: Tensor) => TensorView;

export interface CopyRegion {
  src: Tensor;
  srcByteOffset: number;
  dst: Tensor;
  dstByteOffset: number;
  bytes: number;
}

/** What a host op gets: the device, planned views, and blocking read/write helpers. */
export interface HostRuntime {
  ctx: GpuContext;
  view: ViewOf;
  /** Reads a tensor after all work submitted so far (f16 decoded to numbers). */
  read(t: Tensor): Promise<Float32Array>;
  /** Writes host data into a tensor's storage (queue order: before any later submission). */
  write(t: Tensor, data: ArrayLike<number> | ArrayBufferView): void;
  /** The tensor's raw bytes (its dtype's encoding), after all work submitted so far. */
  readBytes(t: Tensor): Promise<Uint8Array>;
  /** Writes raw bytes (exactly t.bytes) into the tensor's storage. */
  writeBytes(t: Tensor, bytes: Uint8Array): void;
}

export type OpExec =
  | { type: 'kernel'; launch: (ctx: GpuContext, view: ViewOf) => Promise<KernelCall | KernelCall[]> }
  | { type: 'copy'; regions: CopyRegion[] }
  | { type: 'view' }
  | { type: 'host'; run: (host: HostRuntime) => Promise<void> };

/**
 * Output `output` may (required=false) or must (required=true) reuse the storage of `input`. Optional in-place
 * happens when `input` is not read after this op; required in-place (an op that fills part of an existing
 * tensor, e.g. the image half of a joint q/k/v) is a build error otherwise. Either way the kernel is handed the
 * SAME TensorView object for both, and must bind it once (read_write).
 */
export interface InPlaceHint {
  output: number;
  input: Tensor;
  required: boolean;
}

export interface OpNode {
  id: number;
  /** Kind for profiles and stats ('linear', 'attention', 'layer_norm', ...). */
  kind: string;
  /** Unique, scoped label ('block3/attn/linear#41'). */
  label: string;
  inputs: Tensor[];
  outputs: Tensor[];
  inPlace: InPlaceHint[];
  exec: OpExec;
  /**
   * The kernel binds inputs that live in its output's buffer read_write (kernels-wgsl/matmul does), so the
   * planner may put what it reads and what it writes in one arena. Default false: separate arenas.
   */
  sharedBufferOk: boolean;
}

export interface OutputSpec {
  name?: string;
  shape: readonly number[];
  dtype: DType;
}

export interface OpSpec {
  kind: string;
  /** Defaults to the kind. Scope prefix and '#id' suffix are added. */
  name?: string;
  inputs: (Tensor | null | undefined)[];
  outputs: OutputSpec[];
  inPlace?: InPlaceHint[];
  exec: OpExec;
  /** See OpNode.sharedBufferOk. */
  sharedBufferOk?: boolean;
}

export interface ConstantTensor {
  tensor: Tensor;
  /** Host data uploaded at compile time, or null for a constant derived from other parameters by `copies`. */
  data: ArrayLike<number> | null;
  copies?: CopyRegion[];
}

/** Weights and constants (and views of them): data that never changes between runs. */
function isParameter(t: Tensor): boolean {
  return t.role === 'weight' || t.role === 'constant';
}

let nextGraphId = 1;

export interface GraphOptions {
  /**
   * W8A8 linears (issue 13's optional int8 path): linear() ops whose weight name this accepts run as int8 x int8
   * GEMMs (per-token activation scales, per-output-feature weight scales). Off when absent.
   */
  int8Weights?: (weightName: string) => boolean;
}

/** The int8 form of a weight (graph/int8-weights.ts makes it from the f16 weight at compile time). */
export interface Int8WeightNames {
  source: string;
  /** [N, int8RowWords(K)] u32: 4 int8 per word. */
  q: string;
  /** [N] f32 per-row scales. */
  scale: string;
}

export class Graph {
  readonly id = nextGraphId++;
  readonly ops: OpNode[] = [];
  readonly tensors: Tensor[] = [];
  readonly inputs = new Map<string, Tensor>();
  readonly weights = new Map<string, Tensor>();
  readonly constants = new Map<string, ConstantTensor>();
  readonly outputs = new Map<string, Tensor>();
  private scopes: string[] = [];
  private readonly derivedBySignature = new Map<string, Tensor>();
  /** Int8 weights this graph reads, by the name of their q tensor: the executor derives missing ones. */
  readonly int8Weights = new Map<string, Int8WeightNames>();

  constructor(readonly name = 'graph', readonly options: GraphOptions = {}) {}

  // ---- leaves ---------------------------------------------------------------------------------------------

  /** A tensor the caller fills before each run (setInput). Kept alive for the whole run, so runs repeat. */
  input(name: string, shape: readonly number[], dtype: DType = 'f32'): Tensor {
    if (this.inputs.has(name)) throw new GraphShapeError(`input '${name}'`, 'declared twice; input names must be unique');
    const t = this.newTensor(name, shape, dtype, 'input', null);
    this.inputs.set(name, t);
    return t;
  }

  /**
   * Where a 2-D weight operand comes from: a named weight, or rows [start, start + count) of one (a row view, or
   * the compile-time copy an unaligned row slice makes). null for anything else (a concatenation, an activation).
   */
  weightRows(w: Tensor): { weight: Tensor; start: number; count: number } | null {
    if (w.rank !== 2) return null;
    const rowsOf = (root: Tensor, byteOffset: number) => {
      const rowBytes = root.bytes / root.shape[0];
      if (root.role !== 'weight' || this.weights.get(root.name) !== root || root.rank !== 2 || root.shape[1] !== w.shape[1] || root.dtype !== w.dtype) return null;
      if (byteOffset % rowBytes !== 0) return null;
      return { weight: root, start: byteOffset / rowBytes, count: w.shape[0] };
    };
    const { root, byteOffset } = w.storageRoot();
    if (root.role === 'weight') return rowsOf(root, byteOffset);
    const c = root.role === 'constant' ? this.constants.get(root.name) : undefined;
    if (root === w && c?.copies?.length === 1 && c.copies[0].dstByteOffset === 0 && c.copies[0].bytes === w.bytes) {
      const src = c.copies[0].src.storageRoot();
      return src.root.role === 'weight' ? rowsOf(src.root, src.byteOffset + c.copies[0].srcByteOffset) : null;
    }
    return null;
  }

  /**
   * The int8 form of rows [start, start + count) of named weight `w` ([N, K] f16) as two weights the executor
   * derives from the whole weight once per WeightStore: q [N, words] u32 and scale [N] f32 (`words` = K rounded
   * up to 16 int8, 4 per word), then row-sliced (the scales are per row, so a row slice of the int8 weight is
   * the int8 form of the row slice).
   */
  int8Weight(w: Tensor, words: number, rows?: { start: number; count: number }): { q: Tensor; scale: Tensor } {
    if (w.role !== 'weight' || this.weights.get(w.name) !== w) throw new GraphShapeError(`int8 weight '${w.name}'`, 'only a named weight can be quantized');
    const names: Int8WeightNames = { source: w.name, q: `${w.name}#int8`, scale: `${w.name}#int8.scale` };
    this.int8Weights.set(names.q, names);
    const q = this.weight(names.q, [w.shape[0], words], 'u32');
    const scale = this.weight(names.scale, [w.shape[0]], 'f32');
    if (!rows || (rows.start === 0 && rows.count === w.shape[0])) return { q, scale };
    return { q: this.sliceRows(q, rows.start, rows.count), scale: this.sliceRows(scale, rows.start, rows.count) };
  }

  /** A named weight resolved from the WeightStore at compile time (shape and dtype checked then). */
  weight(name: string, shape: readonly number[], dtype: DType = 'f16'): Tensor {
    const prev = this.weights.get(name);
    if (prev) {
      if (prev.dtype !== dtype || shapeStr(prev.shape) !== shapeStr(shape)) {
        throw new GraphShapeError(`weight '${name}'`, `declared as ${prev.describe()} and again as [${shape}] ${dtype}`);
      }
      return prev;
    }
    const t = this.newTensor(name, shape, dtype, 'weight', null);
    this.weights.set(name, t);
    return t;
  }

  /** Host data uploaded once at compile time (RoPE tables, position embeddings, ...). */
  constant(name: string, data: ArrayLike<number>, shape: readonly number[], dtype: DType = 'f32'): Tensor {
    if (this.constants.has(name)) throw new GraphShapeError(`constant '${name}'`, 'declared twice');
    const t = this.newTensor(name, shape, dtype, 'constant', null);
    if (data.length !== t.numel) throw new GraphShapeError(`constant '${name}'`, `has ${data.length} values but shape [${shape}] holds ${t.numel}`);
    this.constants.set(name, { tensor: t, data });
    return t;
  }

  /** Marks a tensor as a named result: kept alive to the end of the run and readable afterwards. */
  output(name: string, t: Tensor): Tensor {
    this.own(t, `output '${name}'`);
    if (this.outputs.has(name)) throw new GraphShapeError(`output '${name}'`, 'declared twice');
    if (t.role === 'weight' || t.role === 'constant') throw new GraphShapeError(`output '${name}'`, `${t.describe()} is a ${t.role}, not a computed tensor`);
    this.outputs.set(name, t);
    return t;
  }

  // ---- ops ------------------------------------------------------------------------------------------------

  /** Runs `fn` with a label prefix: ops and tensors created inside are named 'scope/...'. */
  scope<R>(name: string, fn: () => R): R {
    this.scopes.push(name);
    try {
      return fn();
    } finally {
      this.scopes.pop();
    }
  }

  /** Adds an op; returns its output tensors. Wrappers validate shapes before calling this. */
  op(spec: OpSpec): Tensor[] {
    const id = this.ops.length;
    const label = `${this.prefix()}${spec.name ?? spec.kind}#${id}`;
    const inputs = spec.inputs.filter((t): t is Tensor => t != null);
    for (const t of inputs) this.own(t, label);
    const outputs = spec.outputs.map((o, k) =>
      this.newTensor(o.name ? `${this.prefix()}${o.name}` : `${label}:${k}`, o.shape, o.dtype, 'activation', id),
    );
    const inPlace = (spec.inPlace ?? []).map((h) => {
      if (!inputs.includes(h.input)) throw new Error(`${label}: in-place input ${h.input.describe()} is not among the op's inputs`);
      const out = outputs[h.output];
      if (!out) throw new Error(`${label}: in-place output index ${h.output} out of range`);
      if (out.bytes > h.input.bytes) throw new GraphShapeError(label, `in-place output ${out.describe()} is larger than ${h.input.describe()}`);
      return h;
    });
    this.ops.push({ id, kind: spec.kind, label, inputs, outputs, inPlace, exec: spec.exec, sharedBufferOk: spec.sharedBufferOk ?? false });
    return outputs;
  }

  /** Same bytes, new shape (no work). */
  reshape(t: Tensor, shape: readonly number[], name?: string): Tensor {
    const label = `${this.prefix()}reshape#${this.ops.length}`;
    this.own(t, label);
    const n = shape.reduce((a, b) => a * b, 1);
    if (n !== t.numel) throw new GraphShapeError(label, `cannot reshape ${t.describe()} (${t.numel} elements) to ${shapeStr(shape)} (${n} elements)`);
    return this.aliasOp('reshape', t, shape, t.dtype, 0, name);
  }

  /**
   * Rows [start, start+count) of the first dimension. Free (a view) when the byte offset is 256-aligned, as
   * WebGPU bindings require; otherwise a copy into a fresh tensor.
   */
  sliceRows(t: Tensor, start: number, count: number, name?: string): Tensor {
    const label = `${this.prefix()}slice_rows#${this.ops.length}`;
    this.own(t, label);
    if (!(Number.isInteger(start) && Number.isInteger(count) && start >= 0 && count >= 1 && start + count <= t.shape[0])) {
      throw new GraphShapeError(label, `rows [${start}, ${start + count}) out of range for ${t.describe()}`);
    }
    const shape = [count, ...t.shape.slice(1)];
    const rowBytes = t.bytes / t.shape[0];
    const offset = start * rowBytes;
    if (offset % 256 === 0) return this.aliasOp('slice_rows', t, shape, t.dtype, offset, name);
    if (isParameter(t)) {
      return this.derivedConstant(name ?? `${t.name}[${start}:${start + count}]`, shape, t.dtype, [
        { src: t, srcByteOffset: offset, bytes: count * rowBytes },
      ]);
    }
    const [out] = this.op({
      kind: 'copy',
      name: name ?? 'slice_rows',
      inputs: [t],
      outputs: [{ shape, dtype: t.dtype, name }],
      exec: { type: 'copy', regions: [] },
    });
    this.patchCopy(out, [{ src: t, srcByteOffset: offset, dst: out, dstByteOffset: 0, bytes: count * rowBytes }]);
    return out;
  }

  /** Concatenation along the first dimension (e.g. text then image tokens for batch 1), by byte copies. */
  concatRows(parts: Tensor[], name?: string): Tensor {
    const label = `${this.prefix()}concat_rows#${this.ops.length}`;
    if (parts.length === 0) throw new GraphShapeError(label, 'needs at least one tensor');
    const [first] = parts;
    for (const p of parts) {
      this.own(p, label);
      if (p.dtype !== first.dtype || shapeStr(p.shape.slice(1)) !== shapeStr(first.shape.slice(1))) {
        throw new GraphShapeError(label, `all parts must share dtype and trailing dims; ${p.describe()} vs ${first.describe()}`);
      }
    }
    const rows = parts.reduce((s, p) => s + p.shape[0], 0);
    if (parts.every(isParameter)) {
      // e.g. SD3's separate to_q/to_k/to_v weights fused into one [3C, C] projection, once, at compile time.
      let at = 0;
      const srcs = parts.map((p) => {
        const r = { src: p, srcByteOffset: 0, bytes: p.bytes, dstByteOffset: at };
        at += p.bytes;
        return r;
      });
      return this.derivedConstant(name ?? `concat(${parts.map((p) => p.name).join(',')})`, [rows, ...first.shape.slice(1)], first.dtype, srcs);
    }
    const [out] = this.op({
      kind: 'copy',
      name: name ?? 'concat_rows',
      inputs: parts,
      outputs: [{ shape: [rows, ...first.shape.slice(1)], dtype: first.dtype, name }],
      exec: { type: 'copy', regions: [] },
    });
    let at = 0;
    const regions = parts.map((p) => {
      const r = { src: p, srcByteOffset: 0, dst: out, dstByteOffset: at, bytes: p.bytes };
      at += p.bytes;
      return r;
    });
    this.patchCopy(out, regions);
    return out;
  }

  /**
   * A callback between submissions. `reads` are kept alive until it runs; `writes` are new tensors it fills
   * (e.g. a collective's result) via host.write or its own GPU copies.
   */
  hostOp(name: string, reads: Tensor[], writes: OutputSpec[], run: (host: HostRuntime, outs: Tensor[]) => Promise<void>): Tensor[] {
    const holder: { outs: Tensor[] } = { outs: [] };
    holder.outs = this.op({ kind: 'host', name, inputs: reads, outputs: writes, exec: { type: 'host', run: (h) => run(h, holder.outs) } });
    return holder.outs;
  }

  /** Build-time check with a message naming the op. */
  check(cond: boolean, op: string, detail: () => string): asserts cond {
    if (!cond) throw new GraphShapeError(op, detail());
  }

  /** The label the next op will get (wrappers use it in their shape errors). */
  nextLabel(kind: string, name?: string): string {
    return `${this.prefix()}${name ?? kind}#${this.ops.length}`;
  }

  // ---- internals ------------------------------------------------------------------------------------------

  /**
   * A constant made of byte ranges of weights/constants, filled once by GPU copies at compile time (a slice or
   * concatenation of parameters must not cost a copy every step).
   */
  private derivedConstant(
    name: string,
    shape: readonly number[],
    dtype: DType,
    srcs: { src: Tensor; srcByteOffset: number; bytes: number; dstByteOffset?: number }[],
  ): Tensor {
    // The same slice/concatenation asked for twice is one constant.
    const signature = `${dtype}[${shape}]<-${srcs.map((r) => `${r.src.id}@${r.srcByteOffset}+${r.bytes}>${r.dstByteOffset ?? 0}`).join(',')}`;
    const same = this.derivedBySignature.get(signature);
    if (same) return same;
    let full = `${this.prefix()}${name}`;
    for (let k = 2; this.constants.has(full); k++) full = `${this.prefix()}${name}~${k}`;
    const t = this.newTensor(full, shape, dtype, 'constant', null);
    const regions = srcs.map((r) => ({ src: r.src, srcByteOffset: r.srcByteOffset, dst: t, dstByteOffset: r.dstByteOffset ?? 0, bytes: r.bytes }));
    this.constants.set(full, { tensor: t, data: null, copies: regions });
    this.derivedBySignature.set(signature, t);
    return t;
  }

  private aliasOp(kind: string, base: Tensor, shape: readonly number[], dtype: DType, byteOffset: number, name?: string): Tensor {
    const id = this.ops.length;
    const label = `${this.prefix()}${kind}#${id}`;
    const role: TensorRole = base.role === 'input' || base.role === 'activation' ? 'activation' : base.role;
    const t = new Tensor(this.tensors.length, this.id, name ? `${this.prefix()}${name}` : `${label}:0`, shape, dtype, role, id, { base, byteOffset });
    this.tensors.push(t);
    this.ops.push({ id, kind, label, inputs: [base], outputs: [t], inPlace: [], exec: { type: 'view' }, sharedBufferOk: true });
    return t;
  }

  private patchCopy(out: Tensor, regions: CopyRegion[]): void {
    const node = this.ops[out.producer!];
    node.exec = { type: 'copy', regions };
  }

  private newTensor(name: string, shape: readonly number[], dtype: DType, role: TensorRole, producer: number | null): Tensor {
    const t = new Tensor(this.tensors.length, this.id, name, [...shape], dtype, role, producer);
    this.tensors.push(t);
    return t;
  }

  private own(t: Tensor, where: string): void {
    if (!(t instanceof Tensor) || t.graphId !== this.id || this.tensors[t.id] !== t) {
      throw new Error(`${where}: tensor ${String((t as Tensor)?.name)} does not belong to graph '${this.name}'`);
    }
  }

  private prefix(): string {
    return this.scopes.length ? `${this.scopes.join('/')}/` : '';
  }
}
