// The engines on their own thread. A Dawn device in the HTTP server's thread costs the HTTP event loop: command
// encoding runs there, dawn.node spins its event processing on setImmediate while a GPU promise is pending, and
// the engines' garbage is collected in the same heap (the H200 runs saw status reads wait 100-370 ms behind
// that). Here one worker_threads Worker (src/serve/engine-host.ts) owns every device, engine and
// sequence-parallel group; this thread keeps the HTTP server, the scheduler and the driver, and talks to it with
// messages (src/serve/engine-protocol.ts). One thread for all GPUs keeps sequence-parallel groups (which span
// devices) and request state shared, as in-process serving has them.
//
// The driver sees ThreadWorkers: the same Worker interface as a DeviceWorker. Request state (text conditioning,
// latents) stays on the engine thread between assignments; the HTTP thread gets step events (with a copy of the
// latents for previews), the outcome and the image.
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { SHARE_ENV, Worker as NodeWorker } from 'node:worker_threads';
import { newerSource } from '../util/build-freshness.js';
import type { ServeConfig } from './config.js';
import type { GenerationParams, PromptProblem, RgbImage } from './engine.js';
import { HR_OFFSET_MS, reviveError, type EngineThreadData, type FromEngine, type SerializedError, type StageMessage, type ToEngine } from './engine-protocol.js';
import type { Measured, OpenOptions, WorkerPool } from './pool.js';
import { addSyncMs, type AssignmentOutcome, type AssignmentWork, type Worker } from './worker.js';

/** How often a running assignment's shouldStop() is looked at, besides after every step (ms). */
const STOP_POLL_MS = 10;

/**
 * The compiled engine-thread script of a checkout at `root` (dist/serve/engine-host.js), refused when missing or
 * older than any source under src/ (an old build would run old code; DIT_ALLOW_STALE_BUILD=1 skips that check, as
 * bin/dit.js does).
 */
export function compiledEngineHost(root: string): URL {
  const entry = join(root, 'dist', 'serve', 'engine-host.js');
  if (!existsSync(entry)) throw new Error(`the engine thread runs compiled code and ${entry} is missing: run \`npm run build\` first`);
  const newer = newerSource(root, entry);
  if (newer) throw new Error(`the engine thread runs compiled code, and dist/ is older than ${newer}: run \`npm run build\` first`);
  return pathToFileURL(entry);
}

/**
 * The engine thread's script. Compiled (dist/), it is this file's sibling. From TypeScript sources (vitest) a
 * thread cannot load .ts, so it runs the checkout's dist/ build (`npm test` builds first).
 */
export function engineHostEntry(): URL {
  const here = fileURLToPath(import.meta.url);
  if (here.endsWith('.js')) return new URL('./engine-host.js', import.meta.url);
  return compiledEngineHost(resolve(dirname(here), '..', '..'));
}

interface Run {
  runId: number;
  work: AssignmentWork;
  completed: number;
  timer: NodeJS.Timeout;
  resolve: (o: AssignmentOutcome) => void;
}

/** The HTTP thread's view of one GPU worker on the engine thread. */
class ThreadWorker implements Worker {
  private lost: string | null = null;
  private closed = false;
  private threadBusy = 0;
  private memberBusy = 0;
  private readonly lostCbs: ((reason: string) => void)[] = [];
  current: Run | null = null;
  readonly syncMs: Worker['syncMs'] = {};

  constructor(readonly gpu: number, readonly description: string, private readonly thread: EngineThread) {}

  get alive(): boolean {
    return this.lost === null && !this.closed;
  }

  get lostReason(): string | null {
    return this.lost;
  }

  get busySeconds(): number {
    return this.threadBusy + this.memberBusy;
  }

  chargeBusy(seconds: number): void {
    this.memberBusy += seconds;
  }

  onLost(cb: (reason: string) => void): void {
    this.lostCbs.push(cb);
  }

  markLost(reason: string): void {
    if (this.lost !== null || this.closed) return;
    this.lost = reason;
    for (const cb of this.lostCbs) cb(reason);
  }

  run(work: AssignmentWork, group?: readonly number[]): Promise<AssignmentOutcome> {
    if (!this.alive) return Promise.resolve({ completed: 0, error: new Error(`GPU ${this.gpu} is not alive (${this.lost ?? 'closed'})`) });
    if (this.current) throw new Error(`GPU ${this.gpu} was given an assignment while running another (driver bug)`);
    this.thread.setStop(this.gpu, false);
    const runId = this.thread.nextId();
    return new Promise<AssignmentOutcome>((resolve) => {
      this.current = { runId, work, completed: 0, resolve, timer: setInterval(() => this.pollStop(), STOP_POLL_MS) };
      this.thread.post({
        type: 'run', runId, gpu: this.gpu, requestId: work.requestId, jobId: work.jobId, params: work.params, totalSteps: work.totalSteps,
        stepsDone: work.progress.stepsDone, steps: work.steps, group: group ? [...group] : undefined,
      });
    });
  }

  /** Cancellation and shutdown reach the engine thread through the shared stop flag, read before each step. */
  private pollStop(): void {
    if (this.current?.work.shouldStop()) this.thread.setStop(this.gpu, true);
  }

  onStage(runId: number, ev: StageMessage): void {
    const r = this.current;
    if (!r || r.runId !== runId) return;
    if (ev.kind === 'step') {
      r.work.progress.stepsDone++;
      r.completed++;
      const toLocal = (hrMs: number): number => (hrMs - HR_OFFSET_MS) / 1000;
      r.work.onStage({ kind: 'step', step: ev.step, start: toLocal(ev.startHrMs), end: toLocal(ev.endHrMs), latents: ev.latents });
      this.pollStop();
    } else {
      r.work.onStage(ev);
    }
  }

  onDone(m: Extract<FromEngine, { type: 'done' }>): void {
    const r = this.current;
    if (!r || r.runId !== m.runId) return;
    this.threadBusy = Math.max(this.threadBusy, m.busySeconds);
    for (const [stage, ms] of m.sync) addSyncMs(this.syncMs, stage, ms);
    this.finishRun({ completed: m.completed, image: m.image, error: m.error ? reviveError(m.error) : undefined });
  }

  /** The engine thread is gone: the running assignment ends with the steps it reported. */
  abandon(reason: string): void {
    this.markLost(reason);
    if (this.current) this.finishRun({ completed: this.current.completed, error: new Error(`GPU ${this.gpu}: ${reason}`) });
  }

  /** The pool is closing: no more work (a run asked for later fails at once instead of waiting on a dead thread). */
  markClosed(): void {
    this.closed = true;
  }

  private finishRun(o: AssignmentOutcome): void {
    const r = this.current!;
    clearInterval(r.timer);
    this.current = null;
    r.resolve(o);
  }

  preview(p: GenerationParams, latents: Float32Array): Promise<RgbImage> {
    return this.thread.call<RgbImage>((callId) => ({ type: 'preview', callId, gpu: this.gpu, params: p, latents }));
  }

  checkPrompt(p: Pick<GenerationParams, 'prompt' | 'negativePrompt' | 'guidance'>): Promise<PromptProblem | null> {
    const prompt = { prompt: p.prompt, negativePrompt: p.negativePrompt, guidance: p.guidance };
    return this.thread.call<PromptProblem | null>((callId) => ({ type: 'checkPrompt', callId, gpu: this.gpu, prompt }));
  }

  kill(reason: string): void {
    if (!this.alive) return;
    // As a DeviceWorker does: lost at once for the driver; the device is destroyed on the engine thread, and the
    // running assignment reports its completed steps and the failure from there.
    this.markLost(`killed: ${reason}`);
    this.thread.post({ type: 'kill', gpu: this.gpu, reason });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.thread.post({ type: 'closeWorker', gpu: this.gpu });
  }
}

class EngineThread {
  private readonly thread: NodeWorker;
  private readonly stop: Int32Array;
  private id = 0;
  private readonly calls = new Map<number, { resolve: (v: never) => void; reject: (e: Error) => void }>();
  workers: ThreadWorker[] = [];
  private dead: string | null = null;
  private exited = false;

  constructor(cfg: ServeConfig, private readonly log: ((m: string) => void) | undefined) {
    const stopFlags = new SharedArrayBuffer(4 * Math.max(1, cfg.gpus));
    this.stop = new Int32Array(stopFlags);
    const data: EngineThreadData = { cfg, stopFlags };
    // SHARE_ENV: a thread's process.env is otherwise a private copy that native code never sees, and openGpu
    // selects each GPU by setting variables the Vulkan loader and the device-select layer read with getenv()
    // (src/parallel/devices.ts); without it every worker would open the first GPU.
    this.thread = new NodeWorker(engineHostEntry(), { workerData: data, name: 'dit-engines', env: SHARE_ENV });
  }

  nextId(): number {
    return ++this.id;
  }

  setStop(gpu: number, on: boolean): void {
    Atomics.store(this.stop, gpu, on ? 1 : 0);
  }

  /** Sends a message; nothing goes to a dead thread except, with `evenIfDead`, the request to close. */
  post(m: ToEngine, evenIfDead = false): void {
    if (this.dead && !evenIfDead) return;
    const transfer = m.type === 'preview' ? [m.latents.buffer as ArrayBuffer] : [];
    this.thread.postMessage(m, transfer);
  }

  call<T>(make: (callId: number) => ToEngine, evenIfDead = false): Promise<T> {
    if (this.dead && !evenIfDead) return Promise.reject(new Error(`the engine thread is gone (${this.dead})`));
    const callId = this.nextId();
    return new Promise<T>((resolve, reject) => {
      this.calls.set(callId, { resolve: resolve as (v: never) => void, reject });
      const m = make(callId);
      // The caller keeps its latents (an SSE preview of an event other listeners may still read).
      if (m.type === 'preview') m.latents = m.latents.slice();
      this.post(m, evenIfDead);
    });
  }

  /** Starts the thread and waits until every device is open and every resolution compiled. */
  open(): Promise<Extract<FromEngine, { type: 'ready' }>> {
    return new Promise((resolve, reject) => {
      let ready = false;
      this.thread.on('message', (m: FromEngine) => {
        switch (m.type) {
          case 'log':
            this.log?.(m.message);
            break;
          case 'ready':
            ready = true;
            this.workers = m.workers.map((w) => new ThreadWorker(w.gpu, w.description, this));
            resolve(m);
            break;
          case 'openFailed':
            // The thread ends by itself (terminating it while Dawn has work in flight would abort the process).
            this.dead = 'start-up failed';
            reject(reviveError(m.error));
            break;
          case 'stage':
            this.workerOfRun(m.runId)?.onStage(m.runId, m.ev);
            break;
          case 'done':
            this.workerOfRun(m.runId)?.onDone(m);
            break;
          case 'lost':
            this.workers.find((w) => w.gpu === m.gpu)?.markLost(m.reason);
            break;
          case 'fatal':
            died(`${m.error.name}: ${m.error.message}`, m.error);
            break;
          case 'reply': {
            const c = this.calls.get(m.callId);
            this.calls.delete(m.callId);
            if (m.error) c?.reject(reviveError(m.error));
            else c?.resolve(m.value as never);
            break;
          }
        }
      });
      const died = (reason: string, e?: SerializedError | Error): void => {
        if (!this.dead) {
          this.dead = reason;
          if (!ready) reject(e instanceof Error ? e : e ? reviveError(e) : new Error(`the engine thread stopped before the workers were ready: ${reason}`));
        }
        this.settleAll(`the engine thread stopped: ${this.dead}`);
      };
      this.thread.on('error', (e) => died(e.message, e));
      // After close() too: whatever is still waiting (a run, a preview the thread did not answer) settles now.
      this.thread.on('exit', (code) => {
        this.exited = true;
        died(`exit code ${code}`);
      });
    });
  }

  /** Ends every running assignment (with the steps it reported) and rejects every pending call. */
  private settleAll(reason: string): void {
    for (const w of this.workers) w.abandon(reason);
    for (const c of this.calls.values()) c.reject(new Error(reason));
    this.calls.clear();
  }

  private workerOfRun(runId: number): ThreadWorker | undefined {
    return this.workers.find((w) => w.current?.runId === runId);
  }

  /** Requests whose state the engine thread holds (released ones are gone). */
  heldRequests(): Promise<number> {
    return this.call<number>((callId) => ({ type: 'held', callId }));
  }

  /** Fault injection: an error escapes on the engine thread, as a bug there would. */
  crash(reason: string): void {
    this.post({ type: 'crashForTest', reason });
  }

  /**
   * Frees every device and engine on the thread and lets it end by itself. Terminating it instead while Dawn has
   * work in flight aborts the process (engine-host.ts), so terminate() is only the last resort after 10 s.
   */
  async close(): Promise<void> {
    if (this.exited) return;
    const exited = new Promise<void>((r) => this.thread.once('exit', () => r()));
    for (const w of this.workers) w.markClosed();
    // A thread that reported a fatal error still frees its devices and ends on this request.
    const done = this.call<void>((callId) => ({ type: 'close', callId }), true).catch(() => undefined);
    this.dead ??= 'closed';
    const limit = (ms: number): Promise<'late'> => new Promise((r) => setTimeout(() => r('late'), ms).unref());
    await Promise.race([done, limit(10_000)]);
    if ((await Promise.race([exited, limit(10_000)])) === 'late') await this.thread.terminate();
  }
}

export interface ThreadPool extends WorkerPool {
  readonly home: 'thread';
  /** Requests whose text conditioning and latents the engine thread holds (each leaves when its job finishes). */
  heldRequests(): Promise<number>;
  /** Fault injection: an error escapes on the engine thread (every worker lost, in-flight work fails with it). */
  crashForTest(reason: string): void;
  /** Test hook: the engine thread runs synchronous JavaScript for `ms` milliseconds. */
  blockForTest(ms: number): void;
}

/** The workers on one engine thread (the default for serving). */
export async function openEngineThread(cfg: ServeConfig, opts: OpenOptions = {}): Promise<ThreadPool> {
  const t = new EngineThread(cfg, opts.log);
  const ready = await t.open();
  const measured: Measured = new Map(ready.measured.map(([k, byRes]) => [k, new Map(byRes)]));
  let closing: Promise<void> | null = null;
  return {
    workers: t.workers, measured, sequenceParallel: ready.sequenceParallel, home: 'thread',
    release: (jobId) => t.post({ type: 'release', jobId }),
    heldRequests: () => t.heldRequests(),
    crashForTest: (reason) => t.crash(reason),
    blockForTest: (ms) => t.post({ type: 'blockForTest', ms }),
    close: () => (closing ??= t.close()),
  };
}
