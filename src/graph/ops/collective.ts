// Collectives as graph ops, for sequence parallelism: each rank's graph holds a slice of the token sequence and
// exchanges activations at host ops, between command buffers. The exchange itself is behind `Collective`
// (src/parallel implements it: in-process for CI, NCCL through native/nccl-bridge on GPUs). dawn.node exposes no
// GPU memory to CUDA (GPU-NOTES), so every byte that leaves a device goes through mapped staging buffers: the
// host op copies the send ranges into one MAP_READ buffer, maps it and a MAP_WRITE buffer, hands the transport
// views of the mapped memory (no JS copies on the NCCL path), then copies the received ranges into the output
// tensors on the GPU. Ranges a rank "sends to itself" never leave the GPU.
import type { GpuContext } from '../../gpu/context.js';
import type { Graph, OutputSpec } from '../graph.js';
import type { Tensor } from '../tensor.js';
import { fail, type OpOptions } from './common.js';

/** One message of a grouped send/recv: bytes to a peer, or room for bytes from a peer. */
export interface PeerBytes {
  peer: number;
  data: Uint8Array;
}

export interface Collective {
  readonly rank: number;
  readonly size: number;
  /**
   * Grouped point-to-point: every send and receive of this call proceeds together (NCCL group semantics), so
   * all-to-all and ring shifts cannot deadlock. Messages between a pair of ranks match in call order; each
   * receive is filled completely. Resolves when this rank's receives are filled and its sends may be reused.
   */
  exchange(sends: PeerBytes[], recvs: PeerBytes[]): Promise<void>;
  /** Every rank contributes the same number of bytes; resolves to all contributions concatenated by rank. */
  allGather(bytes: Uint8Array): Promise<Uint8Array>;
}

/** One message to a peer: a byte range of a tensor. */
export interface SendRegion {
  peer: number;
  tensor: Tensor;
  byteOffset: number;
  bytes: number;
}

/** Where part of a received message goes: bytes [at, at + bytes) of the message -> outputs[output] at byteOffset. */
export interface Placement {
  output: number;
  at: number;
  byteOffset: number;
  bytes: number;
}

/** One message from a peer (messages between a pair match in order), scattered into the outputs on the GPU. */
export interface RecvRegion {
  peer: number;
  bytes: number;
  place: Placement[];
}

/** A local GPU copy into an output (the part of an all-to-all a rank keeps). */
export interface SelfCopy {
  src: Tensor;
  srcByteOffset: number;
  output: number;
  dstByteOffset: number;
  bytes: number;
}

export interface ExchangeSpec {
  /** Messages this rank sends, in the order each peer expects them. */
  sends: SendRegion[];
  /** Fresh tensors the exchange writes (every byte should be covered by recvs + selfCopies). */
  outputs: OutputSpec[];
  recvs: RecvRegion[];
  selfCopies?: SelfCopy[];
}

/**
 * Per (collective, device) staging: one MAP_READ buffer (sends) and one MAP_WRITE buffer (receives) per chunk,
 * each grown to the largest use.
 */
interface Staging {
  send: (GPUBuffer | null)[];
  recv: (GPUBuffer | null)[];
  /** Bounce buffer for local copies whose source and destination share an arena (WebGPU refuses src === dst). */
  bounce: GPUBuffer | null;
  busy: boolean;
}
const stagingByComm = new WeakMap<Collective, Map<GPUDevice, Staging>>();

function stagingFor(comm: Collective, ctx: GpuContext): Staging {
  let m = stagingByComm.get(comm);
  if (!m) stagingByComm.set(comm, (m = new Map()));
  let s = m.get(ctx.device);
  if (!s) m.set(ctx.device, (s = { send: [], recv: [], bounce: null, busy: false }));
  return s;
}

function grow(ctx: GpuContext, cur: GPUBuffer | null | undefined, bytes: number, usage: number, label: string): GPUBuffer {
  if (cur && cur.size >= bytes) return cur;
  cur?.destroy();
  return ctx.device.createBuffer({ label, size: Math.max(8, Math.ceil(bytes / 8) * 8), usage });
}

/** Frees the staging buffers a collective holds on a device (call when its plans are destroyed). */
export function releaseStaging(comm: Collective, ctx: GpuContext): void {
  const s = stagingByComm.get(comm)?.get(ctx.device);
  if (!s) return;
  for (const b of [...s.send, ...s.recv, s.bounce]) b?.destroy();
  stagingByComm.get(comm)!.delete(ctx.device);
}

/** Transfer statistics per collective (bytes that crossed the host, time inside host ops), for benchmarks. */
export interface ExchangeStats {
  calls: number;
  bytesSent: number;
  bytesReceived: number;
  /** Wall ms from the start of a host op's staging to the end of its exchange (both halves for split ops). */
  ms: number;
}
const statsByComm = new WeakMap<Collective, ExchangeStats>();
export function exchangeStats(comm: Collective): ExchangeStats {
  let s = statsByComm.get(comm);
  if (!s) statsByComm.set(comm, (s = { calls: 0, bytesSent: 0, bytesReceived: 0, ms: 0 }));
  return s;
}

const align4 = (n: number) => Math.ceil(n / 4) * 4;

/**
 * A grouped send/recv as host ops. Returns the output tensors. With `split`, the exchange is two host ops: the
 * first stages the sends and starts the transfer, the second (placed by the caller after independent GPU work,
 * via `finish()`) waits for it and copies the receives in: the transfer overlaps that GPU work (ring attention).
 */
export interface ExchangeOptions extends OpOptions {
  /** Pipeline chunks (default 1). Every rank taking part must pass the same number. */
  chunks?: number;
}
export function exchangeOp(g: Graph, comm: Collective, spec: ExchangeSpec, opts: ExchangeOptions & { split: true }): { outputs: Tensor[]; finish: () => Tensor[] };
export function exchangeOp(g: Graph, comm: Collective, spec: ExchangeSpec, opts?: ExchangeOptions & { split?: false }): { outputs: Tensor[] };
export function exchangeOp(g: Graph, comm: Collective, spec: ExchangeSpec, opts: ExchangeOptions & { split?: boolean } = {}): { outputs: Tensor[]; finish?: () => Tensor[] } {
  const name = opts.name ?? 'exchange';
  const label = g.nextLabel('exchange', name);
  if (!(comm.size >= 1) || comm.rank < 0 || comm.rank >= comm.size) fail(label, `bad communicator (rank ${comm.rank} of ${comm.size})`);
  const words = (what: string, ...xs: number[]) => {
    if (xs.some((x) => x % 4 !== 0)) fail(label, `${what} (${xs.join(', ')}) is not 4-byte aligned (WebGPU copies move whole words)`);
  };
  const outBytes = spec.outputs.map((o) => o.shape.reduce((a, b) => a * b, 1) * (o.dtype === 'f16' ? 2 : 4));
  for (const r of [...spec.sends, ...spec.recvs]) {
    if (!Number.isInteger(r.peer) || r.peer < 0 || r.peer >= comm.size || r.peer === comm.rank) fail(label, `peer ${r.peer} must be another rank in 0..${comm.size - 1} (this is rank ${comm.rank}); local ranges go in selfCopies`);
  }
  for (const r of spec.sends) {
    words('send range', r.byteOffset, r.bytes);
    if (r.byteOffset + r.bytes > r.tensor.bytes) fail(label, `send range [${r.byteOffset}, ${r.byteOffset + r.bytes}) exceeds ${r.tensor.describe()}`);
  }
  for (const r of spec.recvs) {
    for (const p of r.place) {
      words('receive placement', p.at, p.byteOffset, p.bytes);
      if (p.at + p.bytes > r.bytes || p.byteOffset + p.bytes > (outBytes[p.output] ?? -1)) fail(label, `placement ${JSON.stringify(p)} lies outside its message (${r.bytes} bytes) or output`);
    }
  }
  for (const c of spec.selfCopies ?? []) {
    words('local copy', c.srcByteOffset, c.dstByteOffset, c.bytes);
    if (c.srcByteOffset + c.bytes > c.src.bytes || c.dstByteOffset + c.bytes > (outBytes[c.output] ?? -1)) fail(label, `local copy ${c.bytes} bytes from ${c.src.describe()} at ${c.srcByteOffset} to output ${c.output} at ${c.dstByteOffset} is out of range`);
  }
  const sendTensors = [...new Set([...spec.sends.map((r) => r.tensor), ...(spec.selfCopies ?? []).map((c) => c.src)])];

  // Chunks: message m of B bytes is cut into `chunks` near-equal, 4-byte-aligned pieces; chunk c carries piece c of
  // every message. Both ends of a message compute the same pieces from B and `chunks` (which every rank passes
  // alike), so piece c on the sender matches piece c on the receiver. Chunk c's transfer overlaps the staging
  // copy of chunk c+1 and the GPU upload of chunk c-1.
  const n = Math.max(1, Math.floor(opts.chunks ?? 1));
  const piece = (B: number, c: number) => {
    const per = align4(Math.ceil(B / n));
    const off = Math.min(B, c * per);
    return { off, len: Math.min(B - off, per) };
  };
  const plan = Array.from({ length: n }, (_, c) => {
    let at = 0;
    const sends = spec.sends.map((r, i) => { const p = piece(r.bytes, c); const o = { i, ...p, at }; at += align4(p.len); return o; }).filter((x) => x.len > 0);
    const sendBytes = at;
    at = 0;
    const recvs = spec.recvs.map((r, i) => { const p = piece(r.bytes, c); const o = { i, ...p, at }; at += align4(p.len); return o; }).filter((x) => x.len > 0);
    return { sends, sendBytes, recvs, recvBytes: at };
  });
  const sendTotal = spec.sends.reduce((a, r) => a + r.bytes, 0);
  const recvTotal = spec.recvs.reduce((a, r) => a + r.bytes, 0);
  const stats = exchangeStats(comm);

  let pending: Promise<void> | null = null;
  let staging: Staging | null = null;
  let t0 = 0;
  // Received piece -> output placements (a placement may straddle pieces: copy the intersection).
  const scatter = (enc: GPUCommandEncoder, st: Staging, c: number, viewOf: (t: Tensor) => { buffer: GPUBuffer; offset: number }, outs: Tensor[]) => {
    for (const q of plan[c].recvs) {
      for (const p of spec.recvs[q.i].place) {
        const lo = Math.max(p.at, q.off);
        const hi = Math.min(p.at + p.bytes, q.off + q.len);
        if (hi <= lo) continue;
        const v = viewOf(outs[p.output]);
        enc.copyBufferToBuffer(st.recv[c]!, q.at + (lo - q.off), v.buffer, v.offset + p.byteOffset + (lo - p.at), align4(hi - lo));
      }
    }
  };
  const start = (ctx: GpuContext, viewOf: (t: Tensor) => { buffer: GPUBuffer; offset: number }, scatterTo: Tensor[] | null) => {
    t0 = performance.now();
    const st = (staging = stagingFor(comm, ctx));
    if (st.busy) throw new Error(`${label}: another exchange of rank ${comm.rank} is still in flight on this device (split exchanges must not interleave)`);
    st.busy = true;
    for (let c = 0; c < n; c++) {
      st.send[c] = grow(ctx, st.send[c], plan[c].sendBytes, GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST, `sp-send${c}-r${comm.rank}`);
      st.recv[c] = grow(ctx, st.recv[c], plan[c].recvBytes, GPUBufferUsage.MAP_WRITE | GPUBufferUsage.COPY_SRC, `sp-recv${c}-r${comm.rank}`);
    }
    // Every chunk's staging copy is submitted now, one command buffer each, before any later GPU work (in a split
    // exchange, before the work it overlaps): chunk c maps as soon as its own copy is done, and goes on the wire
    // while the copies of later chunks still run.
    const stage = (c: number) => {
      const { sends, sendBytes } = plan[c];
      const buf = st.send[c]!;
      if (sendBytes) {
        const enc = ctx.device.createCommandEncoder({ label: `${label}/stage${c}` });
        for (const q of sends) {
          const r = spec.sends[q.i];
          const v = viewOf(r.tensor);
          enc.copyBufferToBuffer(v.buffer, v.offset + r.byteOffset + q.off, buf, q.at, align4(q.len));
        }
        ctx.device.queue.submit([enc.finish()]);
      }
      return Promise.all([sendBytes ? buf.mapAsync(GPUMapMode.READ, 0, sendBytes) : null, plan[c].recvBytes ? st.recv[c]!.mapAsync(GPUMapMode.WRITE, 0, plan[c].recvBytes) : null]);
    };
    const transfer = async (c: number) => {
      const { sends, sendBytes, recvs, recvBytes } = plan[c];
      const sbuf = st.send[c]!;
      const rbuf = st.recv[c]!;
      try {
        const sendMem = sendBytes ? new Uint8Array(sbuf.getMappedRange(0, sendBytes)) : new Uint8Array(0);
        const recvMem = recvBytes ? new Uint8Array(rbuf.getMappedRange(0, recvBytes)) : new Uint8Array(0);
        await comm.exchange(
          sends.map((q) => ({ peer: spec.sends[q.i].peer, data: sendMem.subarray(q.at, q.at + q.len) })),
          recvs.map((q) => ({ peer: spec.recvs[q.i].peer, data: recvMem.subarray(q.at, q.at + q.len) })),
        );
      } finally {
        if (sendBytes) sbuf.unmap();
        if (recvBytes) rbuf.unmap();
      }
      if (scatterTo) {
        const enc = ctx.device.createCommandEncoder({ label: `${label}/scatter${c}` });
        scatter(enc, st, c, viewOf, scatterTo);
        ctx.device.queue.submit([enc.finish()]);
      }
    };
    const mapped = plan.map((_, c) => stage(c));
    for (const m of mapped) m.catch(() => {});
    pending = (async () => {
      // Transfers go out in chunk order (peers match messages in order); each waits only for its own chunk.
      const txs: Promise<void>[] = [];
      for (let c = 0; c < n; c++) {
        await mapped[c];
        const tx = transfer(c);
        tx.catch(() => {});
        txs.push(tx);
      }
      await Promise.all(txs);
    })();
    // A failed exchange must surface at finish(), not as an unhandled rejection in between.
    pending.catch(() => {});
  };
  const finish = async (ctx: GpuContext, viewOf: (t: Tensor) => { buffer: GPUBuffer; offset: number }, outs: Tensor[], scattered: boolean) => {
    const st = staging!;
    try {
      await pending;
    } finally {
      st.busy = false;
      pending = null;
    }
    const enc = ctx.device.createCommandEncoder({ label: `${label}/scatter` });
    if (!scattered) for (let c = 0; c < n; c++) scatter(enc, st, c, viewOf, outs);
    for (const c of spec.selfCopies ?? []) {
      const s = viewOf(c.src);
      const d = viewOf(outs[c.output]);
      const m = align4(c.bytes);
      if (s.buffer !== d.buffer) {
        enc.copyBufferToBuffer(s.buffer, s.offset + c.srcByteOffset, d.buffer, d.offset + c.dstByteOffset, m);
      } else {
        st.bounce = grow(ctx, st.bounce, m, GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST, `sp-bounce-r${comm.rank}`);
        enc.copyBufferToBuffer(s.buffer, s.offset + c.srcByteOffset, st.bounce, 0, m);
        enc.copyBufferToBuffer(st.bounce, 0, d.buffer, d.offset + c.dstByteOffset, m);
      }
    }
    ctx.device.queue.submit([enc.finish()]);
    stats.calls++;
    stats.bytesSent += sendTotal;
    stats.bytesReceived += recvTotal;
    stats.ms += performance.now() - t0;
  };

  if (!opts.split) {
    const outs = g.hostOp(name, sendTensors, spec.outputs, async (host, o) => {
      start(host.ctx, host.view, o); // non-split: each chunk is uploaded as soon as it arrives
      await finish(host.ctx, host.view, o, true);
    });
    return { outputs: outs };
  }
  // Split: the first host op reads the send tensors; the outputs are created (and written) by the second one.
  // The outputs' storage may still be in use by the GPU work between the two halves, so the received chunks are
  // copied into them only at finish.
  g.hostOp(`${name}.start`, sendTensors, [], async (host) => start(host.ctx, host.view, null));
  let made: Tensor[] | null = null;
  return {
    outputs: [],
    finish: () => {
      if (made) return made;
      const selfSrcs = [...new Set((spec.selfCopies ?? []).map((c) => c.src))];
      made = g.hostOp(`${name}.finish`, selfSrcs, spec.outputs, async (host, o) => finish(host.ctx, host.view, o, false));
      return made;
    },
  };
}

/**
 * All-gather along the first dimension: t [n, ...] on each rank -> [size * n, ...] (rank r's rows at r * n).
 * Runs as a host op, so the graph is split there into two command buffers.
 */
export function allGatherRows(g: Graph, t: Tensor, comm: Collective, opts: OpOptions = {}): Tensor {
  const label = g.nextLabel('all_gather', opts.name);
  if (!(comm.size >= 1) || comm.rank < 0 || comm.rank >= comm.size) fail(label, `bad communicator (rank ${comm.rank} of ${comm.size})`);
  const [out] = g.hostOp(opts.name ?? 'all_gather', [t], [{ shape: [comm.size * t.shape[0], ...t.shape.slice(1)], dtype: t.dtype, name: opts.name }], async (host, outs) => {
    const mine = await host.readBytes(t);
    const all = await comm.allGather(mine);
    host.writeBytes(outs[0], all);
  });
  return out;
}

/**
 * In-process collectives among `size` members (each typically running its own Plan concurrently, on one or
 * several devices). Point-to-point messages go through per-(from, to) mailboxes, matched in order.
 */
export class LocalCollectiveGroup {
  private readonly boxes = new Map<string, { queue: Uint8Array[]; waiters: ((b: Uint8Array) => void)[] }>();
  private readonly rounds = new Map<number, { parts: (Uint8Array | null)[]; waiters: ((all: Uint8Array) => void)[]; arrived: number }>();
  private readonly nextRound: number[];

  constructor(readonly size: number) {
    if (!Number.isInteger(size) || size < 1) throw new Error(`LocalCollectiveGroup: size ${size} must be a positive integer`);
    this.nextRound = new Array(size).fill(0);
  }

  member(rank: number): Collective {
    if (!Number.isInteger(rank) || rank < 0 || rank >= this.size) throw new Error(`LocalCollectiveGroup: rank ${rank} outside 0..${this.size - 1}`);
    return {
      rank,
      size: this.size,
      allGather: (bytes) => this.allGather(rank, bytes),
      exchange: (sends, recvs) => this.exchange(rank, sends, recvs),
    };
  }

  private box(from: number, to: number) {
    const k = `${from}>${to}`;
    let b = this.boxes.get(k);
    if (!b) this.boxes.set(k, (b = { queue: [], waiters: [] }));
    return b;
  }

  private async exchange(rank: number, sends: PeerBytes[], recvs: PeerBytes[]): Promise<void> {
    for (const s of sends) {
      if (s.peer < 0 || s.peer >= this.size) throw new Error(`exchange: rank ${rank} sends to rank ${s.peer}, outside 0..${this.size - 1}`);
      const b = this.box(rank, s.peer);
      const copy = s.data.slice();
      const w = b.waiters.shift();
      if (w) w(copy);
      else b.queue.push(copy);
    }
    await Promise.all(
      recvs.map(async (r) => {
        if (r.peer < 0 || r.peer >= this.size) throw new Error(`exchange: rank ${rank} receives from rank ${r.peer}, outside 0..${this.size - 1}`);
        const b = this.box(r.peer, rank);
        const msg = b.queue.shift() ?? (await new Promise<Uint8Array>((res) => b.waiters.push(res)));
        if (msg.byteLength !== r.data.byteLength) {
          throw new Error(`exchange: rank ${rank} expected ${r.data.byteLength} bytes from rank ${r.peer} but got ${msg.byteLength} (the ranks' graphs disagree on the sharding)`);
        }
        r.data.set(msg);
      }),
    );
  }

  private allGather(rank: number, bytes: Uint8Array): Promise<Uint8Array> {
    // Each member's k-th call joins round k, so members may run ahead of each other by whole rounds.
    const round = this.nextRound[rank]++;
    let r = this.rounds.get(round);
    if (!r) {
      r = { parts: new Array(this.size).fill(null), waiters: [], arrived: 0 };
      this.rounds.set(round, r);
    }
    const first = r.parts.find((p) => p !== null);
    if (first && first.byteLength !== bytes.byteLength) {
      return Promise.reject(new Error(`allGather round ${round}: rank ${rank} sent ${bytes.byteLength} bytes, others ${first.byteLength}`));
    }
    r.parts[rank] = bytes.slice();
    r.arrived++;
    const done = new Promise<Uint8Array>((resolve) => r!.waiters.push(resolve));
    if (r.arrived === this.size) {
      const all = new Uint8Array(bytes.byteLength * this.size);
      r.parts.forEach((p, i) => all.set(p!, i * bytes.byteLength));
      this.rounds.delete(round);
      for (const w of r.waiters) w(all);
    }
    return done;
  }
}
