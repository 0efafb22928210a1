// Placement: turning "request r gets k GPUs" into concrete GPU ids.
// With preservation on, a request keeps as many of its previous GPUs as it can (no latent transfer, no new
// communicator), and newcomers avoid GPUs that are another request's home this round. Groups need not be
// contiguous. With preservation off (ablation), GPUs are dealt from the free list in order.
import type { GpuId } from './types.js';

export interface PlacementWant {
  readonly requestId: number;
  readonly degree: number;
  /** The request's previous group (empty if it never ran). */
  readonly lastGroup: readonly GpuId[];
}

/** True when running on `next` means moving the request's state from the group it last ran on. */
export function needsGroupChange(lastGroup: readonly GpuId[], next: readonly GpuId[]): boolean {
  if (lastGroup.length === 0) return false;
  if (lastGroup.length !== next.length) return true;
  for (let i = 0; i < next.length; i++) if (lastGroup[i] !== next[i]) return true;
  return false;
}

/**
 * Places each want on distinct free GPUs (the caller guarantees the degrees fit). Returns groups in the same
 * order as `wants`, each sorted ascending. `total` is the cluster size (ids are < total).
 */
export function place(wants: readonly PlacementWant[], free: readonly GpuId[], total: number, preserve: boolean): GpuId[][] {
  const groups: GpuId[][] = wants.map(() => []);
  // owner[g]: -2 not free, -1 free and unclaimed, >= 0 claimed by wants[owner].
  const owner = new Int32Array(total).fill(-2);
  for (const g of free) owner[g] = -1;
  let need = 0;
  for (const w of wants) need += w.degree;
  if (need > free.length) throw new Error(`placement: ${need} GPUs wanted but only ${free.length} free`);
  if (preserve) {
    // home[g]: index of the want whose previous group contains free GPU g (-1 none). Used to keep newcomers
    // off GPUs that someone else will want back.
    const home = new Int32Array(total).fill(-1);
    wants.forEach((w, i) => {
      for (const g of w.lastGroup) if (g < total && owner[g] === -1 && home[g] === -1) home[g] = i;
    });
    // Pass 1: reclaim previous GPUs, up to the new degree.
    wants.forEach((w, i) => {
      for (const g of w.lastGroup) {
        if (groups[i].length >= w.degree) break;
        if (g < total && owner[g] === -1) {
          owner[g] = i;
          groups[i].push(g);
        }
      }
    });
    // Pass 2: fill the rest, first from GPUs nobody calls home, then from the others.
    for (const pass of [0, 1]) {
      wants.forEach((w, i) => {
        for (const g of free) {
          if (groups[i].length >= w.degree) break;
          if (owner[g] !== -1) continue;
          if (pass === 0 && home[g] !== -1 && home[g] !== i) continue;
          owner[g] = i;
          groups[i].push(g);
        }
      });
    }
  } else {
    let next = 0;
    wants.forEach((w, i) => {
      while (groups[i].length < w.degree) {
        const g = free[next++];
        owner[g] = i;
        groups[i].push(g);
      }
    });
  }
  for (const g of groups) g.sort((a, b) => a - b);
  return groups;
}
