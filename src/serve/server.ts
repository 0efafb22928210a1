// Puts the server together: one worker per GPU with the model resident and every served resolution compiled
// (src/serve/pool.ts; on the engine thread by default), a latency profile (measured on the workers at start, or
// read from a file), the scheduler, the driver, the results store, metrics and the Fastify app.
import { readFile } from 'node:fs/promises';
import type { FastifyInstance } from 'fastify';
import { CostModel } from '../scheduler/cost-model.js';
import { createScheduler } from '../scheduler/index.js';
import { parseProfile, type LatencyProfile } from '../scheduler/profile.js';
import { buildApp } from './app.js';
import type { ServeConfig } from './config.js';
import { ServeCore } from './core.js';
import { Driver } from './driver.js';
import { openEngineThread } from './engine-thread.js';
import { ServeMetrics } from './metrics.js';
import { measuredProfile, openInProcessPool, type OpenOptions, type WorkerPool } from './pool.js';
import { ResultStore } from './results.js';
import type { Worker } from './worker.js';

export interface StartOptions extends OpenOptions {
  /** Listen on the configured port (default true; tests use app.inject or port 0). */
  listen?: boolean;
}

export interface RunningServer {
  app: FastifyInstance;
  core: ServeCore;
  workers: Worker[];
  pool: WorkerPool;
  profile: LatencyProfile;
  /** The URL it listens on (when listening). */
  url: string | null;
  /** Graceful shutdown as documented: drain, then close workers and the HTTP server. */
  close(): Promise<{ drained: boolean; failed: number }>;
}

/** The workers where the configuration puts them: on the engine thread (default) or on this thread. */
export function openPool(cfg: ServeConfig, opts: OpenOptions = {}): Promise<WorkerPool> {
  return cfg.engineThread ? openEngineThread(cfg, opts) : openInProcessPool(cfg, opts);
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
export async function assembleServer(cfg: ServeConfig, pool: WorkerPool, profile: LatencyProfile, opts: { listen?: boolean } = {}): Promise<AssembledServer> {
  const workers = pool.workers;
  // The cost model offers only the degrees the server measured groups for.
  const model = new CostModel(profile, workers.length, Math.min(cfg.maxDegree, Math.max(...profile.degrees)));
  const scheduler = createScheduler(cfg.policy, model);
  const baseSlo: Record<number, number> = {};
  for (const r of cfg.resolutions) baseSlo[r] = cfg.baseSlo[r] ?? cfg.sloFactor * cfg.defaultSteps * model.fastestStep(model.slot(r));
  const results = new ResultStore(cfg.resultDir, cfg.retention);
  await results.init();
  let core!: ServeCore;
  const driver = new Driver({
    scheduler, workers, sequenceParallel: pool.sequenceParallel, storeImage: (job, img) => core.storeImage(job, img),
    // The profile's time for an assignment: round boundaries wait briefly for the ones due by then (driver.ts).
    expectedSeconds: (a, resolution) => a.steps * model.stepAtDegree(model.slot(resolution), a.gpus.length),
  });
  // A request that left the server no longer needs its text conditioning and latents where the engines keep them.
  driver.on('finished', (job) => pool.release(job.id));
  const metrics = new ServeMetrics(driver, true);
  core = new ServeCore(cfg, driver, model, metrics, results, baseSlo, (p, latents) => workers[0].preview(p, latents), (p) => workers.find((w) => w.alive)?.checkPrompt(p) ?? Promise.resolve(null));
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
  const pool = await openPool(cfg, opts);
  const { workers } = pool;
  let s: AssembledServer;
  let profile: LatencyProfile;
  try {
    profile = cfg.profilePath ? parseProfile(JSON.parse(await readFile(cfg.profilePath, 'utf8')), cfg.profilePath) : measuredProfile(cfg, pool.measured, workers[0].description);
    s = await assembleServer(cfg, pool, profile, { listen: opts.listen });
  } catch (e) {
    await pool.close();
    throw e;
  }
  let closing: Promise<{ drained: boolean; failed: number }> | null = null;
  const close = (): Promise<{ drained: boolean; failed: number }> => {
    closing ??= (async () => {
      const r = await s.close();
      await pool.close();
      return r;
    })();
    return closing;
  };
  return { app: s.app, core: s.core, workers, pool, profile, url: s.url, close };
}
