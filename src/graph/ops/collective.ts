// Collectives as graph ops, for sequence parallelism: each rank's graph holds a slice of the token sequence and
// exchanges activations at host ops, between command buffers. The exchange itself is behind `Collective`: the
// native NCCL bridge implements it over pinned staging memory (dawn.node exposes no GPU memory to CUDA, see
// GPU-NOTES), and `LocalCollectiveGroup` implements it in-process (tests; several plans on one or more devices).
import type { Graph } from '../graph.js';
import type { Tensor } from '../tensor.js';
import { fail, type OpOptions } from './common.js';

export interface Collective {
  readonly rank: number;
  readonly size: number;
  /** Every rank contributes the same number of bytes; resolves to all contributions concatenated by rank. */
  allGather(bytes: Uint8Array): Promise<Uint8Array>;
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

/** In-process collectives among `size` members (each typically running its own Plan concurrently). */
export class LocalCollectiveGroup {
  private readonly rounds = new Map<number, { parts: (Uint8Array | null)[]; waiters: ((all: Uint8Array) => void)[]; arrived: number }>();
  private readonly nextRound: number[];

  constructor(readonly size: number) {
    if (!Number.isInteger(size) || size < 1) throw new Error(`LocalCollectiveGroup: size ${size} must be a positive integer`);
    this.nextRound = new Array(size).fill(0);
  }

  member(rank: number): Collective {
    if (!Number.isInteger(rank) || rank < 0 || rank >= this.size) throw new Error(`LocalCollectiveGroup: rank ${rank} outside 0..${this.size - 1}`);
    return { rank, size: this.size, allGather: (bytes) => this.allGather(rank, bytes) };
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
