// The shared-memory transport: every rank is a Dawn device of this one process, so a message can go straight
// from the sender's mapped MAP_READ staging into the receiver's mapped MAP_WRITE staging with ONE host copy (no
// intermediate buffer, no CUDA round trip over PCIe). The copy runs on native threads when the bridge is built
// (hostCopy), else in JavaScript (TypedArray.set, ~11 GB/s single-threaded, GPU-NOTES). The sender's exchange
// resolves only after its messages have been copied out: its staging stays mapped until then.
import type { Collective, PeerBytes } from '../graph/ops/collective.js';
import { loadBridgeModule } from './nccl.js';
import { type Transport, withDerivedCollectives } from './transport.js';

type Copier = (dst: Uint8Array, src: Uint8Array) => Promise<void> | void;

interface Posted {
  data: Uint8Array;
  consumed: () => void;
}

export interface ShmStats {
  messages: number;
  bytes: number;
  copyMs: number;
}

export class SharedMemoryGroup {
  readonly stats: ShmStats = { messages: 0, bytes: 0, copyMs: 0 };
  readonly copier: 'native' | 'js';
  private readonly copy: Copier;
  private readonly boxes = new Map<string, { posted: Posted[]; waiting: ((p: Posted) => void)[] }>();

  /** `native`: threaded copies through the bridge when it is built (default), else JS copies. */
  constructor(readonly size: number, opts: { native?: boolean } = {}) {
    if (!Number.isInteger(size) || size < 1) throw new Error(`SharedMemoryGroup: size ${size} must be a positive integer`);
    let copy: Copier = (d, s) => d.set(s);
    let kind: 'native' | 'js' = 'js';
    if (opts.native ?? true) {
      try {
        const b = loadBridgeModule();
        copy = async (d, s) => void (await b.hostCopy(d, s));
        kind = 'native';
      } catch {
        // the bridge is not built here: JS copies
      }
    }
    this.copy = copy;
    this.copier = kind;
  }

  member(rank: number): Transport {
    if (!Number.isInteger(rank) || rank < 0 || rank >= this.size) throw new Error(`SharedMemoryGroup: rank ${rank} outside 0..${this.size - 1}`);
    const c: Collective = {
      rank,
      size: this.size,
      exchange: (s, r) => this.exchange(rank, s, r),
      allGather: async (bytes) => {
        const out = new Uint8Array(bytes.byteLength * this.size);
        out.set(bytes, rank * bytes.byteLength);
        const others = Array.from({ length: this.size }, (_, i) => i).filter((i) => i !== rank);
        await this.exchange(rank, others.map((peer) => ({ peer, data: bytes })), others.map((peer) => ({ peer, data: out.subarray(peer * bytes.byteLength, (peer + 1) * bytes.byteLength) })));
        return out;
      },
    };
    return withDerivedCollectives(c, 'in-process');
  }

  private box(from: number, to: number) {
    const k = `${from}>${to}`;
    let b = this.boxes.get(k);
    if (!b) this.boxes.set(k, (b = { posted: [], waiting: [] }));
    return b;
  }

  private async exchange(rank: number, sends: PeerBytes[], recvs: PeerBytes[]): Promise<void> {
    const sent = sends.map((s) => {
      if (s.peer < 0 || s.peer >= this.size || s.peer === rank) throw new Error(`exchange: rank ${rank} cannot send to rank ${s.peer}`);
      return new Promise<void>((consumed) => {
        const p: Posted = { data: s.data, consumed };
        const b = this.box(rank, s.peer);
        const w = b.waiting.shift();
        if (w) w(p);
        else b.posted.push(p);
      });
    });
    const received = recvs.map(async (r) => {
      const b = this.box(r.peer, rank);
      const p = b.posted.shift() ?? (await new Promise<Posted>((res) => b.waiting.push(res)));
      try {
        if (p.data.byteLength !== r.data.byteLength) {
          throw new Error(`exchange: rank ${rank} expected ${r.data.byteLength} bytes from rank ${r.peer} but got ${p.data.byteLength} (the ranks' graphs disagree on the sharding)`);
        }
        const t0 = performance.now();
        await this.copy(r.data, p.data);
        this.stats.copyMs += performance.now() - t0;
        this.stats.messages++;
        this.stats.bytes += p.data.byteLength;
      } finally {
        p.consumed();
      }
    });
    await Promise.all([...received, ...sent]);
  }
}
