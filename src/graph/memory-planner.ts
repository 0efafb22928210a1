// Places activation buffers in a few arena GPUBuffers by liveness, so peak activation memory stays near the
// largest set of buffers alive at one moment.
//
// Pure arithmetic, no GPU: the graph turns its tensors into requests (size + first/last op index) and conflict
// pairs, this module returns (arena, byte offset) for each.
//
// Why conflicts and several arenas, not one: WebGPU validates usage per *buffer* inside a dispatch, so a
// dispatch may not bind one buffer both read-only and writable, even at disjoint ranges (Dawn: "includes
// writable usage and another usage in the same synchronization scope"; copyBufferToBuffer likewise refuses
// src === dst). A tensor an op reads and a tensor the same op writes must therefore live in different arenas.
// The planner honours that as a constraint and otherwise packs as tightly as it can.
//
// Algorithm: greedy in a few orders (largest first, longest-lived first, ...; the best total wins), best-fit gap
// among buffers whose lifetimes overlap, choosing among the arenas that have no conflicting buffer the one that
// grows least (a new arena is always a candidate).

export interface BufferRequest {
  id: number;
  /** For error messages: the tensor(s) this storage holds. */
  label: string;
  bytes: number;
  /** First op index at which the storage must hold data (inclusive). */
  start: number;
  /** Last op index at which the storage is read (inclusive). */
  end: number;
}

export interface PlannerOptions {
  /** Offset alignment (WebGPU minStorageBufferOffsetAlignment, 256). Sizes are rounded up to it as well. */
  alignment: number;
  /** Largest single binding (maxStorageBufferBindingSize): no buffer may exceed it. */
  maxBindingBytes: number;
  /** Largest GPUBuffer (maxBufferSize): no arena may exceed it. */
  maxArenaBytes: number;
  /** Pairs of request ids that must not share an arena (read and written by one op). */
  conflicts?: ReadonlyArray<readonly [number, number]>;
}

export interface Placement {
  arena: number;
  offset: number;
  /** Size reserved (bytes rounded up to the alignment). */
  size: number;
}

export interface MemoryPlan {
  placements: Map<number, Placement>;
  /** Size of each arena buffer in bytes (multiples of the alignment). */
  arenaBytes: number[];
  /** Sum of arenaBytes: the activation memory actually allocated. */
  totalBytes: number;
  /** Max over time of the sum of (aligned) sizes alive at once: the lower bound any placement must pay. */
  liveSetPeakBytes: number;
  /** An op index at which that maximum is reached. */
  liveSetPeakAt: number;
}

export class MemoryPlanError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MemoryPlanError';
  }
}

function alignUp(x: number, a: number): number {
  return Math.ceil(x / a) * a;
}

interface Placed {
  id: number;
  offset: number;
  size: number;
  start: number;
  end: number;
}

export function planMemory(requests: readonly BufferRequest[], opts: PlannerOptions): MemoryPlan {
  const { alignment, maxBindingBytes, maxArenaBytes } = opts;
  if (!(alignment > 0) || (alignment & (alignment - 1)) !== 0) throw new MemoryPlanError(`alignment must be a power of two, got ${alignment}`);
  const seen = new Set<number>();
  for (const r of requests) {
    if (seen.has(r.id)) throw new MemoryPlanError(`duplicate buffer request id ${r.id} (${r.label})`);
    seen.add(r.id);
    if (!(r.bytes >= 0) || !Number.isFinite(r.bytes)) throw new MemoryPlanError(`buffer '${r.label}' has invalid size ${r.bytes}`);
    if (!(r.start <= r.end)) throw new MemoryPlanError(`buffer '${r.label}' has lifetime [${r.start}, ${r.end}]: start after end`);
    if (r.bytes > maxBindingBytes) {
      throw new MemoryPlanError(
        `tensor '${r.label}' needs ${r.bytes} bytes but the adapter binds at most ${maxBindingBytes} bytes per buffer ` +
          `(maxStorageBufferBindingSize). Fix: split the op that produces it (e.g. fewer tokens per chunk) or use a GPU with a larger limit.`,
      );
    }
    if (alignUp(Math.max(r.bytes, 1), alignment) > maxArenaBytes) {
      throw new MemoryPlanError(`tensor '${r.label}' (${r.bytes} bytes) exceeds maxBufferSize ${maxArenaBytes}`);
    }
  }

  const conflictsOf = new Map<number, Set<number>>();
  for (const [a, b] of opts.conflicts ?? []) {
    if (a === b) throw new MemoryPlanError(`buffer ${a} conflicts with itself (an op reads and writes it through different bindings)`);
    if (!conflictsOf.has(a)) conflictsOf.set(a, new Set());
    if (!conflictsOf.has(b)) conflictsOf.set(b, new Set());
    conflictsOf.get(a)!.add(b);
    conflictsOf.get(b)!.add(a);
  }

  const sized = [...requests].map((r) => ({ ...r, size: alignUp(Math.max(r.bytes, 1), alignment) }));
  // Greedy placement depends on the order; each order costs milliseconds (FLUX's 964-op graph: ~20 ms), so try
  // a few and keep the smallest total. Largest-first is the classic. Longest-lived-first won on the real FLUX.1
  // graph when matmuls may share arenas (409.5 -> 382.5 MiB at 1024^2, live-set bound 328.5): the residual
  // streams and modulation vectors that span many blocks claim the arena bottoms, short-lived buffers pack above.
  const degree = (id: number) => conflictsOf.get(id)?.size ?? 0;
  const orders: ((x: Sized, y: Sized) => number)[] = [
    (x, y) => y.size - x.size || x.start - y.start || x.id - y.id,
    (x, y) => y.size * (y.end - y.start + 1) - x.size * (x.end - x.start + 1) || y.size - x.size || x.id - y.id,
    (x, y) => (degree(y.id) > 0 ? 1 : 0) - (degree(x.id) > 0 ? 1 : 0) || y.size - x.size || x.start - y.start || x.id - y.id,
    (x, y) => y.end - y.start - (x.end - x.start) || y.size - x.size || x.id - y.id,
  ];
  let best: Placed2 | null = null;
  for (const cmp of orders) {
    const attempt = placeAll([...sized].sort(cmp), conflictsOf, maxArenaBytes);
    const total = attempt.arenaBytes.reduce((a, b) => a + b, 0);
    if (!best || total < best.total) best = { ...attempt, total };
  }
  const { placements, arenaBytes } = best!;

  const { peak, at } = liveSetPeak(sized);
  return {
    placements,
    arenaBytes,
    totalBytes: arenaBytes.reduce((s, x) => s + x, 0),
    liveSetPeakBytes: peak,
    liveSetPeakAt: at,
  };
}

interface Sized extends BufferRequest {
  size: number;
}

interface Placed2 {
  placements: Map<number, Placement>;
  arenaBytes: number[];
  total: number;
}

/** Places buffers in the given order: best-fit gap, in the conflict-free arena that grows least. */
function placeAll(order: readonly Sized[], conflictsOf: Map<number, Set<number>>, maxArenaBytes: number): Omit<Placed2, 'total'> {
  const arenas: Placed[][] = [];
  const arenaBytes: number[] = [];
  const placements = new Map<number, Placement>();
  for (const r of order) {
    const mine = conflictsOf.get(r.id);
    let best: { arena: number; offset: number; growth: number; waste: number } | null = null;
    for (let a = 0; a <= arenas.length; a++) {
      const items = arenas[a] ?? [];
      if (mine && items.some((p) => mine.has(p.id))) continue;
      const fit = bestFit(items, r, maxArenaBytes);
      if (!fit) continue;
      const cur = arenaBytes[a] ?? 0;
      const growth = Math.max(0, fit.offset + r.size - cur);
      const better =
        !best || growth < best.growth || (growth === best.growth && (fit.waste < best.waste || (fit.waste === best.waste && a < best.arena)));
      if (better) best = { arena: a, offset: fit.offset, growth, waste: fit.waste };
    }
    // A new, empty arena always fits (sizes were checked against maxArenaBytes).
    const b = best!;
    if (b.arena === arenas.length) {
      arenas.push([]);
      arenaBytes.push(0);
    }
    arenas[b.arena].push({ id: r.id, offset: b.offset, size: r.size, start: r.start, end: r.end });
    arenaBytes[b.arena] = Math.max(arenaBytes[b.arena], b.offset + r.size);
    placements.set(r.id, { arena: b.arena, offset: b.offset, size: r.size });
  }
  return { placements, arenaBytes };
}

/** Smallest gap (among buffers alive at the same time) that holds r; else the first offset after them all. */
function bestFit(items: readonly Placed[], r: { size: number; start: number; end: number }, limit: number): { offset: number; waste: number } | null {
  const overlapping = items.filter((p) => p.start <= r.end && r.start <= p.end).sort((x, y) => x.offset - y.offset);
  let best: { offset: number; waste: number } | null = null;
  let cursor = 0;
  for (const p of overlapping) {
    const gap = p.offset - cursor;
    if (gap >= r.size && (!best || gap - r.size < best.waste)) best = { offset: cursor, waste: gap - r.size };
    cursor = Math.max(cursor, p.offset + p.size);
  }
  if (best) return best;
  if (cursor + r.size > limit) return null;
  return { offset: cursor, waste: 0 };
}

function liveSetPeak(reqs: readonly { start: number; end: number; size: number }[]): { peak: number; at: number } {
  // Sweep over op indices: +size at start, -size after end.
  const events: [number, number][] = [];
  for (const r of reqs) {
    events.push([r.start, r.size]);
    events.push([r.end + 1, -r.size]);
  }
  events.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let cur = 0;
  let peak = 0;
  let at = 0;
  for (let i = 0; i < events.length; i++) {
    cur += events[i][1];
    const nextSameTime = i + 1 < events.length && events[i + 1][0] === events[i][0];
    if (!nextSameTime && cur > peak) {
      peak = cur;
      at = events[i][0];
    }
  }
  return { peak, at };
}

/** Checks a plan's invariants (used by tests and, cheaply, by the executor in debug builds). */
export function validatePlan(requests: readonly BufferRequest[], plan: MemoryPlan, opts: PlannerOptions): string[] {
  const problems: string[] = [];
  const byId = new Map(requests.map((r) => [r.id, r]));
  const list = requests.map((r) => ({ r, p: plan.placements.get(r.id) }));
  for (const { r, p } of list) {
    if (!p) {
      problems.push(`'${r.label}' not placed`);
      continue;
    }
    if (p.offset % opts.alignment !== 0) problems.push(`'${r.label}' offset ${p.offset} not aligned to ${opts.alignment}`);
    if (p.offset + r.bytes > plan.arenaBytes[p.arena]) problems.push(`'${r.label}' overruns arena ${p.arena}`);
  }
  for (let i = 0; i < list.length; i++) {
    for (let j = i + 1; j < list.length; j++) {
      const a = list[i];
      const b = list[j];
      if (!a.p || !b.p || a.p.arena !== b.p.arena) continue;
      const timeOverlap = a.r.start <= b.r.end && b.r.start <= a.r.end;
      const spaceOverlap = a.p.offset < b.p.offset + b.p.size && b.p.offset < a.p.offset + a.p.size;
      if (timeOverlap && spaceOverlap) problems.push(`'${a.r.label}' and '${b.r.label}' overlap in arena ${a.p.arena}`);
    }
  }
  for (const [x, y] of opts.conflicts ?? []) {
    const px = plan.placements.get(x);
    const py = plan.placements.get(y);
    if (px && py && px.arena === py.arena) problems.push(`conflicting '${byId.get(x)?.label}' and '${byId.get(y)?.label}' share arena ${px.arena}`);
  }
  return problems;
}
