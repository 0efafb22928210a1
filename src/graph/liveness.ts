// From a built graph to the memory planner's input: which tensors share storage (views, in-place ops), when
// each storage is first written and last read, and which storages one op both reads and writes (they must sit
// in different arena buffers; see memory-planner.ts for why).
import type { Graph, OpNode } from './graph.js';
import type { BufferRequest } from './memory-planner.js';
import type { Tensor } from './tensor.js';

export interface Storage {
  /** Root tensor id: the tensor whose request the planner places. */
  root: number;
  /** Byte offset of this tensor inside the root's storage. */
  byteOffset: number;
}

export interface Liveness {
  /** Arena storage (graph inputs and activations) for every tensor id that has it. */
  storageOf: Map<number, Storage>;
  requests: BufferRequest[];
  conflicts: [number, number][];
  /** Ops whose optional in-place hint was taken: op id -> output index list. */
  inPlaceTaken: Map<number, number[]>;
}

export class GraphBuildError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'GraphBuildError';
  }
}


export interface LivenessOptions {
  /**
   * Let ops flagged sharedBufferOk read from the arena they write (their kernel then binds those inputs
   * read_write). Saves a little memory (FLUX.1 1024^2: 409.5 -> 382.5 MiB) at the price of read_write input
   * bindings in matmul (the driver loses the read-only hint) and more pipeline variants. Default false.
   */
  shareBuffers?: boolean;
  /**
   * Weight tensors (root ids) that are kept quantized and expanded at use (graph/packed.ts): their f16 form gets
   * arena storage alive from the first op that reads them to the last, like an activation written just before
   * its first reader. Views of them (reshape, row slices) follow.
   */
  transientWeights?: ReadonlySet<number>;
}

export function analyzeLiveness(graph: Graph, opts: LivenessOptions = {}): Liveness {
  const n = graph.ops.length;
  const END = Math.max(n - 1, 0);
  // Follow views to the tensor that owns the bytes.
  const viewRoot = (t: Tensor): Storage => {
    const { root, byteOffset } = t.storageRoot();
    return { root: root.id, byteOffset };
  };
  const transient = opts.transientWeights ?? new Set<number>();
  const isArena = (t: Tensor): boolean => t.role === 'input' || t.role === 'activation' || (transient.size > 0 && t.role === 'weight' && transient.has(viewRoot(t).root));

  // In-place merges: output root -> (input's storage). Union-find over root ids for the lifetime groups.
  const parent = new Map<number, number>();
  const find = (x: number): number => {
    let r = x;
    while (parent.has(r)) r = parent.get(r)!;
    return r;
  };
  const inPlaceMap = new Map<number, Storage>();
  const resolve = (t: Tensor): Storage => {
    let s = viewRoot(t);
    for (let m = inPlaceMap.get(s.root); m; m = inPlaceMap.get(s.root)) {
      s = { root: m.root, byteOffset: s.byteOffset + m.byteOffset };
    }
    return s;
  };

  // Lifetimes per view root, before in-place merging.
  const start = new Map<number, number>();
  const end = new Map<number, number>();
  const touch = (root: number, i: number) => {
    start.set(root, Math.min(start.get(root) ?? i, i));
    end.set(root, Math.max(end.get(root) ?? i, i));
  };
  for (const t of graph.inputs.values()) {
    touch(t.id, 0);
    touch(t.id, END); // inputs persist so a plan can run again without setting them anew
  }
  for (const op of graph.ops) {
    for (const t of op.inputs) if (isArena(t)) touch(viewRoot(t).root, op.id);
    for (const t of op.outputs) if (isArena(t)) touch(viewRoot(t).root, op.id);
  }
  for (const t of graph.outputs.values()) if (isArena(t)) touch(viewRoot(t).root, END);

  const groupEnd = (root: number): number => end.get(find(root)) ?? -1;
  const rootRole = (root: number): Tensor => graph.tensors[root];

  const inPlaceTaken = new Map<number, number[]>();
  for (const op of graph.ops) {
    for (const h of op.inPlace) {
      const out = op.outputs[h.output];
      const inStorage = resolve(h.input);
      const inGroup = find(inStorage.root);
      const why = inPlaceRefusal(graph, op, h.input, inStorage.root, inGroup, groupEnd(inStorage.root), resolve, find);
      if (why) {
        if (h.required) {
          throw new GraphBuildError(`${op.label} must write ${out.describe()} in place over ${h.input.describe()}, but ${why}`);
        }
        continue;
      }
      const outRoot = viewRoot(out).root;
      inPlaceMap.set(outRoot, inStorage);
      // Merge lifetimes: the group now lives until the output's last use.
      const outGroup = find(outRoot);
      if (outGroup !== inGroup) {
        parent.set(outGroup, inGroup);
        start.set(inGroup, Math.min(start.get(inGroup)!, start.get(outGroup) ?? op.id));
        end.set(inGroup, Math.max(end.get(inGroup)!, end.get(outGroup) ?? op.id));
      }
      inPlaceTaken.set(op.id, [...(inPlaceTaken.get(op.id) ?? []), h.output]);
    }
  }

  const storageOf = new Map<number, Storage>();
  const requests = new Map<number, BufferRequest>();
  for (const t of graph.tensors) {
    if (!isArena(t)) continue;
    const s = resolve(t);
    storageOf.set(t.id, s);
    const root = rootRole(s.root);
    if (s.byteOffset + t.bytes > root.bytes) {
      throw new GraphBuildError(`${t.describe()} at byte ${s.byteOffset} overruns its storage ${root.describe()}`);
    }
    const g = find(s.root);
    if (!requests.has(s.root)) {
      requests.set(s.root, { id: s.root, label: root.name, bytes: root.bytes, start: start.get(g) ?? 0, end: end.get(g) ?? 0 });
    }
  }

  const conflictSet = new Set<string>();
  const conflicts: [number, number][] = [];
  for (const op of graph.ops) {
    if (op.exec.type !== 'kernel' && op.exec.type !== 'copy') continue;
    if (op.exec.type === 'kernel' && op.sharedBufferOk && opts.shareBuffers) continue;
    const taken = new Set((inPlaceTaken.get(op.id) ?? []).map((k) => op.inPlace.find((h) => h.output === k)!.input));
    const reads = new Set<number>();
    const writes = new Set<number>();
    for (const t of op.inputs) if (isArena(t) && !taken.has(t)) reads.add(storageOf.get(t.id)!.root);
    for (const t of op.outputs) writes.add(storageOf.get(t.id)!.root);
    for (const r of reads) {
      for (const w of writes) {
        if (r === w) {
          throw new GraphBuildError(`${op.label} reads and writes the same storage (${graph.tensors[r].describe()}) through different bindings`);
        }
        const key = r < w ? `${r},${w}` : `${w},${r}`;
        if (!conflictSet.has(key)) {
          conflictSet.add(key);
          conflicts.push([r, w]);
        }
      }
    }
  }
  return { storageOf, requests: [...requests.values()], conflicts, inPlaceTaken };
}

function inPlaceRefusal(
  graph: Graph,
  op: OpNode,
  input: Tensor,
  inRoot: number,
  inGroup: number,
  lastUse: number,
  resolve: (t: Tensor) => Storage,
  find: (x: number) => number,
): string | null {
  const root = graph.tensors[inRoot];
  if (root.role === 'input') return `${input.describe()} is a graph input (inputs are kept intact so runs can repeat)`;
  if (root.role !== 'activation') return `${input.describe()} is a ${root.role}`;
  if ([...graph.outputs.values()].some((o) => o.role !== 'weight' && o.role !== 'constant' && find(resolve(o).root) === inGroup)) {
    return `${input.describe()} is a graph output`;
  }
  if (lastUse > op.id) {
    const later = graph.ops.find((o) => o.id > op.id && o.inputs.some((t) => (t.role === 'activation' || t.role === 'input') && find(resolve(t).root) === inGroup));
    return `it is still read later by ${later?.label ?? 'a later op'}`;
  }
  const others = op.inputs.filter((t) => t !== input && (t.role === 'activation' || t.role === 'input') && find(resolve(t).root) === inGroup);
  if (others.length) return `the op also reads ${others[0].describe()} from the same storage`;
  return null;
}
