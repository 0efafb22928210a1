// The server without HTTP: admission (queue limit, deadline feasibility), job creation, lookups, status views
// and shutdown. Routes (app.ts) translate between this and JSON; tests can drive it directly.
import { randomBytes } from 'node:crypto';
import type { CostModel } from '../scheduler/cost-model.js';
import type { Request } from '../scheduler/types.js';
import { img2imgStartStep } from '../pipeline/flow-match.js';
import type { ServeConfig } from './config.js';
import type { Driver } from './driver.js';
import type { GenerationParams, PromptProblem, RgbImage } from './engine.js';
import { Job, type OutputFormat } from './jobs.js';
import type { ServeMetrics } from './metrics.js';
import type { ResultStore } from './results.js';

/** An admission refusal the HTTP layer turns into 429/503 with Retry-After (400 naming `param`: a deadline already past). */
export class AdmissionError extends Error {
  constructor(readonly status: 400 | 429 | 503, readonly code: string, message: string, readonly retryAfterSeconds: number, readonly param: string | null = null) {
    super(message);
  }
}

export interface SubmitOptions {
  params: GenerationParams;
  format: OutputFormat;
  /** Deadline in seconds from now; default: base SLO x sloScale. */
  deadlineSeconds?: number;
  /** Absolute deadline in wall-clock epoch ms (the native API's deadline_at); must be in the future. */
  deadlineAtMs?: number;
  sloScale?: number;
}

type Admit = (req: Request, now: number, alive: number) => { accepted: boolean; reason: string; earliestFinish: number };

export class ServeCore {
  private readonly byId = new Map<string, Job>();
  private nextNum = 1;
  private shuttingDown = false;
  /** Wall-clock epoch (ms) of driver time 0, for timestamps in responses. */
  readonly epochMs = Date.now();
  private readonly admitFn: Admit;

  constructor(
    readonly config: ServeConfig,
    readonly driver: Driver,
    readonly model: CostModel,
    readonly metrics: ServeMetrics,
    readonly results: ResultStore,
    /** Base SLO (seconds) per served resolution. */
    readonly baseSlo: Record<number, number>,
    /** Low-resolution look at intermediate latents (SSE previews); host-only, any worker's engine can make it. */
    readonly previewer: (p: GenerationParams, latents: Float32Array) => Promise<RgbImage>,
    /** The engine's token-budget check of the prompts (host only; on the engine thread when there is one), run before admission. */
    private readonly promptCheck: (p: Pick<GenerationParams, 'prompt' | 'negativePrompt' | 'guidance'>) => Promise<PromptProblem | null> = async () => null,
  ) {
    // The scheduler's own feasibility test (src/scheduler/admission.ts): a processor-demand bound over the cost
    // model that counts the work already admitted.
    this.admitFn = (req, now, alive) => driver.scheduler.admit(req, now, alive);
  }

  get ready(): boolean {
    return !this.shuttingDown && this.driver.aliveGpus.length > 0;
  }

  get draining(): boolean {
    return this.shuttingDown;
  }

  job(id: string): Job | undefined {
    return this.byId.get(id);
  }

  /** Every job still remembered (admitted ones; finished ones until the retention limit forgets them). */
  jobs(): Job[] {
    return [...this.byId.values()];
  }

  /** Seconds of step work still ahead of the unfinished jobs (degree 1 profile time), spread over the alive GPUs. */
  backlogSeconds(): number {
    const alive = Math.max(1, this.driver.aliveGpus.length);
    let s = 0;
    for (const j of this.driver.unfinishedJobs) s += (j.totalSteps - j.progress.stepsDone) * this.stepSeconds(j.params.resolution);
    return s / alive;
  }

  stepSeconds(resolution: number): number {
    return this.model.fastestStep(this.model.slot(resolution));
  }

  /** A prompt the text encoders would refuse (over the token budget), or null: checked before admission. */
  checkPrompt(p: Pick<GenerationParams, 'prompt' | 'negativePrompt' | 'guidance'>): Promise<PromptProblem | null> {
    return this.promptCheck(p);
  }

  /** Validates admission and queues the job; throws AdmissionError when refused. */
  submit(o: SubmitOptions): Job {
    if (this.shuttingDown) throw new AdmissionError(503, 'shutting_down', 'the server is shutting down and accepts no new work', 30);
    const alive = this.driver.aliveGpus.length;
    if (alive === 0) throw new AdmissionError(503, 'no_gpu', 'no GPU worker is alive', 30);
    const unfinished = this.driver.scheduler.unfinished();
    if (unfinished >= this.config.maxQueue) {
      this.metrics.rejected.inc({ reason: 'queue_full' });
      throw new AdmissionError(429, 'queue_full', `the queue is full (${unfinished} requests admitted, limit ${this.config.maxQueue}); retry later`, Math.max(1, Math.ceil(this.backlogSeconds() / Math.max(1, unfinished))));
    }
    const p = o.params;
    const firstStep = p.initImage ? img2imgStartStep(p.steps, p.strength) : 0;
    const now = this.driver.clock();
    // An absolute deadline maps onto the driver clock through the same epoch as the responses' timestamps (iso).
    const slo = o.deadlineAtMs !== undefined ? (o.deadlineAtMs - this.epochMs) / 1000 - now : (o.deadlineSeconds ?? this.baseSlo[p.resolution] * (o.sloScale ?? 1));
    if (!(slo > 0)) throw new AdmissionError(400, 'deadline_passed', `deadline_at ${new Date(o.deadlineAtMs ?? 0).toISOString()} is not in the future (server time ${this.iso(now)})`, 0, 'deadline_at');
    const num = this.nextNum++;
    const req: Request = { id: num, resolution: p.resolution, steps: p.steps - firstStep, arrival: now, deadline: now + slo };
    const verdict = this.admitFn(req, now, alive);
    if (!verdict.accepted && this.config.admission === 'reject') {
      this.metrics.rejected.inc({ reason: 'deadline_infeasible' });
      throw new AdmissionError(503, 'deadline_infeasible', `deadline cannot be met: ${verdict.reason}`, Math.max(1, Math.ceil(this.backlogSeconds())));
    }
    const id = `gen_${num.toString(36)}${randomBytes(6).toString('hex')}`;
    const job = new Job(id, num, p, firstStep, now, now + slo, !verdict.accepted, o.format);
    this.byId.set(id, job);
    this.forgetOld();
    this.driver.submit(job);
    return job;
  }

  /** Keeps the job table bounded: finished jobs beyond the retention count are forgotten, oldest first. */
  private forgetOld(): void {
    const limit = this.config.retention.maxFiles + this.config.maxQueue;
    if (this.byId.size <= limit) return;
    for (const [id, j] of this.byId) {
      if (this.byId.size <= limit) break;
      if (j.finished) this.byId.delete(id);
    }
  }

  /** Position among queued jobs in deadline order (1 = next), null unless queued. */
  queuePosition(job: Job): number | null {
    if (job.state !== 'queued') return null;
    let ahead = 0;
    for (const j of this.driver.unfinishedJobs) if (j !== job && j.state === 'queued' && (j.deadline < job.deadline || (j.deadline === job.deadline && j.num < job.num))) ahead++;
    return ahead + 1;
  }

  /** Estimated seconds until the job finishes: its own steps, plus, while queued, the backlog ahead of it. */
  etaSeconds(job: Job): number | null {
    if (job.finished) return null;
    const own = (job.totalSteps - job.progress.stepsDone) * this.stepSeconds(job.params.resolution);
    if (job.state === 'running') return own;
    const alive = Math.max(1, this.driver.aliveGpus.length);
    let ahead = 0;
    for (const j of this.driver.unfinishedJobs) if (j !== job && j.deadline <= job.deadline) ahead += (j.totalSteps - j.progress.stepsDone) * this.stepSeconds(j.params.resolution);
    return own + ahead / alive;
  }

  async storeImage(job: Job, img: RgbImage): Promise<void> {
    job.resultPath = await this.results.save(job.id, job.format, img);
  }

  cancel(job: Job): boolean {
    return this.driver.cancel(job);
  }

  /**
   * Graceful shutdown (docs/serving.md): stop admitting (readyz turns 503, new work 503), let admitted work finish
   * for up to drainSeconds, then stop the workers; what is still unfinished is failed with a clear error.
   */
  async shutdown(): Promise<{ drained: boolean; failed: number }> {
    this.shuttingDown = true;
    const idle = this.driver.idle();
    const timer = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), this.config.drainSeconds * 1000).unref());
    const drained = (await Promise.race([idle.then(() => 'idle' as const), timer])) === 'idle';
    const left = this.driver.unfinishedJobs;
    // Failed now, through the driver: 'finished' fires as for any other end (the engine thread releases the request's
    // state), and a running assignment stops after its current step (a failed job is fast-forwarded). Failing after
    // the stop instead let the driver end a running job as 'cancelled', without the reason.
    for (const j of left) this.driver.fail(j, `the server shut down before this request finished (drain limit ${this.config.drainSeconds} s)`);
    await this.driver.stop();
    return { drained, failed: left.filter((j) => j.state === 'failed').length };
  }

  /** Seconds on the driver clock to a wall-clock ISO string. */
  iso(t: number): string {
    return new Date(this.epochMs + t * 1000).toISOString();
  }
}
