// Puts the server together: one worker per GPU with the model resident and every served resolution compiled,
// a latency profile (measured on the workers at start, or read from a file), the scheduler, the driver, the
// results store, metrics and the Fastify app.
import { readFile, stat } from 'node:fs/promises';
import type { FastifyInstance } from 'fastify';
import { GpuContext } from '../gpu/context.js';
import { openGpu } from '../parallel/devices.js';
import { CostModel } from '../scheduler/cost-model.js';
import { createScheduler } from '../scheduler/index.js';
import { makeProfile, parseProfile, type LatencyProfile } from '../scheduler/profile.js';
import { buildApp } from './app.js';
import type { ServeConfig } from './config.js';
import { ServeCore } from './core.js';
import { Driver } from './driver.js';
import { FluxEngine } from './flux-engine.js';
import type { Engine } from './engine.js';
import { PipelineEngine } from './pipeline-engine.js';
import { ServeMetrics } from './metrics.js';
import { ResultStore } from './results.js';
import { GroupExecutors } from './groups.js';
import { DeviceWorker, type Worker } from './worker.js';

export interface StartOptions {
  /** Opens the device of GPU `gpu` (default: openGpu per GPU, or the first adapter with sharedAdapter). */
  openDevice?: (gpu: number) => Promise<GpuContext>;
  /** Listen on the configured port (default true; tests use app.inject or port 0). */
  listen?: boolean;
  /** Progress lines during start-up (model load, compilation); default: the app logger. */
  log?: (msg: string) => void;
}

export interface RunningServer {
  app: FastifyInstance;
  core: ServeCore;
  workers: Worker[];
  profile: LatencyProfile;
  /** The URL it listens on (when listening). */
  url: string | null;
  /** Graceful shutdown as documented: drain, then close workers and the HTTP server. */
  close(): Promise<{ drained: boolean; failed: number }>;
}

/**
 * A model folder (diffusers pipeline or BFL file set) runs the whole pipeline; a single transformer file or
 * random:flux1-dev runs the transformer with the interim text/VAE stand-ins (docs/serving.md).
 */
export async function openEngine(ctx: GpuContext, cfg: ServeConfig): Promise<Engine> {
  const single = cfg.model.startsWith('random:') || (await stat(cfg.model)).isFile();
  if (single) return FluxEngine.open(ctx, { model: cfg.model, txtTokens: cfg.txtTokens ?? 512, resolutions: cfg.resolutions });
  return PipelineEngine.open(ctx, cfg.model, cfg.resolutions, cfg.txtTokens);
}

/** Start-up measurements: seconds per step by degree, then resolution (one value per worker or group). */
export type Measured = Map<number, Map<number, number[]>>;

export async function openWorkers(cfg: ServeConfig, opts: StartOptions = {}): Promise<{ workers: Worker[]; measured: Measured; groups: GroupExecutors | null }> {
  // One Dawn device per GPU through the device-select layer (src/parallel/devices.ts) when there are several.
  const open = opts.openDevice ?? ((g: number) => (cfg.gpus > 1 && !cfg.sharedAdapter ? openGpu(g, { robustness: cfg.robustness }) : GpuContext.open({ robustness: cfg.robustness })));
  const workers: Worker[] = [];
  const measured: Measured = new Map([[1, new Map()]]);
  const add = (degree: number, r: number, s: number): void => {
    if (!measured.has(degree)) measured.set(degree, new Map());
    const m = measured.get(degree)!;
    m.set(r, [...(m.get(r) ?? []), s]);
  };
  for (let g = 0; g < cfg.gpus; g++) {
    const ctx = await open(g);
    const engine = await openEngine(ctx, cfg);
    const w = new DeviceWorker(g, ctx, engine);
    const line: string[] = [];
    for (const r of cfg.resolutions) {
      const s = await w.prepare(r);
      add(1, r, s);
      line.push(`${r}² ${(s * 1000).toFixed(1)} ms`);
    }
    opts.log?.(`${w.description}; one step: ${line.join(', ')}`);
    workers.push(w);
  }
  // Sequence-parallel degrees: the first k GPUs as the measured group of each degree.
  let groups: GroupExecutors | null = null;
  const degrees = [2, 4, 8].filter((k) => k <= Math.min(cfg.maxDegree, cfg.gpus));
  if (degrees.length) {
    groups = new GroupExecutors(workers, cfg.sharedAdapter, cfg.resolutions.length);
    for (const k of degrees) {
      const ids = workers.slice(0, k).map((w) => w.gpu);
      const ex = groups.get(ids);
      const line: string[] = [];
      for (const r of cfg.resolutions) {
        const s = await workers[0].prepareGroup(r, ex);
        add(k, r, s);
        line.push(`${r}² ${(s * 1000).toFixed(1)} ms`);
      }
      opts.log?.(`degree ${k} (${groups.transport}, GPUs ${ids.join(',')}); one step: ${line.join(', ')}`);
    }
  }
  return { workers, measured, groups };
}

/** A profile from the start-up measurements (median over workers per degree). */
export function measuredProfile(cfg: ServeConfig, measured: Measured, device: string): LatencyProfile {
  const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const degrees = [...measured.keys()].sort((a, b) => a - b);
  return makeProfile({
    model: cfg.model,
    device,
    degrees,
    entries: cfg.resolutions.map((r) => ({
      resolution: r,
      stepSeconds: Object.fromEntries(degrees.map((k) => [String(k), median(measured.get(k)!.get(r)!)])),
      groupChangeSeconds: 0,
      provenance: { '1': 'measured: warm steps on each worker at server start (median)', groupChange: 'latents live on the host between steps: moving costs no extra transfer' },
    })),
  });
}

export interface AssembledServer {
  app: FastifyInstance;
  core: ServeCore;
  driver: Driver;
  /** The URL it listens on (when listening). */
  url: string | null;
  /** Graceful shutdown (drain), then the HTTP server; the workers stay open (their owner closes them). */
  close(): Promise<{ drained: boolean; failed: number }>;
}

/**
 * The scheduler, driver, core and Fastify app over workers that are already open (startServer; the serving
 * experiment builds one per policy over the same workers).
 */
export async function assembleServer(cfg: ServeConfig, workers: Worker[], groups: GroupExecutors | null, profile: LatencyProfile, opts: { listen?: boolean } = {}): Promise<AssembledServer> {
  // The cost model offers only the degrees the server measured groups for.
  const model = new CostModel(profile, workers.length, Math.min(cfg.maxDegree, Math.max(...profile.degrees)));
  const scheduler = createScheduler(cfg.policy, model);
  const baseSlo: Record<number, number> = {};
  for (const r of cfg.resolutions) baseSlo[r] = cfg.baseSlo[r] ?? cfg.sloFactor * cfg.defaultSteps * model.fastestStep(model.slot(r));
  const results = new ResultStore(cfg.resultDir, cfg.retention);
  await results.init();
  let core!: ServeCore;
  const driver = new Driver({
    scheduler, workers, groups: groups ?? undefined, storeImage: (job, img) => core.storeImage(job, img),
    // The profile's time for an assignment: round boundaries wait briefly for the ones due by then (driver.ts).
    expectedSeconds: (a, resolution) => a.steps * model.stepAtDegree(model.slot(resolution), a.gpus.length),
  });
  const metrics = new ServeMetrics(driver, true);
  core = new ServeCore(cfg, driver, model, metrics, results, baseSlo, (p, latents) => workers[0].preview(p, latents), (p) => workers.find((w) => w.alive)?.checkPrompt(p) ?? null);
  const app = await buildApp(core);
  driver.on('gpuLost', (e) => app.log.warn({ gpu: e.gpu, reason: e.reason }, 'GPU worker lost; its requests are requeued'));
  let url: string | null = null;
  if (opts.listen ?? true) url = await app.listen({ host: cfg.host, port: cfg.port });
  let closing: Promise<{ drained: boolean; failed: number }> | null = null;
  const close = (): Promise<{ drained: boolean; failed: number }> => {
    closing ??= (async () => {
      const r = await core.shutdown();
      await app.close();
      return r;
    })();
    return closing;
  };
  return { app, core, driver, url, close };
}

export async function startServer(cfg: ServeConfig, opts: StartOptions = {}): Promise<RunningServer> {
  const { workers, measured, groups } = await openWorkers(cfg, opts);
  const profile = cfg.profilePath ? parseProfile(JSON.parse(await readFile(cfg.profilePath, 'utf8')), cfg.profilePath) : measuredProfile(cfg, measured, workers[0].description);
  const s = await assembleServer(cfg, workers, groups, profile, { listen: opts.listen });
  let closing: Promise<{ drained: boolean; failed: number }> | null = null;
  const close = (): Promise<{ drained: boolean; failed: number }> => {
    closing ??= (async () => {
      const r = await s.close();
      groups?.destroy();
      await Promise.all(workers.map((w) => w.close()));
      return r;
    })();
    return closing;
  };
  return { app: s.app, core: s.core, workers, profile, url: s.url, close };
}
