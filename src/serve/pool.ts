// The GPU workers of a server: one per GPU, each with the model resident and every served resolution compiled,
// plus the sequence-parallel groups and the start-up step timings the latency profile is made from.
//
// Two homes for the engines, one interface (WorkerPool): in this process (openInProcessPool; the HTTP event loop
// then shares its thread with Dawn's event processing, command encoding and the engines' garbage), or on one
// engine thread (openEngineThread, src/serve/engine-thread.ts; the default for `dit serve`), which keeps the HTTP
// loop free for status reads while GPUs are busy (docs/serving.md, "Engine thread").
import { stat } from 'node:fs/promises';
import { GpuContext } from '../gpu/context.js';
import { openGpu } from '../parallel/devices.js';
import { makeProfile, type LatencyProfile } from '../scheduler/profile.js';
import { UserInputError } from '../util/errors.js';
import type { ServeConfig } from './config.js';
import type { Engine } from './engine.js';
import { FluxEngine } from './flux-engine.js';
import { GroupExecutors } from './groups.js';
import { PipelineEngine } from './pipeline-engine.js';
import { DeviceWorker, type Worker } from './worker.js';

/** Start-up measurements: seconds per step by degree, then resolution (one value per worker or group). */
export type Measured = Map<number, Map<number, number[]>>;

export interface WorkerPool {
  readonly workers: Worker[];
  readonly measured: Measured;
  /** True when groups of degree > 1 exist (measured at start; --max-degree > 1). */
  readonly sequenceParallel: boolean;
  /** Where the engines run: 'thread' (the engine thread) or 'in-process' (the HTTP thread). */
  readonly home: 'thread' | 'in-process';
  /** A job left its server (done, failed, cancelled): its text conditioning and latents can go. */
  release(jobId: string): void;
  close(): Promise<void>;
}

export interface OpenOptions {
  /** Progress lines during start-up (model load, compilation). */
  log?: (msg: string) => void;
}

/**
 * A model folder (diffusers pipeline or BFL file set) runs the whole pipeline; a single transformer file or
 * random:flux1-dev runs the transformer with the interim text/VAE stand-ins (docs/serving.md).
 */
export async function openEngine(ctx: GpuContext, cfg: ServeConfig): Promise<Engine> {
  const random = cfg.model.startsWith('random:');
  const info = random ? null : await stat(cfg.model).catch(() => null);
  if (!random && !info) {
    throw new UserInputError(`--model ${cfg.model}: no such file or folder; give a model folder (diffusers pipeline or BFL file set), a FLUX transformer file, or random:flux1-dev`, 'BAD_FILE');
  }
  const single = random || info!.isFile();
  if (single) return FluxEngine.open(ctx, { model: cfg.model, txtTokens: cfg.txtTokens ?? 512, resolutions: cfg.resolutions, int8: cfg.int8 });
  return PipelineEngine.open(ctx, cfg.model, cfg.resolutions, cfg.txtTokens, cfg.int8);
}

/** Opens the devices and engines in this thread, compiles and times every resolution and degree. */
export async function openDeviceWorkers(cfg: ServeConfig, opts: OpenOptions = {}): Promise<{ workers: DeviceWorker[]; measured: Measured; groups: GroupExecutors | null }> {
  // One Dawn device per GPU through the device-select layer (src/parallel/devices.ts) when there are several.
  const open = (g: number): Promise<GpuContext> => (cfg.gpus > 1 && !cfg.sharedAdapter ? openGpu(g, { robustness: cfg.robustness }) : GpuContext.open({ robustness: cfg.robustness }));
  const workers: DeviceWorker[] = [];
  const measured: Measured = new Map([[1, new Map()]]);
  const add = (degree: number, r: number, s: number): void => {
    if (!measured.has(degree)) measured.set(degree, new Map());
    const m = measured.get(degree)!;
    m.set(r, [...(m.get(r) ?? []), s]);
  };
  try {
    for (let g = 0; g < cfg.gpus; g++) {
      const ctx = await open(g);
      let engine: Engine;
      try {
        engine = await openEngine(ctx, cfg);
      } catch (e) {
        ctx.destroy();
        throw e;
      }
      const w = new DeviceWorker(g, ctx, engine);
      workers.push(w);
      const line: string[] = [];
      for (const r of cfg.resolutions) {
        const s = await w.prepare(r);
        add(1, r, s);
        line.push(`${r}² ${(s * 1000).toFixed(1)} ms`);
      }
      opts.log?.(`${w.description}; one step: ${line.join(', ')}`);
    }
    // Sequence-parallel degrees: the first k GPUs as the measured group of each degree.
    let groups: GroupExecutors | null = null;
    const degrees = [2, 4, 8].filter((k) => k <= Math.min(cfg.maxDegree, cfg.gpus));
    if (degrees.length) {
      groups = new GroupExecutors(workers, cfg.sharedAdapter, cfg.resolutions.length, cfg.int8);
      for (const w of workers) w.joinGroups(groups, workers);
      for (const k of degrees) {
        const ids = workers.slice(0, k).map((w) => w.gpu);
        const line: string[] = [];
        for (const r of cfg.resolutions) {
          const s = await workers[0].prepareGroup(r, ids);
          add(k, r, s);
          line.push(`${r}² ${(s * 1000).toFixed(1)} ms`);
        }
        opts.log?.(`degree ${k} (${groups.transport}, GPUs ${ids.join(',')}); one step: ${line.join(', ')}`);
      }
    }
    return { workers, measured, groups };
  } catch (e) {
    // Nothing half-open is left behind: a failed start frees the devices already opened.
    await Promise.all(workers.map((w) => w.close()));
    throw e;
  }
}

/** The engines on this thread (the HTTP thread): what tests of the engines themselves and `--no-engine-thread` use. */
export async function openInProcessPool(cfg: ServeConfig, opts: OpenOptions = {}): Promise<WorkerPool> {
  const { workers, measured, groups } = await openDeviceWorkers(cfg, opts);
  let closing: Promise<void> | null = null;
  return {
    workers, measured, sequenceParallel: groups !== null, home: 'in-process',
    // Request state lives on the driver's jobs (RequestProgress): nothing is kept here.
    release: () => undefined,
    close: () => (closing ??= (async () => {
      groups?.destroy();
      await Promise.all(workers.map((w) => w.close()));
    })()),
  };
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
