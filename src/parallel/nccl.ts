// The NCCL transport: native/nccl-bridge (a Node-API addon that dlopens libnccl.so.2 and the CUDA runtime at
// run time) behind the same Transport interface as the in-process one. One process drives every local GPU: each
// rank's k-th exchange() joins round k, and when every rank has arrived the round runs as one NCCL group on a
// native thread (the event loop stays free). The bytes are views of Dawn's mapped staging memory; the bridge
// pins them with cudaHostRegister and copies with CUDA streams, so JavaScript never copies a byte.
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Collective, PeerBytes } from '../graph/ops/collective.js';
import { type Transport, withDerivedCollectives } from './transport.js';

export interface ExchangeTiming {
  h2dMs: number;
  ncclMs: number;
  d2hMs: number;
  wallMs: number;
  chunks: number;
  bytesIn: number;
  bytesOut: number;
  /** False when a staging range could not be pinned and went through the bridge's bounce buffer. */
  pinned: boolean;
}

export interface NcclBridge {
  load(): { ok: boolean; error?: string; ncclVersion?: number; devices?: number };
  commInitAll(devices: number[]): number;
  uniqueId(): Uint8Array;
  commInitRank(id: Uint8Array, nranks: number, rank: number, device: number): number;
  exchange(handle: number, ops: { local: number; sends: PeerBytes[]; recvs: PeerBytes[] }[]): Promise<ExchangeTiming>;
  commDestroy(handle: number): void;
  hostCopy(dst: ArrayBufferView, src: ArrayBufferView): Promise<number>;
}

export const BRIDGE_PATH = fileURLToPath(new URL('../../native/nccl-bridge/build/nccl_bridge.node', import.meta.url));

/** Thrown when sequence parallelism across GPUs cannot start; the engine keeps serving on one GPU. */
export class NcclUnavailableError extends Error {
  constructor(reason: string) {
    super(`NCCL transport unavailable: ${reason}. Sequence parallelism across GPUs is off; single-GPU serving is unaffected.`);
    this.name = 'NcclUnavailableError';
  }
}

let cached: NcclBridge | null = null;

/** The addon (built at npm ci by native/nccl-bridge/build.mjs); throws NcclUnavailableError if it is missing. */
export function loadBridgeModule(): NcclBridge {
  if (cached) return cached;
  if (!existsSync(BRIDGE_PATH)) throw new NcclUnavailableError(`the native bridge is not built (${BRIDGE_PATH}); run: node native/nccl-bridge/build.mjs`);
  cached = createRequire(import.meta.url)(BRIDGE_PATH) as NcclBridge;
  return cached;
}

/** What the machine offers: { ok, ncclVersion, devices } or { ok: false, error } (never throws). */
export function probeNccl(): { ok: boolean; error?: string; ncclVersion?: number; devices?: number } {
  try {
    return loadBridgeModule().load();
  } catch (e) {
    return { ok: false, error: (e as Error).message };
  }
}

/** Accumulated bridge timings of a group (transfers and collectives per step, for `dit bench sp`). */
export interface NcclStats {
  rounds: number;
  h2dMs: number;
  ncclMs: number;
  d2hMs: number;
  wallMs: number;
  bytes: number;
  unpinnedRounds: number;
}

function emptyStats(): NcclStats {
  return { rounds: 0, h2dMs: 0, ncclMs: 0, d2hMs: 0, wallMs: 0, bytes: 0, unpinnedRounds: 0 };
}

/** Adds one exchange round's bridge timings to a group's totals. */
function addRound(stats: NcclStats, t: ExchangeTiming): void {
  stats.rounds++;
  stats.h2dMs += t.h2dMs;
  stats.ncclMs += t.ncclMs;
  stats.d2hMs += t.d2hMs;
  stats.wallMs += t.wallMs;
  stats.bytes += t.bytesOut;
  if (!t.pinned) stats.unpinnedRounds++;
}

/** The bridge with NCCL and the CUDA runtime loaded, or the error naming what is missing. */
function loadedBridge(): { bridge: NcclBridge; devices: number } {
  const bridge = loadBridgeModule();
  const p = bridge.load();
  if (!p.ok) throw new NcclUnavailableError(p.error ?? 'unknown');
  return { bridge, devices: p.devices ?? 0 };
}

/** The first send/recv of a round without a same-sized partner, described; null when all pair up. */
export function unmatched(ops: { local: number; sends: PeerBytes[]; recvs: PeerBytes[] }[]): string | null {
  const key = (from: number, to: number) => `${from}>${to}`;
  const sent = new Map<string, number[]>();
  for (const o of ops) for (const s of o.sends) (sent.get(key(o.local, s.peer)) ?? sent.set(key(o.local, s.peer), []).get(key(o.local, s.peer))!).push(s.data.byteLength);
  for (const o of ops) {
    for (const r of o.recvs) {
      const q = sent.get(key(r.peer, o.local));
      const n = q?.shift();
      if (n === undefined) return `rank ${o.local} receives ${r.data.byteLength} bytes from rank ${r.peer}, which sends nothing more to it in this round`;
      if (n !== r.data.byteLength) return `rank ${o.local} expects ${r.data.byteLength} bytes from rank ${r.peer} but it sends ${n}`;
    }
  }
  for (const [k, q] of sent) if (q.length) return `rank ${k.split('>')[0]} sends ${q[0]} bytes to rank ${k.split('>')[1]}, which does not receive them in this round`;
  return null;
}

/** One process, one rank per listed CUDA device (rank i <-> devices[i]). */
export class NcclGroup {
  readonly stats: NcclStats = emptyStats();
  private readonly bridge: NcclBridge;
  private readonly handle: number;
  private readonly rounds = new Map<number, { ops: { local: number; sends: PeerBytes[]; recvs: PeerBytes[] }[]; waiters: { resolve: () => void; reject: (e: Error) => void }[] }>();
  private readonly nextRound: number[];
  private destroyed = false;
  /** Rounds run one after another, in round order: NCCL matches sends and receives per peer in issue order. */
  private chain: Promise<unknown> = Promise.resolve();

  constructor(readonly devices: number[]) {
    const loaded = loadedBridge();
    this.bridge = loaded.bridge;
    if (loaded.devices < devices.length || devices.some((d) => d >= loaded.devices)) {
      throw new NcclUnavailableError(`devices [${devices}] requested but CUDA sees ${loaded.devices}`);
    }
    this.handle = this.bridge.commInitAll(devices);
    this.nextRound = devices.map(() => 0);
  }

  get size(): number {
    return this.devices.length;
  }

  member(rank: number): Transport {
    if (!Number.isInteger(rank) || rank < 0 || rank >= this.size) throw new Error(`NcclGroup: rank ${rank} outside 0..${this.size - 1}`);
    const c: Collective = {
      rank,
      size: this.size,
      exchange: (sends, recvs) => this.exchange(rank, sends, recvs),
      allGather: async (bytes) => {
        const out = new Uint8Array(bytes.byteLength * this.size);
        out.set(bytes, rank * bytes.byteLength);
        const others = this.devices.map((_, i) => i).filter((i) => i !== rank);
        await this.exchange(rank, others.map((peer) => ({ peer, data: bytes })), others.map((peer) => ({ peer, data: out.subarray(peer * bytes.byteLength, (peer + 1) * bytes.byteLength) })));
        return out;
      },
    };
    return withDerivedCollectives(c, 'nccl');
  }

  private exchange(rank: number, sends: PeerBytes[], recvs: PeerBytes[]): Promise<void> {
    if (this.destroyed) return Promise.reject(new Error('NcclGroup: used after destroy()'));
    const k = this.nextRound[rank]++;
    let r = this.rounds.get(k);
    if (!r) this.rounds.set(k, (r = { ops: [], waiters: [] }));
    r.ops.push({ local: rank, sends, recvs });
    const done = new Promise<void>((resolve, reject) => r!.waiters.push({ resolve, reject }));
    if (r.ops.length === this.size) {
      this.rounds.delete(k);
      const round = r;
      // One NCCL group per round: a receive whose send is not in the same round would block NCCL forever, so
      // check the pairing here and fail with the reason instead.
      const bad = unmatched(round.ops);
      if (bad) {
        const err = new Error(`NcclGroup round ${k}: ${bad} (the ranks' graphs disagree on the exchange sequence)`);
        for (const w of round.waiters) w.reject(err);
        return done;
      }
      const run = this.chain.then(() => this.bridge.exchange(this.handle, round.ops));
      this.chain = run.catch(() => {});
      run.then(
        (t) => {
          addRound(this.stats, t);
          for (const w of round.waiters) w.resolve();
        },
        (e: Error) => {
          for (const w of round.waiters) w.reject(e);
        },
      );
    }
    return done;
  }

  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.bridge.commDestroy(this.handle);
  }
}

/**
 * One process per GPU (and the multi-node layout): this process's rank of an `nranks` communicator. Rank 0 makes
 * the id with `NcclRank.uniqueId()` and hands it to the other processes (the server's control channel); every
 * process then constructs its NcclRank with the same id. Exchanges run in call order, one NCCL group each.
 */
export class NcclRank {
  readonly stats: NcclStats = emptyStats();
  private readonly bridge: NcclBridge;
  private readonly handle: number;
  private chain: Promise<unknown> = Promise.resolve();
  private destroyed = false;

  static uniqueId(): Uint8Array {
    return loadedBridge().bridge.uniqueId();
  }

  constructor(id: Uint8Array, readonly nranks: number, readonly rank: number, readonly device: number) {
    if (!(id instanceof Uint8Array) || id.byteLength !== 128) throw new Error('NcclRank: the unique id must be the 128 bytes NcclRank.uniqueId() made on rank 0');
    if (!Number.isInteger(rank) || rank < 0 || rank >= nranks) throw new Error(`NcclRank: rank ${rank} outside 0..${nranks - 1}`);
    this.bridge = loadedBridge().bridge;
    this.handle = this.bridge.commInitRank(id, nranks, rank, device);
  }

  transport(): Transport {
    const exchange = (sends: PeerBytes[], recvs: PeerBytes[]): Promise<void> => {
      if (this.destroyed) return Promise.reject(new Error('NcclRank: used after destroy()'));
      const run = this.chain.then(() => this.bridge.exchange(this.handle, [{ local: 0, sends, recvs }]));
      this.chain = run.catch(() => {});
      return run.then((t) => addRound(this.stats, t));
    };
    const c: Collective = {
      rank: this.rank,
      size: this.nranks,
      exchange,
      allGather: async (bytes) => {
        const out = new Uint8Array(bytes.byteLength * this.nranks);
        out.set(bytes, this.rank * bytes.byteLength);
        const others = [...Array(this.nranks).keys()].filter((i) => i !== this.rank);
        await exchange(others.map((peer) => ({ peer, data: bytes })), others.map((peer) => ({ peer, data: out.subarray(peer * bytes.byteLength, (peer + 1) * bytes.byteLength) })));
        return out;
      },
    };
    return withDerivedCollectives(c, 'nccl');
  }

  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.bridge.commDestroy(this.handle);
  }
}
