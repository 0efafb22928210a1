// A worker is one GPU holding the model resident. The driver gives it one assignment at a time ("run these
// steps of this request"); text encoding before a request's first step and VAE decoding after its last step
// run inside the assignment on the same GPU, so they occupy the GPU the scheduler sees as busy and count in
// its busy time (docs/serving.md, "Rounds").
//
// The interface is thread-agnostic: the driver sees only host values, so a worker can be a Dawn device on the
// driver's thread (DeviceWorker, below) or a proxy for one on the engine thread (ThreadWorker,
// src/serve/engine-thread.ts) speaking the same calls.
import type { GpuContext } from '../gpu/context.js';
import type { GpuId } from '../scheduler/types.js';
import type { DenoiseExecutor } from '../pipeline/denoise-step.js';
import type { Engine, GenerationParams, PromptProblem, RequestProgress, RgbImage, SpMemberSource } from './engine.js';

export type StageEvent =
  | { kind: 'encode'; seconds: number }
  | { kind: 'step'; step: number; start: number; end: number; latents: Float32Array }
  | { kind: 'decode'; seconds: number };

export interface AssignmentWork {
  requestId: number;
  /** The job's id: unique across servers (request ids restart at 1 in every server over the same workers). */
  jobId: string;
  params: GenerationParams;
  /** Scheduler steps of the request (params.steps - firstStep). */
  totalSteps: number;
  /** Updated in place after every completed stage: the driver can resume anywhere from it. */
  progress: RequestProgress;
  steps: number;
  /** Checked between steps: true stops the assignment early (cancellation, shutdown). */
  shouldStop(): boolean;
  onStage(ev: StageEvent): void;
}

export interface AssignmentOutcome {
  /** Denoising steps completed by this assignment. */
  completed: number;
  /** The decoded image when this assignment finished the request. */
  image?: RgbImage;
  /** Set when the worker failed (device lost, engine error); progress holds what completed before it. */
  error?: Error;
}

/** What the driver, the HTTP layer and the metrics need from a GPU worker. */
export interface Worker {
  readonly gpu: GpuId;
  readonly description: string;
  /** False once the device is lost or the worker was killed/closed. */
  readonly alive: boolean;
  readonly lostReason: string | null;
  /** Seconds this worker spent running assignments (encode + steps + decode), and as a group member. */
  readonly busySeconds: number;
  /**
   * Runs an assignment; with `group` (the group's GPUs, this worker's first: it leads) its steps run
   * sequence-parallel on that group, and the assignment fails as soon as any member is lost (a peer that died
   * mid-exchange would otherwise leave the group's step waiting forever).
   */
  run(work: AssignmentWork, group?: readonly GpuId[]): Promise<AssignmentOutcome>;
  /** Busy time spent as a non-leading member of a group. */
  chargeBusy(seconds: number): void;
  /** Low-resolution look at intermediate latents; host code only (works after the device is gone). */
  preview(p: GenerationParams, latents: Float32Array): Promise<RgbImage>;
  /** Admission check of the prompts against the text encoders' token budget (host only): the problem, or null. */
  checkPrompt(p: Pick<GenerationParams, 'prompt' | 'negativePrompt' | 'guidance'>): Promise<PromptProblem | null>;
  /**
   * Milliseconds each engine call ran synchronously before returning its promise, by stage (event-loop time of
   * the thread the engine runs on). The continuation after the GPU answers is not in it.
   */
  readonly syncMs: Record<string, { n: number; total: number; max: number }>;
  /** Called once when the worker dies (not on close()). */
  onLost(cb: (reason: string) => void): void;
  /** Fault injection and operator action: the device is destroyed now, in-flight work fails. */
  kill(reason: string): void;
  close(): Promise<void>;
}

/** Adds one synchronous engine-call time to a syncMs table. */
export function addSyncMs(table: Worker['syncMs'], stage: string, ms: number): void {
  const s = (table[stage] ??= { n: 0, total: 0, max: 0 });
  s.n++;
  s.total += ms;
  s.max = Math.max(s.max, ms);
}

const now = (): number => performance.now() / 1000;

/** A group member died during a sequence-parallel step led by this worker. */
class PeerLostError extends Error {}

/** What a worker needs to lead a sequence-parallel group: the group's executor and the other members. */
export interface GroupSource {
  get(gpus: readonly GpuId[]): DenoiseExecutor;
}

/** A Dawn device on this thread running an Engine. */
export class DeviceWorker implements Worker {
  private lost: string | null = null;
  private closed = false;
  private busy = 0;
  private readonly lostCbs: ((reason: string) => void)[] = [];
  private readonly lostPromise: Promise<never>;
  private running = false;

  private rejectLost!: (e: Error) => void;
  private groups: GroupSource | null = null;
  private peers: readonly DeviceWorker[] = [];

  constructor(readonly gpu: GpuId, private readonly ctx: GpuContext, private readonly engine: Engine) {
    this.lostPromise = new Promise<never>((_, r) => (this.rejectLost = r));
    this.lostPromise.catch(() => undefined);
    ctx.device.lost.then((info) => {
      if (this.closed) return;
      this.markLost(`device lost (${info.reason || 'unknown'}): ${info.message}`);
    });
  }

  get description(): string {
    return `GPU ${this.gpu}: ${this.ctx.caps.adapterName} (${this.engine.description})`;
  }

  get alive(): boolean {
    return this.lost === null && !this.closed;
  }

  get lostReason(): string | null {
    return this.lost;
  }

  get busySeconds(): number {
    return this.busy;
  }

  onLost(cb: (reason: string) => void): void {
    this.lostCbs.push(cb);
  }

  private markLost(reason: string): void {
    if (this.lost !== null) return;
    this.lost = reason;
    // Everything waiting on this device (or on a group it belongs to) fails now, not when Dawn gets round to
    // resolving device.lost.
    this.rejectLost(new Error(`GPU ${this.gpu}: ${reason}`));
    for (const cb of this.lostCbs) cb(reason);
  }

  get lostSignal(): Promise<never> {
    return this.lostPromise;
  }

  /** Lets this worker lead groups of `groups` whose other members are among `peers`. */
  joinGroups(groups: GroupSource, peers: readonly DeviceWorker[]): void {
    this.groups = groups;
    this.peers = peers;
  }

  /** The executor and the other members of a group this worker leads. */
  private group(gpus: readonly GpuId[]): { executor: DenoiseExecutor; members: DeviceWorker[] } {
    if (gpus[0] !== this.gpu) throw new Error(`GPU ${this.gpu} was asked to lead group ${gpus.join(',')} (the leader is its first GPU; driver bug)`);
    if (!this.groups) throw new Error(`GPU ${this.gpu} was given a degree-${gpus.length} assignment, but this server has no sequence-parallel groups (--max-degree 1)`);
    const members = gpus.slice(1).map((g) => {
      const m = this.peers.find((p) => p.gpu === g);
      if (!m) throw new Error(`GPU ${g} of group ${gpus.join(',')} has no worker`);
      return m;
    });
    return { executor: this.groups.get(gpus), members };
  }

  /** Awaits `p` unless the device (or a group member's) dies first. */
  private guard<T>(p: Promise<T>, members: readonly DeviceWorker[] = []): Promise<T> {
    return Promise.race([p, this.lostPromise, ...members.map((m) => m.lostSignal.catch((e: Error) => Promise.reject(new PeerLostError(e.message))))]);
  }

  prepare(resolution: number): Promise<number> {
    return this.guard(this.engine.prepare(resolution));
  }

  spMember(): SpMemberSource | null {
    return this.alive ? this.engine.spMember() : null;
  }

  /** Compiles and times a group's step at one resolution with this worker leading; returns seconds per step. */
  async prepareGroup(resolution: number, gpus: readonly GpuId[]): Promise<number> {
    const { executor: group } = this.group(gpus);
    const p: GenerationParams = { prompt: 'warm up', negativePrompt: '', resolution, steps: 8, guidance: 3.5, seed: 1, strength: 1 };
    const st = await this.guard(this.engine.newState('warmup-group', p, await this.engine.encodeText(p)));
    await this.guard(this.engine.step(st, group)); // compiles the group's plans
    const times: number[] = [];
    for (let i = 0; i < 3; i++) {
      const t0 = now();
      await this.guard(this.engine.step(st, group));
      times.push(now() - t0);
    }
    return times.sort((a, b) => a - b)[1];
  }

  chargeBusy(seconds: number): void {
    this.busy += seconds;
  }

  async run(w: AssignmentWork, gpus?: readonly GpuId[]): Promise<AssignmentOutcome> {
    if (!this.alive) return { completed: 0, error: new Error(`GPU ${this.gpu} is not alive (${this.lost ?? 'closed'})`) };
    if (this.running) throw new Error(`GPU ${this.gpu} was given an assignment while running another (driver bug)`);
    let group: DenoiseExecutor | undefined;
    let members: DeviceWorker[] = [];
    if (gpus && gpus.length > 1) {
      try {
        ({ executor: group, members } = this.group(gpus));
      } catch (e) {
        return { completed: 0, error: e as Error };
      }
    }
    this.running = true;
    const t0 = now();
    let completed = 0;
    const pr = w.progress;
    try {
      if (!pr.text) {
        const a = now();
        pr.text = await this.guard(this.timed('encode', () => this.engine.encodeText(w.params)));
        w.onStage({ kind: 'encode', seconds: now() - a });
      }
      pr.state ??= await this.guard(this.timed('newState', () => this.engine.newState(String(w.requestId), w.params, pr.text!)));
      const st = pr.state;
      while (completed < w.steps && pr.stepsDone < w.totalSteps) {
        if (w.shouldStop()) break;
        const start = now();
        // runStep updates the host latents only after the GPU answered: a lost device leaves them as they were.
        await this.guard(this.timed('step', () => this.engine.step(st, group)), members);
        pr.stepsDone++;
        completed++;
        w.onStage({ kind: 'step', step: pr.stepsDone - 1, start, end: now(), latents: st.latents });
      }
      let image: RgbImage | undefined;
      if (pr.stepsDone >= w.totalSteps) {
        const a = now();
        image = await this.guard(this.timed('decode', () => this.engine.decode(w.params, st.latents)));
        w.onStage({ kind: 'decode', seconds: now() - a });
      }
      return { completed, image };
    } catch (e) {
      const err = e as Error;
      // An engine error on a device that still works is the request's problem, a lost device the worker's; a lost
      // group peer is the peer's (this worker stays).
      if (!(err instanceof PeerLostError) && this.lost === null && /lost|destroyed/i.test(err.message)) this.markLost(err.message);
      return { completed, error: err };
    } finally {
      this.busy += now() - t0;
      this.running = false;
    }
  }

  readonly syncMs: Worker['syncMs'] = {};
  /** Called with every engine call's synchronous milliseconds (the engine thread forwards them). */
  onSyncMs: ((stage: string, ms: number) => void) | null = null;

  private timed<T>(stage: string, f: () => Promise<T>): Promise<T> {
    const a = performance.now();
    const p = f();
    const ms = performance.now() - a;
    addSyncMs(this.syncMs, stage, ms);
    this.onSyncMs?.(stage, ms);
    return p;
  }

  async preview(p: GenerationParams, latents: Float32Array): Promise<RgbImage> {
    return this.engine.preview(p, latents);
  }

  async checkPrompt(p: Pick<GenerationParams, 'prompt' | 'negativePrompt' | 'guidance'>): Promise<PromptProblem | null> {
    return this.engine.checkPrompt?.(p) ?? null;
  }

  kill(reason: string): void {
    if (!this.alive) return;
    this.markLost(`killed: ${reason}`);
    // Destroying the device makes in-flight GPU work fail exactly as a real loss does.
    this.ctx.device.destroy();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      this.engine.destroy();
    } catch {
      // The device may be gone already; nothing left to free.
    }
    this.ctx.destroy();
  }
}
