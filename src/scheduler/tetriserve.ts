// TetriServe's round-based scheduler (arXiv 2510.01565): fixed-length rounds; per request the step-level plan
// that meets its deadline with the fewest GPU-seconds; each round packed by a group-knapsack DP over the free
// GPUs maximising the requests still able to meet their deadlines; placement preserved across rounds;
// work-conserving elastic scale-up of idle GPUs; late requests get at most one GPU, best effort, last.
// Choices the paper leaves open are documented in docs/scheduler.md and marked "choice:" below.
import { demandTriage, type DemandItem } from './admission.js';
import { minGpuSecondsPlan, minPlanGpuSeconds, planNextSlot } from './allocation.js';
import { UNMEASURED_STEP, type CostModel } from './cost-model.js';
import { Packer } from './packing.js';
import { needsGroupChange, place, type PlacementWant } from './placement.js';
import { TableScheduler } from './request-table.js';
import type { Assignment, GpuId, GpuState, RequestState, StepsDone } from './types.js';

export interface TetriServeOptions {
  /** Round length in steps (paper default 5); the round lasts roundSteps x the reference step time. */
  roundSteps?: number;
  /** Keep requests on their previous GPUs where possible (paper: placement preservation). */
  placement?: boolean;
  /** Give idle GPUs to deferred requests and scale scheduled ones up (paper: elastic scale-up). */
  elasticScaleUp?: boolean;
  /** Ours: also decide when GPUs go idle mid-round or a request arrives, for the rest of the round. */
  dispatchOnIdle?: boolean;
  /**
   * Ours: late requests may take more than one GPU: the smallest degree whose step fits in the rest of the
   * round (paper mode: one GPU, skipped while its step would overrun the round and on-time requests wait).
   */
  smartLate?: boolean;
  /**
   * Ours: queue-aware deferral. Paper mode judges "skip this round" feasible if the request could finish at its
   * fastest degree from the next round on, as if no one else wanted GPUs. With this on, a deferred request
   * also waits for the GPU-seconds of the more urgent (earlier-deadline) requests' min plans spread over the
   * alive GPUs, a queueing-delay estimate.
   */
  queueAware?: boolean;
  /**
   * Ours (experimental): deferring a request counts as keeping its deadline only if it would still have this many
   * rounds of slack afterwards (0 = paper).
   */
  deferMarginRounds?: number;
  /**
   * Ours: demand triage. Before packing, give up (treat as late) the queued requests that the work due by their
   * deadlines cannot fit on the alive GPUs, largest first (Moore–Hodgson over the cluster's GPU-seconds; see
   * demandTriage). Stops two 2048² requests that each need the whole cluster from splitting it round after round
   * until both miss.
   */
  demandTriage?: boolean;
  /**
   * Ours: batching. Queued on-time requests of one resolution for which the profile has batched step times
   * (batchStepSeconds) are packed, earliest deadlines together, into one batched candidate of the largest
   * profiled batch size, when the batch can still meet every member's deadline (its remaining steps = the
   * members' most, its deadline = their earliest) and its min-GPU-seconds plan costs less than the members'
   * plans together. The DP counts a batch as its size. Members re-form each round (the graph takes a timestep
   * per element, so members need not be in step). Needs an executor that runs Assignment.batch.
   */
  batching?: boolean;
  /**
   * Ours (the 2048² starvation): reservation for requests that must run at their fastest degree from about now
   * (slack at that degree below one round). Such a request starts at that degree as soon as enough GPUs are free
   * (before the DP packs anyone else); while too few are free, free GPUs are held for it if the running work
   * frees enough of them within its slack. Works with `quantumSteps`, so running work ends soon.
   */
  reserveLarge?: boolean;
  /**
   * Ours: cap every assignment to this many reference steps of time (at least one step), so GPUs come back to
   * the scheduler often (a reservation then waits at most this long). 0 = off (assignments fill the round).
   */
  quantumSteps?: number;
  /** Display name override. */
  name?: string;
}

/**
 * Ours: TetriServe+ = the paper algorithm plus every improvement that helped on its own (idle dispatch, smart
 * late handling, one round of defer margin, demand triage); queue-aware deferral did not help and is left out. Policy name
 * "tetriserve+" in createScheduler and `dit simulate --policy`.
 */
export const TETRISERVE_PLUS: Readonly<TetriServeOptions> = { dispatchOnIdle: true, smartLate: true, deferMarginRounds: 1, demandTriage: true };

/**
 * Ours: TetriServe+ with reservation for large requests (policy "tetriserve+reserve"): reserveLarge and one-step
 * quanta. Serves 2048² about as often as the strong baselines, at the cost of some smaller requests (fewer in
 * total at 50 steps); docs/scheduler.md, "The 2048² requests".
 */
export const TETRISERVE_PLUS_RESERVE: Readonly<TetriServeOptions> = { ...TETRISERVE_PLUS, reserveLarge: true, quantumSteps: 1 };

interface Candidate {
  st: RequestState;
  remaining: number;
  /** Degree slot the min-GPU-seconds plan wants now (used when elastic scale-up starts a deferred request). */
  planSlot: number;
  /** Seconds to spare if it ran at its fastest from the round end (>= 0 for on-time requests). */
  slack: number;
  /** GPU-seconds of its min plan from now. */
  planGpuSeconds: number;
  /** Estimated queueing delay before it could run if deferred (0 in paper mode). */
  wait: number;
  /** Chosen degree slot, -1 for skipped. */
  slot: number;
  /** Batching: the requests this candidate runs together (st is then a synthetic state for the batch). */
  members?: RequestState[];
  /** Batching: the members' own candidates (restored when demand triage gives the batch up). */
  parts?: Candidate[];
}

export class TetriServeScheduler extends TableScheduler {
  readonly name: string;
  readonly roundSeconds: number;
  readonly planOnIdle: boolean;
  private readonly packer = new Packer();
  private choice = new Uint8Array(16);
  private roundEnd = -Infinity;
  private readonly opts: Required<Omit<TetriServeOptions, 'name'>>;
  /** Reusable option weight list: [0, degrees...]. */
  private readonly optionWeights: Int32Array;
  /** Expected end and size of each running assignment (reservations estimate when GPUs come back). */
  private readonly runningEnds = new Map<number, { end: number; gpus: number }>();

  constructor(private readonly model: CostModel, options: TetriServeOptions = {}) {
    super(model);
    this.opts = {
      roundSteps: options.roundSteps ?? 5,
      placement: options.placement ?? true,
      elasticScaleUp: options.elasticScaleUp ?? true,
      dispatchOnIdle: options.dispatchOnIdle ?? false,
      smartLate: options.smartLate ?? false,
      queueAware: options.queueAware ?? false,
      deferMarginRounds: options.deferMarginRounds ?? 0,
      demandTriage: options.demandTriage ?? false,
      batching: options.batching ?? false,
      reserveLarge: options.reserveLarge ?? false,
      quantumSteps: options.quantumSteps ?? 0,
    };
    if (!(this.opts.roundSteps > 0)) throw new Error(`roundSteps must be > 0 (got ${this.opts.roundSteps})`);
    this.name = options.name ?? 'TetriServe';
    this.roundSeconds = this.opts.roundSteps * referenceStepSeconds(model);
    this.planOnIdle = this.opts.dispatchOnIdle;
    this.optionWeights = Int32Array.from([0, ...model.degrees]);
  }

  /**
   * Batching (in place): replaces runs of same-resolution on-time candidates, earliest deadlines together, by
   * batch candidates of the largest profiled size for which running them together this round keeps every
   * member's deadline and costs fewer GPU-seconds (this round's batched steps plus each member's min plan for its
   * rest) than the members' own plans. A batch is a one-round decision: members continue alone or re-form.
   */
  private formBatches(onTime: Candidate[], now: number, windowEnd: number, window: number, freeCount: number, fitsWindow: (st: RequestState, d: number) => boolean): void {
    const model = this.model;
    const byRes = new Map<number, Candidate[]>();
    for (const c of onTime) {
      const r = c.st.req.resolution;
      if (model.batchSizes(r).length === 0) continue;
      const list = byRes.get(r);
      if (list) list.push(c);
      else byRes.set(r, [c]);
    }
    const replaced = new Set<Candidate>();
    const batches: Candidate[] = [];
    for (const [res, list] of byRes) {
      if (list.length < 2) continue;
      const sizes = model.batchSizes(res).reverse();
      list.sort(byDeadline);
      for (let i = 0; i < list.length; ) {
        let made = 0;
        for (const b of sizes) {
          if (i + b > list.length) continue;
          const group = list.slice(i, i + b);
          const batch = this.batchCandidate(res, group, now, windowEnd, window, freeCount, fitsWindow);
          if (!batch) continue;
          batches.push(batch);
          for (const c of group) replaced.add(c);
          made = b;
          break;
        }
        i += made || 1;
      }
    }
    if (batches.length === 0) return;
    const keep = onTime.filter((c) => !replaced.has(c));
    onTime.length = 0;
    onTime.push(...keep, ...batches);
  }

  /** A batch candidate of `group` (same resolution, deadline order), or null when batching them is not worth it. */
  private batchCandidate(
    res: number, group: Candidate[], now: number, windowEnd: number, window: number, freeCount: number, fitsWindow: (st: RequestState, d: number) => boolean,
  ): Candidate | null {
    const model = this.model;
    const deg = model.degrees;
    const slot = model.batchSlot(res, group.length);
    const members = group.map((c) => c.st).sort(byRequestDeadline);
    let minRemaining = Infinity;
    let deadline = Infinity;
    let alone = 0;
    let slack = Infinity;
    for (const c of group) {
      minRemaining = Math.min(minRemaining, c.remaining);
      deadline = Math.min(deadline, c.st.req.deadline);
      alone += c.planGpuSeconds;
      slack = Math.min(slack, c.slack);
    }
    const lead = members[0];
    const st: RequestState = {
      req: { id: lead.req.id, resolution: res, steps: minRemaining, arrival: lead.req.arrival, deadline },
      done: 0, phase: 'queued', lastGroup: sameGroup(members) ?? lead.lastGroup, inFlight: 0, resIndex: slot,
    };
    let best = -1;
    let bestCost = Infinity;
    for (let d = 0; d < deg.length && deg[d] <= freeCount; d++) {
      if (!fitsWindow(st, d)) continue;
      const r = this.batchRound(members, slot, d, now, windowEnd, window);
      if (r && r.kept === members.length && r.cost < bestCost) {
        best = d;
        bestCost = r.cost;
      }
    }
    if (best < 0 || bestCost >= alone * (1 - 1e-9)) return null; // breaks a deadline, or saves no GPU time
    return { st, remaining: minRemaining, planSlot: best, slack, planGpuSeconds: bestCost, wait: 0, slot: -1, members, parts: group };
  }

  /**
   * One round of a batch at degree slot d: its steps (capped by the member with the fewest left), how many
   * members can still meet their deadlines afterwards (each finishing alone at its fastest degree), and the
   * GPU-seconds of this round plus every member's min plan for the rest. Null where the batch has no step time.
   */
  private batchRound(members: RequestState[], slot: number, d: number, now: number, windowEnd: number, window: number): { kept: number; cost: number; steps: number } | null {
    const model = this.model;
    const t = model.step(slot, d);
    if (t >= UNMEASURED_STEP) return null;
    const k = model.degrees[d];
    const shared = sameGroup(members);
    const mig = members.every((m) => m.lastGroup.length === 0) || (this.opts.placement && shared && shared.length === k && !shared.some((g) => this.failed.has(g)))
      ? 0 : model.groupChangeSeconds(slot);
    let minRemaining = Infinity;
    for (const m of members) minRemaining = Math.min(minRemaining, m.req.steps - m.done);
    const steps = stepsInWindow(window, mig, t, minRemaining);
    const end = now + mig + steps * t;
    const restStart = Math.max(end, windowEnd);
    let kept = 0;
    let cost = steps * t * k;
    for (const m of members) {
      const left = m.req.steps - m.done - steps;
      const dl = m.req.deadline;
      // Kept only if the batch itself, continued at this degree, would still finish the member on time (with the
      // defer margin): batching must not spend the slack that the member's own plan relies on. (Relying on a
      // faster degree later, as single requests do, let batches push members to the edge and then miss.)
      const ok = left === 0 ? end <= dl + 1e-9 : end + left * t + this.opts.deferMarginRounds * this.roundSeconds <= dl + 1e-9;
      if (ok) kept++;
      if (left > 0) cost += minPlanGpuSeconds(model, m.resIndex, left, dl - restStart);
    }
    return { kept, cost, steps };
  }

  /**
   * DP values of a batch candidate: each option is worth the number of members that can still meet their
   * deadlines after it (a batch counts as its size), with the same kind of tie-breaks as a single request.
   */
  private batchValues(i: number, c: Candidate, now: number, windowEnd: number, window: number, freeCount: number, U: number, fitsWindow: (st: RequestState, d: number) => boolean): void {
    const model = this.model;
    const deg = model.degrees;
    const members = c.members!;
    let skipKept = 0;
    let norm = 0;
    let skipCost = 0;
    for (const m of members) {
      const rem = m.req.steps - m.done;
      if (windowEnd + this.opts.deferMarginRounds * this.roundSeconds + rem * model.fastestStep(m.resIndex) <= m.req.deadline + 1e-9) skipKept++;
      let maxStepCost = 0;
      for (let d = 0; d < deg.length; d++) maxStepCost = Math.max(maxStepCost, deg[d] * model.step(m.resIndex, d));
      norm += rem * maxStepCost;
      skipCost += minPlanGpuSeconds(model, m.resIndex, rem, m.req.deadline - windowEnd);
    }
    // As for a single request: deferring is charged the members' min plans from the round end.
    this.packer.setValue(i, 0, skipKept - 0.5 * U * Math.min(1, skipCost / norm));
    const urgency = 1 / (1 + Math.max(0, c.slack) / this.roundSeconds);
    for (let d = 0; d < deg.length && deg[d] <= freeCount; d++) {
      if (!fitsWindow(c.st, d)) continue;
      const r = this.batchRound(members, c.st.resIndex, d, now, windowEnd, window);
      if (!r) continue;
      // All or nothing: an option that would doom a member is never taken (alone, that member might have made it).
      if (r.kept === members.length) this.packer.setValue(i, d + 1, r.kept + 0.5 * U * (urgency - Math.min(1, r.cost / norm)));
    }
  }

  /** Moves the on-time candidates demandTriage gives up to the late list (in place). */
  private triageByDemand(onTime: Candidate[], late: RequestState[], now: number, alive: number): void {
    const model = this.model;
    // reserveLarge: a request already running at its fastest degree with less than a round of slack is not given
    // up for smaller ones (it would be every time: one large request's demand always exceeds two small ones').
    const items: DemandItem[] = onTime.map((c) => ({ deadline: c.st.req.deadline, gpuSeconds: c.planGpuSeconds, droppable: !(this.opts.reserveLarge && this.protectedLarge(c, now)) }));
    for (const rs of this.table.unfinishedStates()) {
      if (rs.phase !== 'running') continue;
      const left = rs.req.steps - rs.done;
      if (now + left * model.fastestStep(rs.resIndex) > rs.req.deadline + 1e-9) continue;
      items.push({ deadline: rs.req.deadline, gpuSeconds: minPlanGpuSeconds(model, rs.resIndex, left, rs.req.deadline - now), droppable: false });
    }
    const gone = demandTriage(items, now, alive);
    if (gone.size === 0) return;
    let dissolved = false;
    const keep: Candidate[] = [];
    onTime.forEach((c, i) => {
      if (!gone.has(i)) keep.push(c);
      else if (c.parts) {
        // A batch given up is dissolved into its members, which are triaged again on their own.
        keep.push(...c.parts);
        dissolved = true;
      } else late.push(c.st);
    });
    onTime.length = 0;
    onTime.push(...keep);
    if (dissolved) this.triageByDemand(onTime, late, now, alive); // terminates: each pass dissolves a batch
  }

  /** reserveLarge: a request that started at its fastest degree (>= 2) and must stay there (slack < one round). */
  private protectedLarge(c: Candidate, now: number): boolean {
    if (c.members || c.st.done === 0) return false;
    const model = this.model;
    const k = model.degrees[model.fastestDegreeSlot(c.st.resIndex)];
    if (k < 2 || c.st.lastGroup.length !== k) return false;
    const slack = c.st.req.deadline - (now + c.remaining * model.fastestStep(c.st.resIndex));
    return slack >= 0 && slack < this.roundSeconds;
  }

  /** Seconds of one reference step (roundSeconds / roundSteps). */
  private get referenceStep(): number {
    return this.roundSeconds / this.opts.roundSteps;
  }

  override onStepsDone(done: StepsDone): void {
    super.onStepsDone(done);
    this.runningEnds.delete(done.requestId);
  }

  /**
   * The reservation this decision makes: the earliest-deadline on-time request whose fastest degree k >= 2 it
   * must start at within one round (slack at k below a round) gets k GPUs now if they are free (returned with its
   * slot set); if fewer are free but running work frees enough within its slack, 'hold'; otherwise null.
   */
  private reservation(
    onTime: Candidate[], now: number, freeCount: number, fitsWindow: (st: RequestState, d: number) => boolean, moveGuess: (st: RequestState, d: number) => number,
  ): Candidate | 'hold' | null {
    const model = this.model;
    const deg = model.degrees;
    for (const c of [...onTime].sort(byDeadline)) {
      if (c.members) continue;
      const fd = model.fastestDegreeSlot(c.st.resIndex);
      const k = deg[fd];
      if (k < 2) continue;
      const slack = c.st.req.deadline - (now + (k <= freeCount ? moveGuess(c.st, fd) : migrationGuess(model, c.st)) + c.remaining * model.fastestStep(c.st.resIndex));
      if (slack < 0 || slack >= this.roundSeconds) continue;
      if (k <= freeCount) {
        if (!fitsWindow(c.st, fd)) return null;
        c.slot = fd;
        return c;
      }
      // When do k GPUs come back? Running assignments end at their expected times.
      const ends = [...this.runningEnds.values()].sort((a, b) => a.end - b.end);
      let have = freeCount;
      for (const e of ends) {
        have += e.gpus;
        if (have >= k) return e.end - now <= slack + 1e-9 ? 'hold' : null;
      }
      return null;
    }
    return null;
  }

  get roundEndsAt(): number {
    return this.roundEnd;
  }

  planRound(now: number, gpus: GpuState): Assignment[] {
    // A call at or after the boundary opens a new round; an earlier call (dispatchOnIdle) fills the current one.
    const boundary = now >= this.roundEnd - 1e-9;
    if (boundary) this.roundEnd = now + this.roundSeconds;
    const windowEnd = this.roundEnd;
    const window = windowEnd - now;
    const free = gpus.free;
    if (free.length === 0) return [];
    const model = this.model;
    const deg = model.degrees;
    const D = deg.length;
    // Mid-round (dispatchOnIdle) an assignment must end by the boundary: a step that overran it would hold
    // GPUs the next round's packing counts on. At a boundary one step may overrun (a step is never split).
    const freeSet = new Set(free);
    // Move cost a request will pay mid-round: none when its whole previous group is free at the same degree
    // (placement reclaims it), the group-change cost otherwise (pessimistic; the final check below is exact).
    const moveGuess = (st: RequestState, d: number): number =>
      this.opts.placement && st.lastGroup.length === deg[d] && st.lastGroup.every((g) => freeSet.has(g)) ? 0 : migrationGuess(model, st);
    const fitsWindow = (st: RequestState, d: number): boolean => boundary || moveGuess(st, d) + model.step(st.resIndex, d) <= window + 1e-9;

    const onTime: Candidate[] = [];
    const late: RequestState[] = [];
    for (const st of this.table.queued()) {
      const remaining = st.req.steps - st.done;
      const fastest = model.fastestStep(st.resIndex);
      if (now + remaining * fastest > st.req.deadline + 1e-9) {
        late.push(st);
        continue;
      }
      const plan = minGpuSecondsPlan(model, st.resIndex, remaining, st.req.deadline - now);
      const slack = st.req.deadline - (windowEnd + remaining * fastest);
      onTime.push({ st, remaining, planSlot: planNextSlot(plan), slack, slot: -1, planGpuSeconds: plan.gpuSeconds, wait: 0 });
    }

    // Batches first, so demand triage counts a batch's (smaller) demand; a batch it gives up is dissolved.
    if (this.opts.batching && onTime.length > 1) this.formBatches(onTime, now, windowEnd, window, free.length, fitsWindow);

    if (this.opts.demandTriage && onTime.length > 0) this.triageByDemand(onTime, late, now, gpus.alive);

    // Reservation (reserveLarge): pre-assign the most urgent must-run-at-full-degree request, or hold GPUs for it.
    let reserved: Candidate | null = null;
    let hold = false;
    if (this.opts.reserveLarge && onTime.length > 0) {
      const r = this.reservation(onTime, now, free.length, fitsWindow, moveGuess);
      if (r === 'hold') hold = true;
      else if (r) {
        reserved = r;
        onTime.splice(onTime.indexOf(r), 1);
      }
    }
    if (hold) return [];
    const capacity = free.length - (reserved ? deg[reserved.slot] : 0);

    if (this.opts.queueAware && onTime.length > 1) {
      const edf = [...onTime].sort(byDeadline);
      let ahead = 0;
      for (const c of edf) {
        c.wait = ahead / Math.max(1, gpus.alive);
        ahead += c.planGpuSeconds;
      }
    }

    // --- Packing DP over the on-time requests ---
    const n = onTime.length;
    let chosen: Candidate[] = [];
    if (n > 0) {
      this.packer.reset(n, this.optionWeights);
      // Value = 1 per request still able to meet its deadline after this round, plus tie-breaks that sum to
      // less than 1 over all requests. choice: among equal counts prefer (a) options whose total GPU-seconds
      // (this round + the min-GPU-seconds plan for the rest) are lowest, which steers each request to its
      // plan's degree and away from deferring when deferral forces a costlier plan later, and (b) running the
      // most urgent (least slack) requests.
      const U = 1 / (n + 1);
      const doomed: boolean[] = new Array(n).fill(false);
      for (let i = 0; i < n; i++) {
        const c = onTime[i];
        if (c.members) {
          this.batchValues(i, c, now, windowEnd, window, free.length, U, fitsWindow);
          continue;
        }
        const { st, remaining } = c;
        const slot = st.resIndex;
        const fastest = model.fastestStep(slot);
        const deadline = st.req.deadline;
        let maxStepCost = 0;
        for (let d = 0; d < D; d++) maxStepCost = Math.max(maxStepCost, deg[d] * model.step(slot, d));
        const norm = remaining * maxStepCost;
        const skipStart = Math.max(windowEnd, now + c.wait);
        const skipOk = skipStart + this.opts.deferMarginRounds * this.roundSeconds + remaining * fastest <= deadline + 1e-9;
        // Doomed (handled as late) only if deferring really misses the deadline; the margin only shapes the DP.
        let any = skipStart + remaining * fastest <= deadline + 1e-9;
        const skipCost = minPlanGpuSeconds(model, slot, remaining, deadline - windowEnd);
        this.packer.setValue(i, 0, (skipOk ? 1 : 0) - 0.5 * U * Math.min(1, skipCost / norm));
        const urgency = 1 / (1 + Math.max(0, c.slack) / this.roundSeconds);
        for (let d = 0; d < D; d++) {
          if (deg[d] > free.length) break;
          if (!fitsWindow(st, d)) continue;
          const t = model.step(slot, d);
          const keeps = this.opts.placement && st.lastGroup.length === deg[d] && !st.lastGroup.some((g) => this.failed.has(g));
          const mig = keeps ? 0 : migrationGuess(model, st);
          const steps = stepsInWindow(window, mig, t, remaining);
          const end = now + mig + steps * t;
          const left = remaining - steps;
          const restStart = Math.max(end, windowEnd);
          const ok = left === 0 ? end <= deadline + 1e-9 : restStart + left * fastest <= deadline + 1e-9;
          any ||= ok;
          const cost = steps * t * deg[d] + (left > 0 ? minPlanGpuSeconds(model, slot, left, deadline - restStart) : 0);
          // An option that cannot keep the deadline never beats skipping (no bonus for burning GPUs on it).
          this.packer.setValue(i, d + 1, ok ? 1 + 0.5 * U * (urgency - Math.min(1, cost / norm)) : -0.5 * U);
        }
        doomed[i] = !any;
      }
      // A request no option can save is late already: it leaves the DP for best-effort handling.
      for (let i = 0; i < n; i++) {
        if (doomed[i]) {
          for (let o = 0; o <= D; o++) this.packer.setValue(i, o, o === 0 ? 0 : -1);
          late.push(onTime[i].st);
        }
      }
      if (this.choice.length < n) this.choice = new Uint8Array(2 * n);
      this.packer.solve(capacity, this.choice);
      for (let i = 0; i < n; i++) onTime[i].slot = doomed[i] ? -2 : this.choice[i] - 1;
      chosen = onTime.filter((c) => c.slot >= 0);
    }
    if (reserved) {
      chosen.unshift(reserved);
      onTime.push(reserved);
    }
    let used = 0;
    for (const c of chosen) used += deg[c.slot];

    // --- Elastic scale-up (work conserving) ---
    if (this.opts.elasticScaleUp) {
      // choice: deferred on-time requests first, earliest deadline first, at their plan degree.
      const deferred = onTime.filter((c) => c.slot === -1).sort(byDeadline);
      for (const c of deferred) {
        if (used + deg[c.planSlot] <= free.length && fitsWindow(c.st, c.planSlot)) {
          c.slot = c.planSlot;
          used += deg[c.slot];
          chosen.push(c);
        }
      }
      // choice: then double the degree of the least-slack request that gains from it, repeatedly.
      const order = [...chosen].sort((a, b) => a.slack - b.slack || a.st.req.id - b.st.req.id);
      let grew = true;
      while (grew) {
        grew = false;
        for (const c of order) {
          const next = c.slot + 1;
          if (next >= D) continue;
          const extra = deg[next] - deg[c.slot];
          if (used + extra > free.length) continue;
          if (model.step(c.st.resIndex, next) >= model.step(c.st.resIndex, c.slot)) continue;
          if (!fitsWindow(c.st, next)) continue;
          c.slot = next;
          used += extra;
          grew = true;
        }
      }
    }

    // --- Late requests: after everyone else, earliest deadline first; paper mode gives at most one GPU ---
    const lateRuns: { st: RequestState; slot: number }[] = [];
    late.sort((a, b) => a.req.deadline - b.req.deadline || a.req.id - b.req.id);
    const nobodyWaits = onTime.every((c) => c.slot >= 0 || c.slot === -2);
    for (const st of late) {
      const left = free.length - used;
      if (left <= 0) break;
      let slot = -1;
      if (!this.opts.smartLate) {
        // Paper: one GPU. "Without hurting others" read as: no overrun into the next round while on-time
        // requests wait (an overrunning step would hold its GPU past the boundary).
        if (deg[0] === 1 && (moveGuess(st, 0) + model.step(st.resIndex, 0) <= window + 1e-9 || (nobodyWaits && boundary))) slot = 0;
      } else {
        for (let d = 0; d < D && deg[d] <= left; d++) {
          if (moveGuess(st, d) + model.step(st.resIndex, d) <= window + 1e-9) {
            slot = d;
            break;
          }
        }
        if (slot < 0 && nobodyWaits && boundary) {
          slot = 0;
          for (let d = 1; d < D && deg[d] <= left; d++) if (model.step(st.resIndex, d) < model.step(st.resIndex, slot)) slot = d;
        }
      }
      if (slot < 0) continue;
      lateRuns.push({ st, slot });
      used += deg[slot];
    }

    // --- Placement ---
    const runs: { st: RequestState; slot: number; members?: RequestState[] }[] = [...chosen.map((c) => ({ st: c.st, slot: c.slot, members: c.members })), ...lateRuns];
    const wants: PlacementWant[] = runs.map((r) => ({ requestId: r.st.req.id, degree: deg[r.slot], lastGroup: r.st.lastGroup }));
    const groups = place(wants, free, gpus.total, this.opts.placement);
    const out: Assignment[] = [];
    runs.forEach((r, i) => {
      const g = groups[i];
      const members = r.members ?? [r.st];
      // A batch moves when any member's state lives elsewhere (the executor charges the same rule).
      const mig = members.some((m) => needsGroupChange(m.lastGroup, g)) ? model.groupChangeSeconds(r.st.resIndex) : 0;
      const t = model.step(r.st.resIndex, r.slot);
      // Mid-round nothing may run past the boundary: if the move placement forced makes even one step overrun,
      // the request waits for the next decision instead.
      if (!boundary && mig + t > window + 1e-9) return;
      let left = Infinity;
      for (const m of members) left = Math.min(left, m.req.steps - m.done);
      const quantum = this.opts.quantumSteps > 0 ? Math.min(window, mig + this.opts.quantumSteps * this.referenceStep) : window;
      const steps = stepsInWindow(quantum, mig, t, left);
      for (const m of members) this.table.start(m, g, steps);
      this.runningEnds.set(members[0].req.id, { end: now + mig + steps * t, gpus: g.length });
      out.push(members.length > 1 ? { requestId: members[0].req.id, gpus: g, steps, batch: members.slice(1).map((m) => m.req.id) } : { requestId: r.st.req.id, gpus: g, steps });
    });
    return out;
  }
}

function byDeadline(a: Candidate, b: Candidate): number {
  return a.st.req.deadline - b.st.req.deadline || a.st.req.id - b.st.req.id;
}

/** The group every member last ran on, when they all share one (null otherwise). */
function sameGroup(members: readonly RequestState[]): GpuId[] | null {
  const g = members[0].lastGroup;
  if (g.length === 0) return null;
  for (const m of members) if (m.lastGroup.length !== g.length || m.lastGroup.some((x, j) => x !== g[j])) return null;
  return g;
}

function byRequestDeadline(a: RequestState, b: RequestState): number {
  return a.req.deadline - b.req.deadline || a.req.id - b.req.id;
}

/** Steps that fit in the window after the group-change delay; at least one (a step is never split). */
export function stepsInWindow(window: number, migration: number, stepSeconds: number, remaining: number): number {
  const fit = Math.floor((window - migration) / stepSeconds + 1e-9);
  return Math.max(1, Math.min(remaining, fit));
}

/** Before placement we do not know the group; a request that ran before may have to move (pessimistic). */
function migrationGuess(model: CostModel, st: RequestState): number {
  return st.lastGroup.length === 0 ? 0 : model.groupChangeSeconds(st.resIndex);
}

/**
 * Reference step time that turns "round length in steps" into seconds. choice: the fastest step of the
 * largest profiled resolution, so a round holds exactly roundSteps steps of the heaviest request at its
 * best degree, and more steps of lighter ones.
 */
export function referenceStepSeconds(model: CostModel): number {
  const entries = model.profile.entries;
  const largest = entries[entries.length - 1].resolution;
  return model.fastestStep(model.slot(largest));
}
