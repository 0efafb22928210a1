// Sequence-parallel attention as graph ops. Each rank's graph holds `rows[rank]` tokens of the joint sequence,
// with q/k/v [1, H, rows, D] already normalised and RoPE-rotated at their global positions, so a key's position
// travels with it and attention is indifferent to the order keys arrive in.
//  - Ulysses: an all-to-all gives each of u ranks H/u whole heads over the group's tokens; plain attention; an
//    all-to-all back returns each rank its own tokens with every head.
//  - Ring: K/V blocks travel around n ranks; each rank attends its queries to every block in turn (with the
//    log-sum-exp) and merges the partial results; the next block's transfer overlaps the current attention.
//  - Hybrid: Ulysses inside groups of u consecutive ranks, ring across the size/u groups (degrees beyond the
//    head count, or where an all-to-all across every rank costs more than a ring).
// All of it is host ops (src/graph/ops/collective.ts exchangeOp) and kernels in the one graph: no separate
// code path.
import { copyStrided } from '../kernels-wgsl/layout.js';
import type { Graph } from '../graph/graph.js';
import { attention } from '../graph/ops/attention.js';
import { type Collective, exchangeOp, type RecvRegion, type SelfCopy, type SendRegion } from '../graph/ops/collective.js';
import type { Tensor } from '../graph/tensor.js';
import { mergePartials } from './lse-merge.js';

export type SpStrategy = 'ulysses' | 'ring' | 'hybrid';
export const SP_STRATEGIES: readonly SpStrategy[] = ['ulysses', 'ring', 'hybrid'];

export interface SequenceParallel {
  comm: Collective;
  strategy: SpStrategy;
  /** Hybrid only: ranks per Ulysses group (the all-to-all degree); the ring runs over size / ulysses groups. */
  ulysses?: number;
  /** Joint-sequence rows each rank holds, indexed by rank (every rank's graph must agree). */
  rows: readonly number[];
  /**
   * Exchanges are pipelined in chunks of about this many bytes per message (staging copy, transfer and upload of
   * consecutive chunks overlap). Default: TETRISERVE_SP_CHUNK_MB or 16 MiB.
   */
  chunkBytes?: number;
}

/** Chunks for messages of at most `maxBytes` (the same on every rank: computed from the shared sharding). */
function chunksFor(maxBytes: number, chunkBytes?: number): number {
  const env = Number(process.env.TETRISERVE_SP_CHUNK_MB);
  const per = chunkBytes ?? (env > 0 ? env * 2 ** 20 : 16 * 2 ** 20);
  return Math.max(1, Math.ceil(maxBytes / per));
}

/** The peers of this rank's Ulysses group and of its ring (both include the rank itself, in rank order). */
export function spGroups(sp: Pick<SequenceParallel, 'strategy' | 'ulysses'>, size: number, rank: number): { ulysses: number[]; ring: number[] } {
  const range = (n: number, f: (i: number) => number) => Array.from({ length: n }, (_, i) => f(i));
  if (sp.strategy === 'ulysses') return { ulysses: range(size, (i) => i), ring: [rank] };
  if (sp.strategy === 'ring') return { ulysses: [rank], ring: range(size, (i) => i) };
  const u = sp.ulysses ?? 0;
  if (!Number.isInteger(u) || u < 1 || size % u !== 0) {
    throw new Error(`hybrid sequence parallelism: ulysses degree ${u} must divide the group size ${size} (e.g. ${size} = ${Math.min(2, size)} x ${size / Math.min(2, size)})`);
  }
  const group = Math.floor(rank / u);
  return { ulysses: range(u, (i) => group * u + i), ring: range(size / u, (j) => (rank % u) + j * u) };
}

/** The Ulysses degree a strategy uses at a given group size. */
export function ulyssesDegree(sp: Pick<SequenceParallel, 'strategy' | 'ulysses'>, size: number): number {
  return sp.strategy === 'ulysses' ? size : sp.strategy === 'ring' ? 1 : (sp.ulysses ?? 0);
}

/** Checks that `heads` and `size` admit the strategy; the error names the degrees that would work. */
export function checkStrategy(sp: Pick<SequenceParallel, 'strategy' | 'ulysses'>, size: number, heads: number): void {
  if (!SP_STRATEGIES.includes(sp.strategy)) throw new Error(`sequence parallelism: unknown strategy '${sp.strategy}' (use ${SP_STRATEGIES.join(', ')})`);
  const u = ulyssesDegree(sp, size);
  if (sp.strategy === 'hybrid') spGroups(sp, size, 0);
  if (heads % u !== 0) {
    const ok = Array.from({ length: heads }, (_, i) => i + 1).filter((d) => heads % d === 0);
    throw new Error(`sequence parallelism: Ulysses degree ${u} does not divide ${heads} heads (degrees that do: ${ok.join(', ')}); use 'ring', or 'hybrid' with a Ulysses degree among those`);
  }
}

/** Rows of a length-n sequence that rank r of `size` holds: contiguous, the first n % size ranks one longer. */
export function shardRange(n: number, size: number, rank: number): { start: number; count: number } {
  const base = Math.floor(n / size);
  const extra = n % size;
  const count = base + (rank < extra ? 1 : 0);
  const start = rank * base + Math.min(rank, extra);
  return { start, count };
}

/**
 * Attention of this rank's queries over the whole sequence: q/k/v [1, H, rows[rank], D] f16 -> out
 * [1, rows[rank], H*D] f16 (token-major, as `attention`). With one rank it is plain attention.
 */
export function parallelAttention(g: Graph, q: Tensor, k: Tensor, v: Tensor, sp: SequenceParallel, name = 'sp_attn', overlap?: () => void): Tensor {
  const { comm } = sp;
  const [B, H, L] = q.shape;
  g.check(B === 1, name, () => `sequence-parallel attention needs batch 1 (got q ${q.describe()})`);
  g.check(sp.rows.length === comm.size && sp.rows.every((r) => Number.isInteger(r) && r >= 1), name, () => `rows [${sp.rows}] must give a positive length for each of ${comm.size} ranks`);
  g.check(sp.rows[comm.rank] === L, name, () => `rank ${comm.rank} holds ${L} rows but the sharding says ${sp.rows[comm.rank]}`);
  if (comm.size === 1) {
    overlap?.();
    return attention(g, q, k, v, { name }).out;
  }
  checkStrategy(sp, comm.size, H);
  const groups = spGroups(sp, comm.size, comm.rank);
  let [qq, kk, vv] = [q, k, v];
  // `overlap` (independent work) goes inside the first transfer: the Ulysses all-to-all, else the first ring step.
  let pending = overlap;
  if (groups.ulysses.length > 1) {
    [qq, kk, vv] = ulyssesScatter(g, comm, [q, k, v], groups.ulysses, sp.rows, `${name}.a2a`, sp.chunkBytes, pending);
    pending = undefined;
  }
  // A ring member's block is its whole Ulysses group's tokens.
  const ringRows = groups.ring.map((r) => spGroups(sp, comm.size, r).ulysses.reduce((s, p) => s + sp.rows[p], 0));
  let out = groups.ring.length > 1 ? ringAttention(g, comm, qq, kk, vv, groups.ring, ringRows, `${name}.ring`, sp.chunkBytes, pending) : attention(g, qq, kk, vv, { name }).out;
  if (groups.ulysses.length > 1) out = ulyssesGather(g, comm, out, groups.ulysses, sp.rows, H, `${name}.a2a_back`, sp.chunkBytes);
  return out;
}

/**
 * q/k/v [1, H, rows[me], D] -> [1, H/u, sum(rows[peers]), D]: this rank's share of heads over the group's
 * tokens (tokens in peer order). Peer j receives heads [j*H/u, (j+1)*H/u) of each tensor: contiguous bytes.
 */
export function ulyssesScatter(g: Graph, comm: Collective, qkv: Tensor[], peers: number[], rows: readonly number[], name = 'ulysses_a2a', chunkBytes?: number, overlap?: () => void): Tensor[] {
  const [, H, L, D] = qkv[0].shape;
  const u = peers.length;
  const me = peers.indexOf(comm.rank);
  g.check(me >= 0, name, () => `rank ${comm.rank} is not in its Ulysses group [${peers}]`);
  g.check(H % u === 0, name, () => `${H} heads do not split over ${u} ranks`);
  const Hp = H / u;
  const E = 2; // f16
  const lens = peers.map((p) => rows[p]);
  const offs = lens.map((_, i) => lens.slice(0, i).reduce((a, b) => a + b, 0));
  const Lg = offs[u - 1] + lens[u - 1];
  const sends: SendRegion[] = [];
  const recvs: RecvRegion[] = [];
  const selfCopies: SelfCopy[] = [];
  for (let j = 0; j < u; j++) {
    const block = Hp * lens[j] * D * E; // one tensor's share from/to peer j
    qkv.forEach((t, ti) => {
      // Heads of peer j's tokens land at rows [offs[j], offs[j] + lens[j]) of each of our Hp heads.
      const place = Array.from({ length: Hp }, (_, h) => ({ output: ti, at: h * lens[j] * D * E, byteOffset: (h * Lg + offs[j]) * D * E, bytes: lens[j] * D * E }));
      if (j === me) {
        for (const p of place) selfCopies.push({ src: t, srcByteOffset: me * Hp * L * D * E + p.at, output: ti, dstByteOffset: p.byteOffset, bytes: p.bytes });
      } else {
        sends.push({ peer: peers[j], tensor: t, byteOffset: j * Hp * L * D * E, bytes: Hp * L * D * E });
        recvs.push({ peer: peers[j], bytes: block, place });
      }
    });
  }
  const outputs = qkv.map((t, i) => ({ shape: [1, Hp, Lg, D], dtype: t.dtype, name: `${name}.${'qkv'[i] ?? i}` }));
  // Every rank must cut its messages into the same number of chunks (NCCL rounds span all ranks): size them by
  // the longest shard of the whole sequence, not of this group.
  const chunks = chunksFor(Hp * Math.max(...rows) * D * E, chunkBytes);
  if (!overlap) return exchangeOp(g, comm, { sends, recvs, selfCopies, outputs }, { name, chunks }).outputs;
  // Split: the independent work is recorded between the start and the end of the transfer.
  const { finish } = exchangeOp(g, comm, { sends, recvs, selfCopies, outputs }, { name, chunks, split: true });
  overlap();
  return finish();
}

/**
 * Attention output [1, Lg, (H/u)*D] over the group's tokens -> [1, rows[me], H*D]: each peer gets its own rows
 * (contiguous), and the u head slices this rank receives are interleaved into columns by one strided copy.
 */
export function ulyssesGather(g: Graph, comm: Collective, o: Tensor, peers: number[], rows: readonly number[], heads: number, name = 'ulysses_a2a_back', chunkBytes?: number): Tensor {
  const [, , W] = o.shape; // W = Hp * D
  const u = peers.length;
  const me = peers.indexOf(comm.rank);
  const lens = peers.map((p) => rows[p]);
  const offs = lens.map((_, i) => lens.slice(0, i).reduce((a, b) => a + b, 0));
  const L = lens[me];
  const E = 2;
  const sends: SendRegion[] = [];
  const recvs: RecvRegion[] = [];
  const selfCopies: SelfCopy[] = [];
  for (let j = 0; j < u; j++) {
    const mine = { output: 0, at: 0, byteOffset: j * L * W * E, bytes: L * W * E };
    if (j === me) selfCopies.push({ src: o, srcByteOffset: offs[me] * W * E, output: 0, dstByteOffset: mine.byteOffset, bytes: mine.bytes });
    else {
      sends.push({ peer: peers[j], tensor: o, byteOffset: offs[j] * W * E, bytes: lens[j] * W * E });
      recvs.push({ peer: peers[j], bytes: L * W * E, place: [mine] });
    }
  }
  const chunks = chunksFor(Math.max(...rows) * W * E, chunkBytes);
  const [stacked] = exchangeOp(g, comm, { sends, recvs, selfCopies, outputs: [{ shape: [u, L, W], dtype: o.dtype, name: `${name}.recv` }] }, { name, chunks }).outputs;
  // [u, L, Hp*D] (head slice j from peer j) -> [1, L, H*D] with slice j at columns j*Hp*D.
  g.check(heads % u === 0, name, () => `${heads} heads do not split over ${u} ranks`);
  const [out] = g.op({
    kind: 'copy_strided',
    name: `${name}.interleave`,
    inputs: [stacked],
    outputs: [{ shape: [1, L, u * W], dtype: o.dtype }],
    exec: {
      type: 'kernel',
      launch: async (ctx, view) => copyStrided(ctx, { src: view(stacked), dst: view(out), shape: [u, L, W], srcStrides: [L * W, W, 1], dstStrides: [W, u * W, 1] }, `${name}.interleave`),
    },
  });
  return out;
}

/**
 * Ring attention over n ranks: q/k/v [1, Hq, lens[me], D]; K/V blocks move to the next ring member each step
 * (the transfer of block s+1 overlaps the attention on block s), partial outputs merge by log-sum-exp.
 * Returns [1, lens[me], Hq*D] f16.
 */
export function ringAttention(g: Graph, comm: Collective, q: Tensor, k: Tensor, v: Tensor, ring: number[], lens: number[], name = 'ring_attn', chunkBytes?: number, overlap?: () => void): Tensor {
  const n = ring.length;
  const me = ring.indexOf(comm.rank);
  g.check(me >= 0, name, () => `rank ${comm.rank} is not in its ring [${ring}]`);
  const [, Hq, , D] = q.shape;
  const next = ring[(me + 1) % n];
  const prev = ring[(me - 1 + n) % n];
  const E = 2;
  const chunks = chunksFor(Hq * Math.max(...lens) * D * E, chunkBytes);
  let cur = { k, v };
  const parts: { out: Tensor; lse: Tensor }[] = [];
  for (let s = 0; s < n; s++) {
    let finish: (() => Tensor[]) | null = null;
    if (s < n - 1) {
      // After this step we hold the block that started at ring member me - s - 1.
      const len = lens[(me - s - 1 + 2 * n) % n];
      const bytes = Hq * len * D * E;
      const curBytes = cur.k.bytes;
      finish = exchangeOp(g, comm, {
        sends: [{ peer: next, tensor: cur.k, byteOffset: 0, bytes: curBytes }, { peer: next, tensor: cur.v, byteOffset: 0, bytes: curBytes }],
        recvs: [0, 1].map((i) => ({ peer: prev, bytes, place: [{ output: i, at: 0, byteOffset: 0, bytes }] })),
        outputs: [{ shape: [1, Hq, len, D], dtype: k.dtype, name: `${name}.k${s + 1}` }, { shape: [1, Hq, len, D], dtype: v.dtype, name: `${name}.v${s + 1}` }],
      }, { name: `${name}.step${s + 1}`, split: true, chunks }).finish;
    }
    if (s === 0) overlap?.(); // independent work also runs while the first block travels
    const r = attention(g, q, cur.k, cur.v, { withLse: true, name: `${name}.block${s}` });
    parts.push({ out: r.out, lse: r.lse! });
    if (finish) {
      const [k2, v2] = finish();
      cur = { k: k2, v: v2 };
    }
  }
  return mergePartials(g, parts, Hq, `${name}.merge`);
}
