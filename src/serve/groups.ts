// Sequence-parallel groups for assignments of degree > 1: one SequenceParallelExecutor per GPU group (cached),
// over the group's workers' devices and resident weights, talking through NCCL on real GPUs or in-process
// collectives when every worker shares one adapter (CI on lavapipe). A request's host state moves between
// degrees at any step (src/pipeline/sequence-parallel-executor.ts).
import { NcclGroup, probeNccl } from '../parallel/nccl.js';
import { inProcessGroup, type Transport } from '../parallel/transport.js';
import { SequenceParallelExecutor } from '../pipeline/sequence-parallel-executor.js';
import type { GpuId } from '../scheduler/types.js';
import type { DeviceWorker, GroupSource } from './worker.js';

export class GroupExecutors implements GroupSource {
  private readonly cache = new Map<string, { ex: SequenceParallelExecutor; destroy: () => void }>();
  /** How members talk: 'nccl' across real GPUs, 'in-process' on one shared adapter. */
  readonly transport: 'nccl' | 'in-process';

  constructor(private readonly workers: readonly DeviceWorker[], sharedAdapter: boolean, private readonly maxPlans: number, private readonly int8 = false) {
    this.transport = !sharedAdapter && probeNccl().ok ? 'nccl' : 'in-process';
  }

  /** The executor of a group (ascending GPU ids), built on first use. */
  get(gpus: readonly GpuId[]): SequenceParallelExecutor {
    const key = gpus.join(',');
    const hit = this.cache.get(key);
    if (hit) return hit.ex;
    const members = gpus.map((g) => {
      const w = this.workers.find((x) => x.gpu === g);
      const m = w?.spMember();
      if (!w || !m) throw new Error(`GPU ${g} cannot join a sequence-parallel group (no worker, or its engine has no transformer weights to share)`);
      return m;
    });
    let comms: Transport[];
    let destroy = () => {};
    if (this.transport === 'nccl') {
      const g = new NcclGroup([...gpus]);
      comms = gpus.map((_, r) => g.member(r));
      destroy = () => g.destroy();
    } else {
      comms = inProcessGroup(gpus.length);
    }
    // Ulysses when the degree divides the heads (FLUX.1: 24), ring otherwise (tiny test models have one head).
    const cfg = members[0].config;
    const strategy = cfg.numHeads % gpus.length === 0 ? 'ulysses' : 'ring';
    const ex = new SequenceParallelExecutor(members.map((m, r) => ({ ctx: m.ctx, weights: m.weights, comm: comms[r] })), cfg, { strategy, maxPlans: this.maxPlans, int8: this.int8 });
    this.cache.set(key, { ex, destroy });
    return ex;
  }

  destroy(): void {
    for (const { destroy } of this.cache.values()) destroy();
    this.cache.clear();
  }
}
