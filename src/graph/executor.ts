// compile(ctx, graph, weights) -> Plan: plans activation memory, resolves weights, calls every kernel's launch
// function ONCE with the planned TensorViews, and groups the resulting KernelCalls into segments separated by
// host ops. Plan.run() then only encodes (setPipeline/setBindGroup/dispatch per call) and submits one command
// buffer per segment: no shader generation, no bind-group creation, no allocation per step.
import type { GpuContext } from '../gpu/context.js';
import { byteSize, DTYPE_BYTES, encodeCalls, type KernelCall, type TensorView } from '../gpu/kernel.js';
import { decodeHostData, encodeHostData } from '../gpu/host-data.js';
import type { CopyRegion, Graph, HostRuntime, OpNode } from './graph.js';
import { analyzeLiveness, GraphBuildError, type Liveness } from './liveness.js';
import { type MemoryPlan, planMemory } from './memory-planner.js';
import { packedDequantCalls, type PackedWeight } from './packed.js';
import { deriveInt8Weights } from './int8-weights.js';
import type { Tensor } from './tensor.js';
import { WeightStore } from './weights.js';

export interface CompileOptions {
  /** Caps each arena buffer below the adapter's maxBufferSize (tests use it to force several arenas). */
  maxArenaBytes?: number;
  /** See LivenessOptions.shareBuffers (default false: every kernel input is bound read-only). */
  shareBuffers?: boolean;
}

export interface PlanStats {
  ops: number;
  dispatches: number;
  /** Distinct compiled pipelines this plan uses. */
  pipelines: number;
  copies: number;
  hostOps: number;
  /** Command buffers submitted per run (segments between host ops). */
  commandBuffers: number;
  arenaBytes: number[];
  /** Activation memory allocated (sum of arenas): inputs, intermediates and outputs. */
  activationBytes: number;
  /** Lower bound for activationBytes: the largest set of buffers alive at one op. */
  liveSetPeakBytes: number;
  /** Label of the op where that peak occurs. */
  liveSetPeakOp: string;
  /** Ops that wrote over their input's storage. */
  inPlaceOps: number;
  weightBytes: number;
  constantBytes: number;
  flops: number;
}

export interface OpTiming {
  label: string;
  kind: string;
  ms: number;
  flops: number;
  bytes: number;
}

/**
 * Op timings summed per group (`key` of each op; `kind` is the first op's), largest time first, with the group's
 * achieved TFLOP/s and GB/s: by kind in Plan.profile(), by role in the model benchmark.
 */
export function groupOpTimings(ops: OpTiming[], key: (o: OpTiming) => string): { key: string; kind: string; ms: number; count: number; tflops: number; gbps: number }[] {
  const groups = new Map<string, { key: string; kind: string; ms: number; count: number; flops: number; bytes: number }>();
  for (const o of ops) {
    const k = key(o);
    const g = groups.get(k) ?? { key: k, kind: o.kind, ms: 0, count: 0, flops: 0, bytes: 0 };
    g.ms += o.ms;
    g.count++;
    g.flops += o.flops;
    g.bytes += o.bytes;
    groups.set(k, g);
  }
  return [...groups.values()]
    .sort((a, b) => b.ms - a.ms)
    .map(({ key: k, kind, ms, count, flops, bytes }) => ({ key: k, kind, ms, count, tflops: ms > 0 ? flops / (ms * 1e9) : 0, gbps: ms > 0 ? bytes / (ms * 1e6) : 0 }));
}

export interface KindTiming {
  kind: string;
  ms: number;
  count: number;
  /** Share of the summed op time. */
  fraction: number;
  /** Achieved TFLOP/s where the kernels report flops. */
  tflops: number;
  /** Achieved GB/s from the kernels' minimum-bytes estimate. */
  gbps: number;
}

export interface Profile {
  /** Wall time of the profiled run (encode + GPU + host ops), ms. */
  wallMs: number;
  /** Sum of per-op GPU times (ms); 0 when the adapter has no timestamp queries. */
  gpuMs: number;
  method: 'timestamp' | 'unavailable';
  ops: OpTiming[];
  byKind: KindTiming[];
}

type Step =
  | { type: 'calls'; op: OpNode; calls: KernelCall[] }
  | { type: 'copy'; op: OpNode; regions: { src: GPUBuffer; srcOffset: number; dst: GPUBuffer; dstOffset: number; size: number }[] }
  | { type: 'host'; op: OpNode };

/** Plan.runTimed's timestamps: a begin and an end per compute pass, resolved and read back after the run. */
interface StepTimer {
  set: GPUQuerySet;
  resolve: GPUBuffer;
  read: GPUBuffer;
}

/** Ids of the weights and constants (storage roots) a graph's ops or outputs read, derived constants' sources included. */
function parametersRead(graph: Graph): Set<number> {
  const read = new Set<number>();
  // View ops (reshape, aligned row slices) do no work: whoever reads the view reads its root.
  for (const op of graph.ops) if (op.exec.type !== 'view') for (const t of op.inputs) if (t) read.add(t.storageRoot().root.id);
  for (const t of graph.outputs.values()) read.add(t.storageRoot().root.id);
  // A derived constant may copy from an earlier one: walk them in reverse declaration order.
  for (const c of [...graph.constants.values()].reverse()) {
    if (!c.copies || !read.has(c.tensor.id)) continue;
    for (const r of c.copies) read.add(r.src.storageRoot().root.id);
  }
  return read;
}

export async function compile(ctx: GpuContext, graph: Graph, weights: WeightStore, opts: CompileOptions = {}): Promise<Plan> {
  ctx.checkAlive();
  const limits = ctx.caps.limits;
  const align = Math.max(256, limits.minStorageBufferOffsetAlignment);

  // Weights first: a missing or mis-shaped weight is the most common user error; report all of them at once.
  // Int8 forms of weights (W8A8 linears) are derived here, once per store, before the weights are checked.
  const int8Problems = graph.int8Weights.size ? await deriveInt8Weights(ctx, graph, weights) : [];
  if (int8Problems.length) throw new GraphBuildError(`graph '${graph.name}' cannot make its int8 weights:\n  ${int8Problems.join('\n  ')}`);
  // Parameters no op reads are neither required nor bound: e.g. the f16 form of a weight whose linears all run in
  // int8 (graph.int8Weight), which a store in int8 mode has released. Read = the storage root of an op input or an
  // output, or a source of a derived constant that is itself read.
  const readRoots = parametersRead(graph);
  const problems: string[] = [];
  const weightViews = new Map<number, TensorView>();
  // Weights kept quantized on the GPU (weights mode 'resident'): tensor id -> packed weight.
  const packed = new Map<number, PackedWeight>();
  for (const [name, t] of graph.weights) {
    if (!readRoots.has(t.id)) continue;
    if (!weights.has(name)) {
      const gone = weights.releasedWhy(name);
      problems.push(gone ? `weight '${name}' was released: ${gone}` : `missing weight '${name}' ([${t.shape}] ${t.dtype})`);
      continue;
    }
    const pw = weights.packed(name);
    if (pw) {
      const bad = WeightStore.mismatch(name, { buffer: pw.buffer, offset: 0, shape: pw.shape, dtype: pw.dtype }, t.shape, t.dtype);
      if (bad) problems.push(`${bad} (it is kept quantized as ${pw.format} and expands to f16 only; load it with weights mode 'expand')`);
      else packed.set(t.id, pw);
      continue;
    }
    const v = weights.get(name);
    const bad = WeightStore.mismatch(name, v, t.shape, t.dtype);
    if (bad) problems.push(bad);
    else if (v.offset % limits.minStorageBufferOffsetAlignment !== 0) problems.push(`weight '${name}' sits at byte offset ${v.offset}, not a multiple of ${limits.minStorageBufferOffsetAlignment}`);
    else weightViews.set(t.id, v);
  }
  if (problems.length) throw new GraphBuildError(`graph '${graph.name}' cannot bind its weights:\n  ${problems.join('\n  ')}`);
  if (graph.outputs.size === 0) throw new GraphBuildError(`graph '${graph.name}' has no outputs: mark results with graph.output(name, tensor)`);

  // A packed weight's f16 form is a transient in the arena, written just before the first op that reads it
  // (directly or through a view) and alive until the last one: one layer's worth of f16 weights at a time.
  const firstReader = new Map<number, number>(); // packed weight tensor id -> op id
  for (const op of graph.ops) {
    for (const t of op.inputs) {
      const r = t.storageRoot().root;
      if (packed.has(r.id) && !firstReader.has(r.id)) firstReader.set(r.id, op.id);
    }
  }
  const live = analyzeLiveness(graph, { shareBuffers: opts.shareBuffers, transientWeights: new Set(firstReader.keys()) });
  const mem = planMemory(live.requests, {
    alignment: align,
    maxBindingBytes: limits.maxStorageBufferBindingSize,
    maxArenaBytes: Math.min(opts.maxArenaBytes ?? Infinity, limits.maxBufferSize),
    conflicts: live.conflicts,
  });
  const arenas = mem.arenaBytes.map((bytes, i) => ctx.createBuffer(bytes, `${graph.name}/arena${i}`));
  // Counters the dequant kernel bumps for NaN/inf data and saturation (checked at load; ignored per step).
  const dequantCounts = packed.size ? ctx.createBuffer(8, `${graph.name}/dequant-counts`) : null;
  if (dequantCounts) ctx.fill(dequantCounts, 0, 8);
  if (dequantCounts) arenas.push(dequantCounts);

  const constantBuffers: GPUBuffer[] = [];
  const constantViews = new Map<number, TensorView>();
  let constantBytes = 0;
  for (const [name, c] of graph.constants) {
    const t = c.tensor;
    if (c.copies && !readRoots.has(t.id)) continue; // a derived constant nothing reads (see parametersRead)
    const buf = ctx.createBuffer(t.bytes, `${graph.name}/${name}`);
    if (c.data) ctx.write(buf, encodeHostData(t.dtype, c.data, `constant '${name}'`));
    constantBuffers.push(buf);
    constantViews.set(t.id, { buffer: buf, offset: 0, shape: t.shape, dtype: t.dtype });
    constantBytes += t.bytes;
  }

  // One TensorView object per distinct (buffer, offset, shape, dtype): in-place ops get the identical object
  // for their input and output, which is how kernels know to bind it once.
  const bufferIds = new Map<GPUBuffer, number>();
  const viewCache = new Map<string, TensorView>();
  const view = (t: Tensor): TensorView => {
    if (t.graphId !== graph.id) throw new Error(`tensor ${t.describe()} belongs to another graph`);
    let buffer: GPUBuffer;
    let offset: number;
    if ((t.role === 'weight' || t.role === 'constant') && !live.storageOf.has(t.id)) {
      const { root, byteOffset: off } = t.storageRoot();
      const base = weightViews.get(root.id) ?? constantViews.get(root.id);
      if (!base) throw new Error(`no storage for ${t.describe()}`);
      buffer = base.buffer;
      offset = base.offset + off;
    } else {
      const s = live.storageOf.get(t.id);
      if (!s) throw new Error(`no planned storage for ${t.describe()}`);
      const p = mem.placements.get(s.root)!;
      buffer = arenas[p.arena];
      offset = p.offset + s.byteOffset;
    }
    if (!bufferIds.has(buffer)) bufferIds.set(buffer, bufferIds.size);
    const key = `${bufferIds.get(buffer)}:${offset}:${t.shape.join('x')}:${t.dtype}`;
    let v = viewCache.get(key);
    if (!v) {
      v = { buffer, offset, shape: t.shape, dtype: t.dtype };
      viewCache.set(key, v);
    }
    return v;
  };

  // Constants derived from parameters (unaligned weight slices, fused weight concatenations): copied once, in
  // declaration order (a derived constant may read an earlier one).
  const derived = [...graph.constants.values()].filter((c) => c.copies && readRoots.has(c.tensor.id));
  if (derived.length) {
    // A constant derived from a packed weight (an unaligned row slice, a concatenation of weights) is copied
    // from a temporary full f16 expansion of it, made once here: the constant itself is kept in f16.
    const temps = new Map<number, TensorView>();
    const pre: KernelCall[] = [];
    for (const c of derived) {
      for (const r of c.copies!) {
        const root = r.src.storageRoot().root;
        const pw = packed.get(root.id);
        if (!pw || temps.has(root.id)) continue;
        const tv: TensorView = { buffer: ctx.createBuffer(root.bytes, `${graph.name}/${root.name}.expanded`), offset: 0, shape: root.shape, dtype: root.dtype };
        temps.set(root.id, tv);
        pre.push(...(await packedDequantCalls(ctx, pw, tv, dequantCounts!)));
      }
    }
    const srcView = (t: Tensor): TensorView => {
      const { root, byteOffset } = t.storageRoot();
      const tv = temps.get(root.id);
      if (!tv) return view(t);
      return { buffer: tv.buffer, offset: byteOffset, shape: t.shape, dtype: t.dtype };
    };
    const enc = ctx.device.createCommandEncoder({ label: `${graph.name}/derived-constants` });
    if (pre.length) encodeCalls(enc, pre);
    for (const c of derived) {
      for (const r of c.copies!) {
        const x = resolveCopy({ label: `derived constant ${c.tensor.describe()}` } as OpNode, r, view, srcView);
        enc.copyBufferToBuffer(x.src, x.srcOffset, x.dst, x.dstOffset, x.size);
      }
    }
    ctx.device.queue.submit([enc.finish()]);
    if (temps.size) {
      await ctx.sync();
      for (const tv of temps.values()) tv.buffer.destroy();
    }
  }

  // Launch every kernel once; all pipelines compile concurrently. On failure the arenas are freed before the
  // error (prefixed with the op label) propagates.
  let launched: (KernelCall[] | null)[];
  const dequantBefore = new Map<number, Step[]>();
  try {
    launched = await Promise.all(
      graph.ops.map(async (op) => {
        if (op.exec.type !== 'kernel') return null;
        try {
          const r = await op.exec.launch(ctx, view);
          return Array.isArray(r) ? r : [r];
        } catch (e) {
          const err = e as Error;
          if (!err.message.startsWith(op.label)) err.message = `${op.label}: ${err.message}`;
          throw err;
        }
      }),
    );
    // The expansion of each packed weight read by the ops, encoded just before its first reader.
    for (const [id, opId] of firstReader) {
      const t = graph.tensors[id];
      const calls = await packedDequantCalls(ctx, packed.get(id)!, view(t), dequantCounts!);
      const node: OpNode = { id: opId, kind: 'dequant', label: `${t.name}/dequant`, inputs: [], outputs: [t], inPlace: [], exec: { type: 'view' }, sharedBufferOk: false };
      dequantBefore.set(opId, [...(dequantBefore.get(opId) ?? []), { type: 'calls', op: node, calls }]);
    }
  } catch (e) {
    for (const b of [...arenas, ...constantBuffers]) b.destroy();
    throw e;
  }

  const segments: Step[][] = [[]];
  let dispatches = 0;
  let copies = 0;
  let hostOps = 0;
  let flops = 0;
  const pipelines = new Set<GPUComputePipeline>();
  for (const op of graph.ops) {
    const seg = segments[segments.length - 1];
    for (const d of dequantBefore.get(op.id) ?? []) {
      if (d.type !== 'calls') continue;
      for (const c of d.calls) pipelines.add(c.pipeline);
      dispatches += d.calls.length;
      seg.push(d);
    }
    switch (op.exec.type) {
      case 'kernel': {
        const calls = launched[op.id]!;
        for (const c of calls) {
          pipelines.add(c.pipeline);
          flops += c.flops;
        }
        dispatches += calls.length;
        if (calls.length) seg.push({ type: 'calls', op, calls });
        break;
      }
      case 'copy':
        copies += op.exec.regions.length;
        seg.push({ type: 'copy', op, regions: op.exec.regions.map((r) => resolveCopy(op, r, view)) });
        break;
      case 'host':
        hostOps++;
        seg.push({ type: 'host', op });
        segments.push([]);
        break;
      case 'view':
        break;
    }
  }

  let weightBytes = 0;
  for (const v of weightViews.values()) weightBytes += byteSize(v);
  for (const w of new Set(packed.values())) weightBytes += w.bytes;
  const peakOp = graph.ops[Math.min(mem.liveSetPeakAt, graph.ops.length - 1)];
  const stats: PlanStats = {
    ops: graph.ops.length,
    dispatches,
    pipelines: pipelines.size,
    copies,
    hostOps,
    commandBuffers: segments.filter((s) => s.some((x) => x.type !== 'host')).length,
    arenaBytes: mem.arenaBytes,
    activationBytes: mem.totalBytes,
    liveSetPeakBytes: mem.liveSetPeakBytes,
    liveSetPeakOp: peakOp?.label ?? '',
    inPlaceOps: live.inPlaceTaken.size,
    weightBytes,
    constantBytes,
    flops,
  };
  return new Plan(ctx, graph, segments, view, stats, [...arenas, ...constantBuffers], mem, live);
}

function resolveCopy(op: OpNode, r: CopyRegion, view: (t: Tensor) => TensorView, srcView = view) {
  const s = srcView(r.src);
  const d = view(r.dst);
  const srcOffset = s.offset + r.srcByteOffset;
  const dstOffset = d.offset + r.dstByteOffset;
  if (srcOffset % 4 || dstOffset % 4 || r.bytes % 4) {
    throw new GraphBuildError(
      `${op.label}: byte copy of ${r.bytes} bytes at offsets ${srcOffset} -> ${dstOffset} is not 4-byte aligned ` +
        `(WebGPU copies need multiples of 4). Fix: use the layout kernels (sliceSeq/concatSeq) for odd-sized f16 rows.`,
    );
  }
  return { src: s.buffer, srcOffset, dst: d.buffer, dstOffset, size: r.bytes };
}

type HostData = ArrayLike<number> | ArrayBufferView;

export class Plan {
  private pendingCopies: { src: TensorView; dst: TensorView }[] = [];
  private querySets: GPUQuerySet[] = [];
  private destroyed = false;
  private running = false;
  /**
   * CPU cost of the latest run: encoding + submitting all segments (the per-step launch overhead), and time
   * spent inside host ops.
   */
  lastRun: { encodeMs: number; hostMs: number; submits: number } | null = null;
  /** runTimed's query set and buffers (made on first use). */
  private stepTimer: StepTimer | null = null;
  /** The next run()'s commands, encoded ahead by prepareRun(). */
  private prepared: GPUCommandBuffer | null = null;

  constructor(
    readonly ctx: GpuContext,
    readonly graph: Graph,
    private readonly segments: Step[][],
    /** The planned view of any tensor of the graph (for tests, debugging and GPU-side chaining). */
    readonly view: (t: Tensor) => TensorView,
    readonly stats: PlanStats,
    private readonly buffers: GPUBuffer[],
    readonly memory: MemoryPlan,
    readonly liveness: Liveness,
  ) {}

  /** Fills an input: host numbers (converted to the input's dtype) or a GPU tensor (copied at the next run). */
  setInput(name: string, data: HostData | TensorView): void {
    const t = this.inputTensor(name);
    const dst = this.view(t);
    if (isTensorView(data)) {
      if (data.dtype !== t.dtype) throw new Error(`setInput('${name}'): view is ${data.dtype} but the input is ${t.dtype}; convert it first (kernels-wgsl/convert)`);
      if (byteSize(data) !== t.bytes) throw new Error(`setInput('${name}'): view has shape [${data.shape}] but the input is [${t.shape}]`);
      this.pendingCopies.push({ src: data, dst });
      return;
    }
    this.ctx.write(dst.buffer, encodeHost(data, t, `setInput('${name}')`), dst.offset);
  }

  /** The GPU view of a named input or output (to chain plans without a host round trip). */
  tensorView(name: string): TensorView {
    const t = this.graph.outputs.get(name) ?? this.graph.inputs.get(name);
    if (!t) throw new Error(`'${name}' is neither an output nor an input of graph '${this.graph.name}' (outputs: ${[...this.graph.outputs.keys()].join(', ')})`);
    return this.view(t);
  }

  /** Reads an output (f16 decoded) after all submitted work. */
  async readOutput(name: string): Promise<Float32Array> {
    const t = this.graph.outputs.get(name);
    if (!t) throw new Error(`graph '${this.graph.name}' has no output '${name}' (outputs: ${[...this.graph.outputs.keys()].join(', ')})`);
    return this.readTensor(t);
  }

  /** Reads any tensor of the graph; only meaningful while its storage is not yet reused (debugging). */
  async readTensor(t: Tensor): Promise<Float32Array> {
    const v = this.view(t);
    const raw = await this.ctx.readback(v.buffer, t.bytes, v.offset);
    return decodeHostData(t.dtype, raw, t.numel);
  }

  /**
   * Encodes and submits the whole graph: one command buffer per segment, host ops in between. Resolves once the
   * last segment is submitted (not when the GPU finishes): readOutput / ctx.sync() wait for the GPU.
   */
  async run(): Promise<void> {
    await this.execute(null);
  }

  /**
   * Encodes the next run() now, so that run() only submits (plus the input copies set in between). A caller that
   * does this while the GPU executes the current run takes the CPU encode (4-8 ms for a FLUX.1-dev step on the H200
   * host) off the next step's critical path. Only for plans without host ops (one segment): returns false and
   * prepares nothing otherwise. Inputs written after this call still reach the prepared run (queue writes and input
   * copies precede it in the queue); profile() and runTimed() encode afresh and drop what was prepared.
   */
  prepareRun(): boolean {
    if (this.destroyed || this.running || this.segments.length !== 1 || this.segments[0].some((st) => st.type === 'host')) return false;
    const enc = this.ctx.device.createCommandEncoder({ label: `${this.graph.name}/segment0 (encoded ahead)` });
    this.encodeSegment(enc, 0, null, undefined, { timed: 0, pass: 0 }); // one command buffer: submitted later, whole
    this.prepared = enc.finish();
    return true;
  }

  /**
   * run() with a GPU timestamp at the start and end of every compute pass (the same passes run() records, so the
   * work is the same), for benchmarks: resolves to the GPU time from the first pass's start to the last pass's end
   * in ms, after the GPU has finished (copies between passes included; host ops between segments included as
   * idle time). null where the adapter has no timestamp queries. The wall time of such a run includes the
   * readback of 16 bytes per pass. `waitMs`: sleep that long after submitting before asking Dawn for the result, so
   * nothing is pending while the GPU is known to be busy (the serving engines' idle wait, docs/serving.md).
   */
  async runTimed(opts: { waitMs?: number } = {}): Promise<number | null> {
    const sleep = () => (opts.waitMs && opts.waitMs > 0 ? new Promise<void>((r) => setTimeout(r, opts.waitMs)) : Promise.resolve());
    if (!this.ctx.caps.timestampQuery) {
      await this.execute(null);
      await sleep();
      return null;
    }
    // A plan's passes never change: the query set and buffers are made once.
    const passes = this.passCount();
    const device = this.ctx.device;
    const t = (this.stepTimer ??= {
      set: device.createQuerySet({ type: 'timestamp', count: passes * 2 }),
      resolve: device.createBuffer({ size: passes * 16, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC }),
      read: device.createBuffer({ size: passes * 16, usage: GPUBufferUsage.COPY_DST | GPUBufferUsage.MAP_READ }),
    });
    await this.execute(null, t);
    await sleep();
    await t.read.mapAsync(GPUMapMode.READ);
    const ts = new BigUint64Array(t.read.getMappedRange().slice(0, passes * 16));
    t.read.unmap();
    let first = ts[0];
    let last = ts[1];
    for (let k = 0; k < passes; k++) {
      if (ts[2 * k] < first) first = ts[2 * k];
      if (ts[2 * k + 1] > last) last = ts[2 * k + 1];
    }
    return Number(last - first) / 1e6;
  }

  /** Compute passes run() records (one per run of consecutive kernel steps within a submission). */
  private passCount(): number {
    let n = 0;
    for (const seg of this.segments) {
      let open = false;
      let calls = 0;
      for (const step of seg) {
        if (step.type === 'calls') {
          if (submitsBefore(calls++)) open = false;
          if (!open) n++;
          open = true;
        } else if (step.type === 'copy') open = false;
      }
    }
    return Math.max(1, n);
  }

  /**
   * Runs once with a GPU timestamp around every op (each op in its own compute pass, so the total is a little
   * slower than run()), and aggregates by op kind.
   */
  async profile(): Promise<Profile> {
    const t0 = performance.now();
    if (!this.ctx.caps.timestampQuery) {
      await this.execute(null);
      await this.ctx.sync();
      return { wallMs: performance.now() - t0, gpuMs: 0, method: 'unavailable', ops: [], byKind: [] };
    }
    const timed: Step[] = this.segments.flat().filter((s) => s.type === 'calls');
    const perSet = 2048; // ops per query set (4096 timestamps: WebGPU's query-set size limit)
    while (this.querySets.length * perSet < timed.length) {
      this.querySets.push(this.ctx.device.createQuerySet({ type: 'timestamp', count: perSet * 2 }));
    }
    const device = this.ctx.device;
    const resolveBytes = this.querySets.length * perSet * 2 * 8;
    const resolve = device.createBuffer({ size: Math.max(8, resolveBytes), usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC });
    const read = device.createBuffer({ size: Math.max(8, resolveBytes), usage: GPUBufferUsage.COPY_DST | GPUBufferUsage.MAP_READ });
    const t1 = performance.now();
    await this.execute({ sets: this.querySets, perSet, resolve, read });
    await read.mapAsync(GPUMapMode.READ);
    const ts = new BigUint64Array(read.getMappedRange().slice(0));
    read.unmap();
    read.destroy();
    resolve.destroy();
    const wallMs = performance.now() - t1;
    void t0;
    const ops: OpTiming[] = timed.map((s, i) => {
      const calls = (s as { calls: KernelCall[] }).calls;
      const ms = Math.max(0, Number(ts[2 * i + 1] - ts[2 * i])) / 1e6;
      return { label: s.op.label, kind: s.op.kind, ms, flops: sum(calls.map((c) => c.flops)), bytes: sum(calls.map((c) => c.bytes)) };
    });
    const gpuMs = sum(ops.map((o) => o.ms));
    const byKind: KindTiming[] = groupOpTimings(ops, (o) => o.kind).map((g) => ({
      kind: g.kind, ms: g.ms, count: g.count, fraction: gpuMs > 0 ? g.ms / gpuMs : 0, tflops: g.tflops, gbps: g.gbps,
    }));
    // 'timestamp' even when every op took less than the timer's resolution (tiny graphs on a fast GPU sum to 0).
    return { wallMs, gpuMs, method: 'timestamp', ops, byKind };
  }

  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.prepared = null;
    for (const b of this.buffers) b.destroy();
    for (const q of this.querySets) q.destroy();
    this.stepTimer?.set.destroy();
    this.stepTimer?.resolve.destroy();
    this.stepTimer?.read.destroy();
  }

  private async execute(prof: { sets: GPUQuerySet[]; perSet: number; resolve: GPUBuffer; read: GPUBuffer } | null, passTimer?: StepTimer): Promise<void> {
    if (this.destroyed) throw new Error(`plan for graph '${this.graph.name}' used after destroy()`);
    // Host ops await between segments; a second run started meanwhile would interleave its segments with ours.
    if (this.running) throw new Error(`plan for graph '${this.graph.name}' is already running; await run() before starting another`);
    this.ctx.checkAlive();
    this.running = true;
    try {
      await this.encodeAndSubmit(prof, passTimer);
    } finally {
      this.running = false;
    }
  }

  private async encodeAndSubmit(
    prof: { sets: GPUQuerySet[]; perSet: number; resolve: GPUBuffer; read: GPUBuffer } | null,
    passTimer?: StepTimer,
  ): Promise<void> {
    const device = this.ctx.device;
    const prepared = this.prepared;
    this.prepared = null;
    if (prepared && !prof && !passTimer) {
      // Encoded ahead (prepareRun): only the input copies set since then are encoded now, in front of it.
      const t0 = performance.now();
      const cbs: GPUCommandBuffer[] = [];
      if (this.pendingCopies.length) {
        const enc = device.createCommandEncoder({ label: `${this.graph.name}/input-copies` });
        this.encodePendingCopies(enc);
        cbs.push(enc.finish());
      }
      cbs.push(prepared);
      device.queue.submit(cbs);
      this.lastRun = { encodeMs: performance.now() - t0, hostMs: 0, submits: 1 };
      return;
    }
    const counters = { timed: 0, pass: 0 };
    const host = this.hostRuntime();
    let encodeMs = 0;
    let hostMs = 0;
    let submits = 0;
    for (let si = 0; si < this.segments.length; si++) {
      const t0 = performance.now();
      let enc = device.createCommandEncoder({ label: `${this.graph.name}/segment${si}` });
      if (si === 0) this.encodePendingCopies(enc);
      // Submitted in pieces as it is encoded (not for the per-op profile, whose passes are its own), so the GPU
      // starts after the first few ops instead of after the whole step's encode (4-9 ms for a FLUX.1-dev step).
      const flush = prof ? undefined : (done: GPUCommandEncoder) => {
        device.queue.submit([done.finish()]);
        submits++;
        return device.createCommandEncoder({ label: `${this.graph.name}/segment${si}` });
      };
      const { hostStep, enc: last } = this.encodeSegment(enc, si, prof, passTimer, counters, flush);
      enc = last;
      if (passTimer && si === this.segments.length - 1) {
        enc.resolveQuerySet(passTimer.set, 0, counters.pass * 2, passTimer.resolve, 0);
        enc.copyBufferToBuffer(passTimer.resolve, 0, passTimer.read, 0, counters.pass * 16);
      }
      if (prof && si === this.segments.length - 1) {
        prof.sets.forEach((set, k) => enc.resolveQuerySet(set, 0, prof.perSet * 2, prof.resolve, k * prof.perSet * 2 * 8));
        enc.copyBufferToBuffer(prof.resolve, 0, prof.read, 0, prof.resolve.size);
      }
      device.queue.submit([enc.finish()]);
      submits++;
      const t1 = performance.now();
      encodeMs += t1 - t0;
      if (hostStep && hostStep.op.exec.type === 'host') {
        await hostStep.op.exec.run(host);
        hostMs += performance.now() - t1;
      }
    }
    this.lastRun = { encodeMs, hostMs, submits };
  }

  private encodePendingCopies(enc: GPUCommandEncoder): void {
    for (const c of this.pendingCopies) enc.copyBufferToBuffer(c.src.buffer, c.src.offset, c.dst.buffer, c.dst.offset, Math.ceil(byteSize(c.dst) / 4) * 4);
    this.pendingCopies = [];
  }

  /**
   * Records segment si's kernel calls and copies into enc; returns the host step that ends it, if any, and the
   * encoder holding the segment's end. With `flush`, the recorded part is handed over (submitted) where
   * submitsBefore() says and recording goes on in the encoder flush returns.
   */
  private encodeSegment(
    enc: GPUCommandEncoder, si: number, prof: { sets: GPUQuerySet[]; perSet: number } | null, passTimer: StepTimer | undefined,
    counters: { timed: number; pass: number }, flush?: (done: GPUCommandEncoder) => GPUCommandEncoder,
  ): { hostStep: Step | null; enc: GPUCommandEncoder } {
    let pass: GPUComputePassEncoder | null = null;
    let hostStep: Step | null = null;
    let calls = 0;
    for (const step of this.segments[si]) {
      if (step.type === 'calls') {
        if (submitsBefore(calls++) && flush) {
          pass?.end();
          pass = null;
          enc = flush(enc);
        }
        if (prof) {
          const set = prof.sets[Math.floor(counters.timed / prof.perSet)];
          const q = (counters.timed % prof.perSet) * 2;
          counters.timed++;
          const p = enc.beginComputePass({ label: step.op.label, timestampWrites: { querySet: set, beginningOfPassWriteIndex: q, endOfPassWriteIndex: q + 1 } });
          dispatchAll(p, step.calls);
          p.end();
        } else {
          if (!pass) {
            const q = 2 * counters.pass++;
            pass = enc.beginComputePass({
              label: `${this.graph.name}/segment${si}`,
              ...(passTimer ? { timestampWrites: { querySet: passTimer.set, beginningOfPassWriteIndex: q, endOfPassWriteIndex: q + 1 } } : {}),
            });
          }
          dispatchAll(pass, step.calls);
        }
      } else if (step.type === 'copy') {
        pass?.end();
        pass = null;
        for (const r of step.regions) enc.copyBufferToBuffer(r.src, r.srcOffset, r.dst, r.dstOffset, r.size);
      } else {
        hostStep = step;
      }
    }
    pass?.end();
    return { hostStep, enc };
  }

  private hostRuntime(): HostRuntime {
    return {
      ctx: this.ctx,
      view: this.view,
      read: (t) => this.readTensor(t),
      write: (t, data) => {
        const v = this.view(t);
        this.ctx.write(v.buffer, encodeHost(data, t, `host write to ${t.describe()}`), v.offset);
      },
      readBytes: async (t) => {
        const v = this.view(t);
        return new Uint8Array(await this.ctx.readback(v.buffer, t.bytes, v.offset));
      },
      writeBytes: (t, bytes) => {
        if (bytes.byteLength !== t.bytes) throw new Error(`host writeBytes: ${bytes.byteLength} bytes for ${t.describe()} (${t.bytes} bytes)`);
        const v = this.view(t);
        this.ctx.write(v.buffer, bytes, v.offset);
      },
    };
  }

  private inputTensor(name: string): Tensor {
    const t = this.graph.inputs.get(name);
    if (!t) throw new Error(`graph '${this.graph.name}' has no input '${name}' (inputs: ${[...this.graph.inputs.keys()].join(', ')})`);
    return t;
  }
}

/**
 * Whether a run submits what it has encoded before the kernel step with this index in its segment: after the
 * first 8 steps (so the GPU starts after a few ops' worth of encoding), then every 96. A FLUX.1-dev step is 800-1000
 * steps whose encode takes 4-9 ms in all against 80-350 ms of GPU time, so after the first piece the GPU does not
 * wait for the CPU: measured on the H200, wall minus GPU time per step fell from 4.7-9.0 to 0.5-0.8 ms with ~10
 * submissions per step (docs/graph.md).
 */
function submitsBefore(callStepIndex: number): boolean {
  const FIRST = 8;
  const EVERY = 96;
  return callStepIndex >= FIRST && (callStepIndex - FIRST) % EVERY === 0;
}

function dispatchAll(pass: GPUComputePassEncoder, calls: readonly KernelCall[]): void {
  for (const c of calls) {
    pass.setPipeline(c.pipeline);
    pass.setBindGroup(0, c.bindGroup);
    pass.dispatchWorkgroups(c.workgroups[0], c.workgroups[1], c.workgroups[2]);
  }
}

function isTensorView(x: unknown): x is TensorView {
  return typeof x === 'object' && x !== null && 'buffer' in x && 'shape' in x && 'dtype' in x && 'offset' in x;
}

/**
 * Host data -> bytes in the tensor's dtype. Raw bits pass through: Uint16Array for an f16 tensor, Uint32Array /
 * Int32Array for a 4-byte tensor (u32/i32 tensors hold integers: token ids, positions, lengths).
 */
function encodeHost(data: HostData, t: Tensor, what: string): ArrayBufferView {
  const n = 'length' in data ? (data as ArrayLike<number>).length : (data as ArrayBufferView).byteLength / DTYPE_BYTES[t.dtype];
  if (n !== t.numel) throw new Error(`${what}: got ${n} values but ${t.describe()} holds ${t.numel}`);
  if (DTYPE_BYTES[t.dtype] === 4 && (data instanceof Uint32Array || data instanceof Int32Array)) return data;
  if (t.dtype === 'f16' && data instanceof Uint16Array) return data;
  return encodeHostData(t.dtype, data as ArrayLike<number>, what);
}

function sum(xs: number[]): number {
  return xs.reduce((a, b) => a + b, 0);
}
