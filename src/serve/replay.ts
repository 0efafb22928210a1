// Live replay of a request trace through the real HTTP server, and the same trace in the simulator: the serving
// experiment (scripts/gpu-serve-experiment.sh) and its CI smoke test.
//
// One Fastify app (assembleServer: the scheduler of the policy, the driver, the core) is built over workers that
// are already open and listens on loopback. Each request is POSTed to /v1/generations at its trace arrival time
// (wait=false) with its size, steps and deadline_at = the trace's arrival + SLO on the driver clock (the
// simulator's clock: time 0 = the replay's start). While it runs, its
// status (GET /v1/generations/:id) is polled every `pollMs`, and one more poller reads statuses at `extraPollHz`:
// the latency of every status request sent while an assignment ran is the "status endpoints under 20 ms at p99
// while GPUs are busy" measurement. The client runs in the server's process (loopback fetch), so its numbers
// include the client's own share of the event loop: an upper bound on what an external client would see.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PerformanceObserver, constants, monitorEventLoopDelay } from 'node:perf_hooks';
import { spawn } from 'node:child_process';
import { CostModel } from '../scheduler/cost-model.js';
import { createScheduler } from '../scheduler/index.js';
import type { LatencyProfile } from '../scheduler/profile.js';
import type { Request } from '../scheduler/types.js';
import { simulate, type RequestOutcome } from '../sim/simulator.js';
import { defaultConfig, type ServeConfig } from './config.js';
import type { AssignmentRun, Driver } from './driver.js';
import type { Job } from './jobs.js';
import type { WorkerPool } from './pool.js';
import { assembleServer } from './server.js';
import type { Worker } from './worker.js';

export interface ReplayOutcome {
  id: number;
  resolution: number;
  /** Trace times, seconds from the replay's start on the driver clock. */
  arrival: number;
  deadline: number;
  /** When the image existed (Infinity: refused, failed, or cut at the tail limit). */
  finish: number;
  /** finish <= the trace deadline (the simulator's definition). */
  met: boolean;
  /** HTTP status of the POST (202 when admitted). */
  httpStatus: number;
  /** Final server state (done, failed, cancelled) or "refused". */
  state: string;
}

export interface LatencyStats {
  n: number;
  p50: number;
  p99: number;
  max: number;
}

export interface ReplayResult {
  policy: string;
  attainment: number;
  outcomes: ReplayOutcome[];
  /** Measured seconds per step at degree 1 by resolution (median over the run). */
  stepSeconds: Record<number, number>;
  /** Measured seconds per step by "degree:resolution" (median over the run). */
  stepSecondsByDegree: Record<string, number>;
  gpuBusySeconds: number[];
  wallSeconds: number;
  /** Median planRound wall time (ms). */
  decisionMsMedian: number;
  /** Event-loop delay while the replay ran (ms): what any request waited before its handler could run. */
  eventLoopDelayMs: { p50: number; p99: number; max: number };
  /**
   * Stretches of more than 50 ms in which the event loop ran nothing else (a 10 ms interval timer came late), with
   * garbage-collection pauses and, for the longest, the driver events emitted as each ended (what ran in it).
   */
  blocks: BlockReport;
  /** Engine calls' synchronous milliseconds by stage, over all workers (Worker.syncMs: on the engine thread's event loop, or the HTTP loop with --no-engine-thread). */
  engineSyncMs: Record<string, { n: number; meanMs: number; maxMs: number }>;
  /** Status requests (GET /v1/generations/:id) sent while at least one assignment ran: round-trip ms. */
  statusMs: LatencyStats;
  /** All status requests of the replay, busy or not. */
  statusMsAll: LatencyStats;
  /** The extra 20 Hz poller, a separate process (a client outside the server's event loop), while busy. */
  statusMsExternal: LatencyStats;
  /** POST /v1/generations round trips (ms). */
  submitMs: LatencyStats;
  /** Largest |server deadline - trace deadline| (ms): deadline_at has millisecond resolution, so at most 1. */
  deadlineSkewMsMax: number;
  /** Requests the server itself marked deadline_met (its own deadlines; should equal the trace count). */
  serverMet: number;
  /** Requests cancelled because the run passed its tail limit (counted as missed). */
  cut: number;
  /** Non-2xx answers (POSTs and status reads), with the message. */
  httpErrors: string[];
  /**
   * Assignments that ended less than 50 ms after a round boundary (round-based policies): in the simulator they end
   * exactly on it and their GPUs join that round; live, unless the policy dispatches on idle (tetriserve+), those
   * GPUs wait for the next boundary. A source of live-below-simulated gaps.
   */
  boundaryMisses: number;
  /** Round boundaries that waited for assignments the profile said end by them (driver.ts), and the seconds waited. */
  boundaryHolds: { count: number; seconds: number };
  /** Steps run at each degree. */
  stepsByDegree: Record<number, number>;
  /** Median text encoding + decoding seconds per request, by resolution (run inside assignments). */
  stageSeconds: Record<number, number>;
}

export interface ReplayOptions {
  maxDegree?: number;
  guidance?: number;
  /** Per-request status polling period (ms; default 100). */
  pollMs?: number;
  /** The extra status poller's rate (Hz; default 20; 0: none). */
  extraPollHz?: number;
  /**
   * Seconds after the last arrival to wait for the tail; what is unfinished then is cancelled (DELETE) and
   * counted as missed (default: no limit). Keeps a run inside the experiment's time budget.
   */
  tailLimitSeconds?: number;
  /** Server configuration on top of the replay's (logging, limits). */
  config?: Partial<ServeConfig>;
}

const median = (xs: number[]): number => (xs.length ? [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] : NaN);

function stats(xs: number[]): LatencyStats {
  if (!xs.length) return { n: 0, p50: NaN, p99: NaN, max: NaN };
  const s = [...xs].sort((a, b) => a - b);
  const q = (p: number): number => s[Math.min(s.length - 1, Math.ceil(p * s.length) - 1)];
  return { n: s.length, p50: q(0.5), p99: q(0.99), max: s[s.length - 1] };
}

const FINISHED = new Set(['done', 'failed', 'cancelled']);

interface ExternalPoller {
  setId(id: string): void;
  /** Ends the poller; its samples: [send time (epoch ms, high resolution), round trip ms, HTTP status (0: failed)]. */
  stop(): Promise<[number, number, number][]>;
  kill(): void;
}

// The poller process: reads GET /v1/generations/<newest id> at a fixed rate; ids arrive as lines on stdin, "stop"
// ends it and it writes its samples as JSON on stdout.
const POLLER = `
import { createInterface } from 'node:readline';
const url = process.argv[1];
const period = 1000 / Number(process.argv[2]);
let id = null;
let stop = false;
const samples = [];
createInterface({ input: process.stdin }).on('line', (l) => { if (l === 'stop') stop = true; else id = l; });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
while (!stop) {
  const t = performance.now();
  if (id) {
    try {
      const r = await fetch(url + '/v1/generations/' + id);
      await r.arrayBuffer();
      samples.push([performance.timeOrigin + t, performance.now() - t, r.status]);
    } catch {
      samples.push([performance.timeOrigin + t, -1, 0]);
    }
  }
  await sleep(Math.max(0, period - (performance.now() - t)));
}
process.stdout.write(JSON.stringify(samples), () => process.exit(0));
`;

function externalPoller(url: string, hz: number): ExternalPoller {
  const child = spawn(process.execPath, ['--input-type=module', '-e', POLLER, url, String(hz)], { stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (d: string) => (out += d));
  const done = new Promise<[number, number, number][]>((resolve) => {
    child.on('error', () => resolve([]));
    child.on('close', () => {
      try {
        resolve(JSON.parse(out || '[]') as [number, number, number][]);
      } catch {
        resolve([]);
      }
    });
  });
  child.stdin.on('error', () => undefined);
  return {
    setId: (id) => void child.stdin.write(`${id}\n`),
    stop: () => {
      child.stdin.write('stop\n');
      return done;
    },
    kill: () => void (child.exitCode === null && child.kill()),
  };
}

export interface BlockReport {
  count: number;
  totalMs: number;
  maxMs: number;
  /** The longest (up to 8): when (seconds from the replay's start), how long, the driver events at its end. */
  longest: { at: number; ms: number; events: string[] }[];
  gc: { count: number; totalMs: number; maxMs: number; major: number };
}

interface BlockWatch {
  stop(): BlockReport;
}

/** Watches the event loop for blocks over 50 ms and GC pauses while a replay runs (the status-latency diagnosis). */
function blockWatch(driver: Driver): BlockWatch {
  const start = performance.now();
  const events: { t: number; what: string }[] = [];
  const note = (what: string): void => void events.push({ t: performance.now(), what });
  const onAssign = (a: AssignmentRun): void => note(`assignment start ${a.resolution}px d${a.gpus.length} x${a.steps}`);
  const onStep = (e: { job: Job; gpus: readonly number[] }): void => note(`step end ${e.job.params.resolution}px d${e.gpus.length}`);
  const onStage = (e: { job: Job; stage: string }): void => note(`${e.stage} end ${e.job.params.resolution}px`);
  const onDecision = (): void => note('decision');
  const onFinished = (j: Job): void => note(`finished ${j.params.resolution}px`);
  driver.on('assignment', onAssign);
  driver.on('step', onStep);
  driver.on('stage', onStage);
  driver.on('decision', onDecision);
  driver.on('finished', onFinished);
  const found: { end: number; ms: number }[] = [];
  let last = performance.now();
  const timer = setInterval(() => {
    const now = performance.now();
    if (now - last > 60) found.push({ end: now, ms: now - last - 10 });
    last = now;
  }, 10);
  const gcs: { ms: number; major: boolean }[] = [];
  const obs = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) gcs.push({ ms: e.duration, major: ((e as unknown as { detail?: { kind?: number } }).detail?.kind ?? 0) === constants.NODE_PERFORMANCE_GC_MAJOR });
  });
  obs.observe({ entryTypes: ['gc'] });
  let report: BlockReport | null = null;
  return {
    stop(): BlockReport {
      if (report) return report;
      clearInterval(timer);
      obs.disconnect();
      driver.off('assignment', onAssign);
      driver.off('step', onStep);
      driver.off('stage', onStage);
      driver.off('decision', onDecision);
      driver.off('finished', onFinished);
      const longest = [...found].sort((a, b) => b.ms - a.ms).slice(0, 8).map((b) => ({
        at: (b.end - start) / 1000,
        ms: b.ms,
        // What ran just before the timer could: events emitted inside the block or within 2 ms after it.
        events: events.filter((e) => e.t >= b.end - b.ms - 10 && e.t <= b.end + 2).map((e) => e.what).slice(0, 8),
      }));
      report = {
        count: found.length, totalMs: found.reduce((a, b) => a + b.ms, 0), maxMs: found.reduce((a, b) => Math.max(a, b.ms), 0), longest,
        gc: { count: gcs.length, totalMs: gcs.reduce((a, g) => a + g.ms, 0), maxMs: gcs.reduce((a, g) => Math.max(a, g.ms), 0), major: gcs.filter((g) => g.major).length },
      };
      return report;
    },
  };
}

/** Replays `trace` (arrival/deadline in seconds from the start) under `policy` through a server on the pool's workers. */
export async function replayLive(pool: WorkerPool, profile: LatencyProfile, policy: string, trace: readonly Request[], opts: ReplayOptions = {}): Promise<ReplayResult> {
  const { workers } = pool;
  const resultDir = await mkdtemp(join(tmpdir(), 'serve-replay-'));
  const maxSteps = Math.max(100, ...trace.map((r) => r.steps));
  const cfg = defaultConfig({
    model: profile.model, resolutions: profile.entries.map((e) => e.resolution), gpus: workers.length, maxDegree: opts.maxDegree ?? 1, policy,
    host: '127.0.0.1', port: 0, logLevel: 'warn', resultDir, maxSteps, maxQueue: Math.max(64, trace.length + 1),
    rateLimitPerMinute: 1_000_000, admission: 'best-effort', drainSeconds: 1,
    ...opts.config,
  });
  const server = await assembleServer(cfg, pool, profile);
  const { driver, core } = server;
  const url = server.url!;
  const busy0 = workers.map((w) => w.busySeconds);
  type Sync = Record<string, { n: number; total: number; max: number }>;
  const syncOf = (w: Worker): Sync => w.syncMs;
  const sync0 = workers.map((w) => structuredClone(syncOf(w)));
  for (const w of workers) for (const v of Object.values(syncOf(w))) v.max = 0; // max over this replay
  let stopPolling = false;
  let external: ExternalPoller | null = null;
  let blocks: BlockWatch | null = null;
  // Whatever happens, the server is shut down (drain 1 s, then its driver stops after the current steps) before the
  // workers serve the next replay.
  try {
    const degreeSteps = new Map<number, number>();
    const steps = new Map<number, number[]>();
    const stepsByDeg = new Map<string, number[]>();
    driver.on('step', (s) => {
      degreeSteps.set(s.gpus.length, (degreeSteps.get(s.gpus.length) ?? 0) + 1);
      const key = `${s.gpus.length}:${s.job.params.resolution}`;
      stepsByDeg.set(key, [...(stepsByDeg.get(key) ?? []), s.seconds]);
      if (s.gpus.length === 1) steps.set(s.job.params.resolution, [...(steps.get(s.job.params.resolution) ?? []), s.seconds]);
    });
    const decisions: number[] = [];
    driver.on('decision', (d) => decisions.push(d.seconds * 1000));
    const stages = new Map<number, number>();
    driver.on('stage', (s) => stages.set(s.job.num, (stages.get(s.job.num) ?? 0) + s.seconds));

    const gpuBusy = (): boolean => driver.unfinishedJobs.some((j) => j.state === 'running');
    const statusBusy: number[] = [];
    const statusAll: number[] = [];
    const submitMs: number[] = [];
    const httpErrors: string[] = [];
    /** One timed status read; returns the state, or null on an HTTP error. */
    const readStatus = async (id: string): Promise<string | null> => {
      const busy = gpuBusy();
      const a = performance.now();
      const res = await fetch(`${url}/v1/generations/${id}`);
      const body = (await res.json()) as { state?: string; error?: { message: string } };
      const ms = performance.now() - a;
      statusAll.push(ms);
      if (busy) statusBusy.push(ms);
      if (res.status !== 200) {
        httpErrors.push(`GET ${id}: ${res.status} ${body.error?.message ?? ''}`);
        return null;
      }
      return body.state ?? null;
    };
    const pollers: Promise<void>[] = [];
    const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
    const pollMs = opts.pollMs ?? 100;
    const poll = async (id: string): Promise<void> => {
      while (!stopPolling) {
        const t = performance.now();
        const state = await readStatus(id);
        if (state === null || FINISHED.has(state)) return;
        await sleep(Math.max(0, pollMs - (performance.now() - t)));
      }
    };

    interface Sent { r: Request; status: number; job: Job | null }
    const sent: Sent[] = [];
    const ids: string[] = [];
    const loop = monitorEventLoopDelay({ resolution: 1 });
    loop.enable();
    blocks = blockWatch(driver);
    const t0 = driver.clock();
    // The extra poller: a separate process reading the newest request's status at a fixed rate for the whole
    // replay, i.e. a client that does not share the server's event loop.
    const extraHz = opts.extraPollHz ?? 20;
    external = extraHz > 0 ? externalPoller(url, extraHz) : null;
    const submit = async (r: Request): Promise<void> => {
      // The trace's deadline (t0 + arrival + SLO on the driver clock, the simulator's clock) sent as deadline_at:
      // the server maps it back through the same epoch, so its deadline is the trace's to the millisecond whatever
      // the request's transit time or a late timer.
      const body = { prompt: `trace request ${r.id}`, size: `${r.resolution}x${r.resolution}`, steps: r.steps, guidance: opts.guidance ?? 3.5, seed: r.id >>> 0, deadline_at: core.iso(t0 + r.deadline), output_format: 'jpeg', wait: false };
      const a = performance.now();
      const res = await fetch(`${url}/v1/generations`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
      const out = (await res.json()) as { id?: string; error?: { message: string } };
      submitMs.push(performance.now() - a);
      if (res.status !== 202 || !out.id) {
        httpErrors.push(`POST request ${r.id}: ${res.status} ${out.error?.message ?? ''}`);
        sent.push({ r, status: res.status, job: null });
        return;
      }
      sent.push({ r, status: res.status, job: core.job(out.id) ?? null });
      ids.push(out.id);
    external?.setId(out.id);
      // The handler is attached now: a poll that fails later must be recorded, not crash the process.
      pollers.push(poll(out.id).catch((e: unknown) => void httpErrors.push(`status poll ${out.id}: ${(e as Error).message}`)));
    };
    const posts: Promise<void>[] = [];
    await new Promise<void>((resolve) => {
      let n = 0;
      for (const r of trace) {
        setTimeout(() => {
          posts.push(submit(r).catch((e: unknown) => void httpErrors.push(`POST request ${r.id}: ${(e as Error).message}`)));
          if (++n === trace.length) resolve();
        }, Math.max(0, (r.arrival - (driver.clock() - t0)) * 1000));
      }
      if (trace.length === 0) resolve();
    });
    await Promise.all(posts);
    // The tail: wait for every admitted request, up to the limit; then cancel what is left through the API.
    let cut = 0;
    const lastArrival = trace.reduce((m, r) => Math.max(m, r.arrival), 0);
    const limitMs = opts.tailLimitSeconds === undefined ? null : Math.max(0, (t0 + lastArrival + opts.tailLimitSeconds - driver.clock()) * 1000);
    const idle = driver.idle();
    if (limitMs !== null && (await Promise.race([idle.then(() => 'idle'), sleep(limitMs).then(() => 'limit')])) === 'limit') {
      for (const s of sent) {
        if (s.job && !s.job.finished) {
          cut++;
          const res = await fetch(`${url}/v1/generations/${s.job.id}`, { method: 'DELETE' });
          if (res.status !== 200 && res.status !== 409) httpErrors.push(`DELETE ${s.job.id}: ${res.status}`);
        }
      }
    }
    await idle;
    const wall = driver.clock() - t0;
    loop.disable();
    const blockReport = blocks.stop();
    blocks = null;
    stopPolling = true;
    await Promise.all(pollers);
    // The external poller's reads, on the driver clock; "busy" = an assignment was running at the send time.
    const offsetMs = performance.timeOrigin + performance.now() - driver.clock() * 1000;
    const samples = external ? await external.stop() : [];
    external = null;
    const runsNow = driver.history.filter((a) => (a.end ?? Infinity) >= t0);
    const externalBusy: number[] = [];
    for (const [atMs, ms, status] of samples) {
      const t = (atMs - offsetMs) / 1000;
      if (status !== 200) {
        httpErrors.push(`external GET: ${status === 0 ? 'request failed' : status}`);
        continue;
      }
      if (runsNow.some((a) => a.start <= t && t <= (a.end ?? Infinity))) externalBusy.push(ms);
    }

    const byId = new Map(sent.map((s) => [s.r.id, s]));
    const outcomes: ReplayOutcome[] = trace.map((r) => {
      const s = byId.get(r.id);
      const j = s?.job ?? null;
      const finish = j && j.state === 'done' && j.finishedAt !== null ? j.finishedAt - t0 : Infinity;
      return { id: r.id, resolution: r.resolution, arrival: r.arrival, deadline: r.deadline, finish, met: finish <= r.deadline + 1e-9, httpStatus: s?.status ?? 0, state: j ? j.state : 'refused' };
    });
    let skew = 0;
    let serverMet = 0;
    for (const s of sent) {
      if (!s.job) continue;
      skew = Math.max(skew, Math.abs(s.job.deadline - (t0 + s.r.deadline)) * 1000);
      if (s.job.met) serverMet++;
    }
    const stepSeconds: Record<number, number> = {};
    for (const [r, xs] of steps) stepSeconds[r] = median(xs);
    let boundaryMisses = 0;
    if (driver.scheduler.roundSeconds !== null && !driver.scheduler.planOnIdle) {
      const bounds = driver.roundStarts.filter((b) => b >= t0);
      for (const a of driver.history) if (a.end !== null && a.start >= t0 && bounds.some((b) => b > a.start && a.end! >= b && a.end! - b < 0.05)) boundaryMisses++;
    }
    const stageBy = new Map<number, number[]>();
    for (const s of sent) if (s.job) stageBy.set(s.r.resolution, [...(stageBy.get(s.r.resolution) ?? []), stages.get(s.job.num) ?? 0]);
    const stageSeconds: Record<number, number> = {};
    for (const [r, xs] of stageBy) stageSeconds[r] = median(xs);
    return {
      policy: driver.scheduler.name,
      attainment: outcomes.length ? outcomes.filter((o) => o.met).length / outcomes.length : 1,
      outcomes,
      stepSeconds,
      stepSecondsByDegree: Object.fromEntries([...stepsByDeg].map(([k, xs]) => [k, median(xs)])),
      gpuBusySeconds: workers.map((w, i) => w.busySeconds - busy0[i]),
      wallSeconds: wall,
      decisionMsMedian: median(decisions),
      eventLoopDelayMs: { p50: loop.percentile(50) / 1e6, p99: loop.percentile(99) / 1e6, max: loop.max / 1e6 },
      blocks: blockReport,
      engineSyncMs: (() => {
        const out: Record<string, { n: number; meanMs: number; maxMs: number }> = {};
        workers.forEach((w, i) => {
          for (const [k, v] of Object.entries(syncOf(w))) {
            const n = v.n - (sync0[i][k]?.n ?? 0);
            if (n <= 0) continue;
            const o = (out[k] ??= { n: 0, meanMs: 0, maxMs: 0 });
            o.meanMs = (o.meanMs * o.n + (v.total - (sync0[i][k]?.total ?? 0))) / (o.n + n);
            o.n += n;
            o.maxMs = Math.max(o.maxMs, v.max);
          }
        });
        return out;
      })(),
      statusMs: stats(statusBusy),
      statusMsAll: stats(statusAll),
      statusMsExternal: stats(externalBusy),
      submitMs: stats(submitMs),
      deadlineSkewMsMax: skew,
      serverMet,
      cut,
      httpErrors,
      boundaryMisses,
      boundaryHolds: { ...driver.boundaryHolds },
      stepsByDegree: Object.fromEntries(degreeSteps),
      stageSeconds,
    };
  } finally {
    stopPolling = true;
    external?.kill();
    blocks?.stop();
    await server.close();
    await rm(resultDir, { recursive: true, force: true });
  }
}

/** The simulator on the same trace with `profile`: per-request outcomes (finish times on the trace's clock). */
export function simulateTrace(profile: LatencyProfile, gpus: number, policy: string, trace: readonly Request[], maxDegree = 1): RequestOutcome[] {
  const model = new CostModel(profile, gpus, maxDegree);
  return simulate(createScheduler(policy, model), model, trace, { gpus }).outcomes;
}

/** The simulator's attainment on the same trace with `profile`. */
export function replaySimulated(profile: LatencyProfile, gpus: number, policy: string, trace: readonly Request[], maxDegree = 1): number {
  const outcomes = simulateTrace(profile, gpus, policy, trace, maxDegree);
  return outcomes.length ? outcomes.filter((o) => o.met).length / outcomes.length : 1;
}
