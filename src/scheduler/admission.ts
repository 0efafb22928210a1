// Admission control: decide at arrival whether a request can still be served on time, so a server can refuse it
// at once (HTTP 503/429 with a reason) instead of queueing work that is bound to miss its deadline.
//
// The test is a processor-demand bound over the cost model, the classic schedulability test for deadlines:
// every admitted request that can still make its deadline needs at least the GPU-seconds of its
// min-GPU-seconds plan (minPlanGpuSeconds) before its deadline, and the cluster offers alive x (d - now)
// GPU-seconds before time d. For each deadline d from the new one on, the work due by d must fit. It is a
// necessary condition (fragmentation and round boundaries can still make a request miss), so admission
// never rejects a request some schedule could have served; it rejects the ones no schedule can.
import { minPlanGpuSeconds } from './allocation.js';
import type { CostModel } from './cost-model.js';
import type { Request } from './types.js';

export interface AdmissionDecision {
  readonly accepted: boolean;
  /** One sentence for a log line or an HTTP error body; "" when accepted. */
  readonly reason: string;
  /**
   * Lower bound on the new request's finish time: running alone at its fastest degree from now, or after the
   * work due no later than it has been spread over all alive GPUs, whichever is later (seconds, caller's clock).
   */
  readonly earliestFinish: number;
}

/** An admitted, unfinished request as the admission test sees it. */
export interface AdmittedWork {
  readonly req: Request;
  /** Steps already completed. */
  readonly done: number;
}

/**
 * Decides whether `req` (arriving at `now`) can be served by its deadline on `aliveGpus` GPUs next to the work
 * already admitted. Pure: it reads the cost model and the list, changes nothing.
 */
export function checkAdmission(model: CostModel, req: Request, now: number, aliveGpus: number, admitted: Iterable<AdmittedWork>): AdmissionDecision {
  if (!Number.isInteger(aliveGpus) || aliveGpus < 0) throw new Error(`admission: aliveGpus must be an integer >= 0 (got ${aliveGpus})`);
  const slot = model.slot(req.resolution);
  const fastest = model.fastestStep(slot);
  const solo = now + req.steps * fastest;
  if (aliveGpus === 0) return { accepted: false, reason: 'no GPU is alive', earliestFinish: Infinity };
  if (solo > req.deadline + 1e-9) {
    return {
      accepted: false,
      reason: `cannot finish by its deadline even alone on the fastest degree: ${req.steps} steps of ${req.resolution}² need ${(solo - now).toFixed(2)} s, ${(req.deadline - now).toFixed(2)} s are left`,
      earliestFinish: solo,
    };
  }
  // Demand of each admitted request that can still make it (late ones are best effort and do not count).
  const due: { deadline: number; gpuSeconds: number }[] = [];
  for (const w of admitted) {
    const left = w.req.steps - w.done;
    if (left <= 0) continue;
    const s = model.slot(w.req.resolution);
    if (now + left * model.fastestStep(s) > w.req.deadline + 1e-9) continue;
    due.push({ deadline: w.req.deadline, gpuSeconds: minPlanGpuSeconds(model, s, left, w.req.deadline - now) });
  }
  const own = minPlanGpuSeconds(model, slot, req.steps, req.deadline - now);
  due.sort((a, b) => a.deadline - b.deadline);
  // Work due no later than the new request (it competes with it under any deadline-respecting order).
  let before = own;
  let i = 0;
  for (; i < due.length && due[i].deadline <= req.deadline; i++) before += due[i].gpuSeconds;
  const earliestFinish = Math.max(solo, now + before / aliveGpus);
  const capacity = (d: number): number => aliveGpus * (d - now);
  if (before > capacity(req.deadline) + 1e-9) {
    return {
      accepted: false,
      reason: `the cluster is full: work due by its deadline needs ${before.toFixed(1)} GPU-seconds, ${aliveGpus} GPU(s) offer ${capacity(req.deadline).toFixed(1)}`,
      earliestFinish,
    };
  }
  // Admitting it must not break a later deadline that fitted without it.
  let acc = before;
  for (; i < due.length; i++) {
    acc += due[i].gpuSeconds;
    const cap = capacity(due[i].deadline);
    if (acc > cap + 1e-9 && acc - own <= cap + 1e-9) {
      return {
        accepted: false,
        reason: `admitting it would make an already admitted request miss: work due by t=${due[i].deadline.toFixed(2)} s would need ${acc.toFixed(1)} GPU-seconds of ${cap.toFixed(1)}`,
        earliestFinish,
      };
    }
  }
  return { accepted: true, reason: '', earliestFinish };
}

/** One request's claim on the cluster for demandTriage. */
export interface DemandItem {
  readonly deadline: number;
  /** GPU-seconds it still needs (its min-GPU-seconds plan). */
  readonly gpuSeconds: number;
  /** Queued requests may be given up; running ones may not (their GPUs are taken anyway). */
  readonly droppable: boolean;
}

/**
 * Which requests to give up so that the rest can meet their deadlines on a fluid cluster: the same demand bound
 * as admission, applied to everyone at once. It is Moore–Hodgson's rule (optimal for the number of late jobs
 * on one machine): walk the requests in deadline order and, whenever the work due by the current deadline
 * exceeds aliveGpus x (deadline - now), give up the droppable request with the largest demand so far (ties: the
 * later deadline). Returns the indices given up. The fluid bound ignores fragmentation, so it never gives up a
 * request that some schedule could save together with all the others kept; it may keep too many.
 */
export function demandTriage(items: readonly DemandItem[], now: number, aliveGpus: number): Set<number> {
  const order = items.map((_, i) => i).sort((a, b) => items[a].deadline - items[b].deadline || a - b);
  const dropped = new Set<number>();
  const kept: number[] = [];
  let acc = 0;
  for (const i of order) {
    acc += items[i].gpuSeconds;
    if (items[i].droppable) kept.push(i);
    const cap = aliveGpus * (items[i].deadline - now);
    while (acc > cap + 1e-9 && kept.length > 0) {
      let worst = 0;
      for (let k = 1; k < kept.length; k++) {
        const a = items[kept[k]];
        const b = items[kept[worst]];
        if (a.gpuSeconds > b.gpuSeconds + 1e-12 || (Math.abs(a.gpuSeconds - b.gpuSeconds) <= 1e-12 && a.deadline > b.deadline)) worst = k;
      }
      const [gone] = kept.splice(worst, 1);
      dropped.add(gone);
      acc -= items[gone].gpuSeconds;
    }
  }
  return dropped;
}
