// Cost model: the profile flattened into typed arrays indexed by (resolution slot, degree slot), so the
// per-round decision (allocation, packing) does array reads instead of map lookups and interpolation.
import { interpolateGroupChange, interpolateStep, type LatencyProfile } from './profile.js';

/**
 * Step time of a degree with no batched measurement, in a batch slot: large and finite (not Infinity, so the
 * planners' arithmetic stays NaN-free); no deadline is ever met with it, so it is never chosen.
 */
export const UNMEASURED_STEP = 1e6;

export class CostModel {
  /** Degrees usable on this cluster (profile degrees <= gpu count), ascending. */
  readonly degrees: Int32Array;
  private readonly slotOf = new Map<number, number>();
  private readonly batchSlotOf = new Map<string, number>();
  private resolutions: number[] = [];
  /** stepTime[slot * D + d]: seconds per step at degrees[d]. */
  private stepTime = new Float64Array(0);
  private groupChange = new Float64Array(0);
  /** Fastest step time per slot and the degree slot achieving it (the largest degree is not always fastest). */
  private fastest = new Float64Array(0);
  private fastestDeg = new Int32Array(0);

  constructor(readonly profile: LatencyProfile, gpuCount: number, readonly maxDegree = Infinity) {
    if (!Number.isInteger(gpuCount) || gpuCount < 1) throw new Error(`gpu count must be a positive integer (got ${gpuCount})`);
    const ds = profile.degrees.filter((d) => d <= gpuCount && d <= maxDegree);
    if (ds.length === 0) throw new Error(`no profiled degree fits ${gpuCount} GPU(s); the profile has degrees ${profile.degrees.join(', ')}`);
    this.degrees = Int32Array.from(ds);
  }

  get degreeCount(): number {
    return this.degrees.length;
  }

  /** Slot of a resolution, interpolating and caching its row on first use. */
  slot(resolution: number): number {
    const s = this.slotOf.get(resolution);
    if (s !== undefined) return s;
    const slot = this.addRow(resolution, (d) => interpolateStep(this.profile, resolution, d));
    this.slotOf.set(resolution, slot);
    return slot;
  }

  /**
   * Slot of a virtual "request" that is a batch of `batch` requests of this exact profiled resolution: its step
   * time at each degree is the profile's batched step time, or UNMEASURED_STEP where the profile has none (so every
   * planner treats that degree as unusable without special cases). Group-change cost: the resolution's.
   */
  batchSlot(resolution: number, batch: number): number {
    if (batch === 1) return this.slot(resolution);
    const key = `${resolution}x${batch}`;
    const s = this.batchSlotOf.get(key);
    if (s !== undefined) return s;
    const slot = this.addRow(resolution, (d) => {
      const t = this.batchStep(resolution, d, batch);
      return Number.isNaN(t) ? UNMEASURED_STEP : t;
    });
    this.batchSlotOf.set(key, slot);
    return slot;
  }

  /** Batch sizes >= 2 with a batched step time at this exact resolution (any degree usable here), ascending. */
  batchSizes(resolution: number): number[] {
    const e = this.profile.entries.find((x) => x.resolution === resolution);
    if (!e?.batchStepSeconds) return [];
    const usable = new Set([...this.degrees].map(String));
    return Object.entries(e.batchStepSeconds)
      .filter(([, row]) => Object.keys(row).some((d) => usable.has(d)))
      .map(([b]) => Number(b))
      .sort((a, b) => a - b);
  }

  private addRow(resolution: number, stepAt: (degree: number) => number): number {
    const slot = this.resolutions.length;
    this.resolutions.push(resolution);
    const D = this.degrees.length;
    const st = new Float64Array((slot + 1) * D);
    st.set(this.stepTime);
    const gc = new Float64Array(slot + 1);
    gc.set(this.groupChange);
    const fa = new Float64Array(slot + 1);
    fa.set(this.fastest);
    const fd = new Int32Array(slot + 1);
    fd.set(this.fastestDeg);
    let best = Infinity;
    let bestD = 0;
    for (let d = 0; d < D; d++) {
      const t = stepAt(this.degrees[d]);
      st[slot * D + d] = t;
      if (t < best) {
        best = t;
        bestD = d;
      }
    }
    gc[slot] = interpolateGroupChange(this.profile, resolution);
    fa[slot] = best;
    fd[slot] = bestD;
    this.stepTime = st;
    this.groupChange = gc;
    this.fastest = fa;
    this.fastestDeg = fd;
    return slot;
  }

  step(slot: number, degreeSlot: number): number {
    return this.stepTime[slot * this.degrees.length + degreeSlot];
  }

  /** Step time at an explicit degree (must be a profiled one). */
  stepAtDegree(slot: number, degree: number): number {
    const d = this.degreeSlot(degree);
    return this.step(slot, d);
  }

  degreeSlot(degree: number): number {
    const i = this.degrees.indexOf(degree);
    if (i < 0) throw new Error(`degree ${degree} is not usable here (usable: ${[...this.degrees].join(', ')})`);
    return i;
  }

  groupChangeSeconds(slot: number): number {
    return this.groupChange[slot];
  }

  fastestStep(slot: number): number {
    return this.fastest[slot];
  }

  fastestDegreeSlot(slot: number): number {
    return this.fastestDeg[slot];
  }

  /**
   * Seconds per step of a batch of `batch` requests of this exact profiled resolution at `degree`, or NaN when the
   * profile has no such measurement (batched latencies are not interpolated: batching pays off only where it was
   * measured). Batch 1 is the ordinary step time.
   */
  batchStep(resolution: number, degree: number, batch: number): number {
    if (batch === 1) return this.stepAtDegree(this.slot(resolution), degree);
    const e = this.profile.entries.find((x) => x.resolution === resolution);
    const v = e?.batchStepSeconds?.[String(batch)]?.[String(degree)];
    return typeof v === 'number' ? v : NaN;
  }

  /** Fastest step time using at most `cap` GPUs. */
  fastestStepWithin(slot: number, cap: number): number {
    let best = Infinity;
    const D = this.degrees.length;
    for (let d = 0; d < D && this.degrees[d] <= cap; d++) best = Math.min(best, this.stepTime[slot * D + d]);
    return best;
  }
}
