// The transport behind sequence parallelism: grouped send/recv (the primitive all-to-all and ring shifts are
// made of), all-gather, broadcast and barrier over host byte ranges. The graph's exchange host ops
// (src/graph/ops/collective.ts) hand it views of the mapped staging memory of Dawn buffers, so an implementation
// that never copies in JavaScript (NCCL through native/nccl-bridge) moves those bytes straight from and into
// Dawn's staging.
//
// Two implementations share these semantics:
//  - in-process (`inProcessGroup`): members are plans in one process (CI on lavapipe, several Dawn devices or
//    several plans on one device); messages are copied between mailboxes.
//  - NCCL (`src/parallel/nccl.ts`): one process drives every GPU of a host; each round of calls from all ranks
//    becomes one NCCL group of sends/recvs.
import { type Collective, LocalCollectiveGroup, type PeerBytes } from '../graph/ops/collective.js';

export type { Collective, PeerBytes };

export interface Transport extends Collective {
  readonly kind: 'in-process' | 'nccl';
  /** Root's bytes into every rank's `data` (same length everywhere). */
  broadcast(data: Uint8Array, root: number): Promise<void>;
  /** Resolves when every rank has called it. */
  barrier(): Promise<void>;
  /** Equal-sized all-to-all: chunk j of `send` goes to rank j; chunk i of `recv` comes from rank i. */
  allToAll(send: Uint8Array, recv: Uint8Array): Promise<void>;
}

/** Broadcast, barrier and all-to-all expressed with grouped send/recv (what every transport can do). */
export function withDerivedCollectives(c: Collective, kind: Transport['kind']): Transport {
  const others = Array.from({ length: c.size }, (_, i) => i).filter((i) => i !== c.rank);
  return {
    kind,
    rank: c.rank,
    size: c.size,
    exchange: (s, r) => c.exchange(s, r),
    allGather: (b) => c.allGather(b),
    async broadcast(data, root) {
      if (!Number.isInteger(root) || root < 0 || root >= c.size) throw new Error(`broadcast: root ${root} outside 0..${c.size - 1}`);
      if (c.rank === root) await c.exchange(others.map((peer) => ({ peer, data })), []);
      else await c.exchange([], [{ peer: root, data }]);
    },
    async barrier() {
      const token = new Uint8Array(4);
      await c.exchange(others.map((peer) => ({ peer, data: token })), others.map((peer) => ({ peer, data: new Uint8Array(4) })));
    },
    async allToAll(send, recv) {
      if (send.byteLength !== recv.byteLength || send.byteLength % c.size !== 0) {
        throw new Error(`allToAll: send (${send.byteLength} bytes) and recv (${recv.byteLength}) must be equal and divisible by ${c.size} ranks`);
      }
      const n = send.byteLength / c.size;
      recv.set(send.subarray(c.rank * n, (c.rank + 1) * n), c.rank * n);
      await c.exchange(
        others.map((peer) => ({ peer, data: send.subarray(peer * n, (peer + 1) * n) })),
        others.map((peer) => ({ peer, data: recv.subarray(peer * n, (peer + 1) * n) })),
      );
    },
  };
}

/** `size` in-process members (index = rank). */
export function inProcessGroup(size: number): Transport[] {
  const group = new LocalCollectiveGroup(size);
  return Array.from({ length: size }, (_, r) => withDerivedCollectives(group.member(r), 'in-process'));
}

/** A view of `members` (global ranks, in order) as a communicator of their own, for sub-groups. */
export function subTransport(parent: Collective, members: readonly number[]): Collective {
  const me = members.indexOf(parent.rank);
  if (me < 0) throw new Error(`subTransport: rank ${parent.rank} is not among [${members}]`);
  const map = (xs: PeerBytes[]) => xs.map((x) => ({ peer: members[x.peer], data: x.data }));
  return {
    rank: me,
    size: members.length,
    exchange: (s, r) => parent.exchange(map(s), map(r)),
    allGather: async (bytes) => {
      const out = new Uint8Array(bytes.byteLength * members.length);
      out.set(bytes, me * bytes.byteLength);
      const others = members.map((_, i) => i).filter((i) => i !== me);
      await parent.exchange(
        others.map((i) => ({ peer: members[i], data: bytes })),
        others.map((i) => ({ peer: members[i], data: out.subarray(i * bytes.byteLength, (i + 1) * bytes.byteLength) })),
      );
      return out;
    },
  };
}
