// The unit of work of the whole engine: "run step k of request r on GPU group g" is
//   await runStep(state, executor)
// where `executor` is the DenoiseExecutor of GPU group g. runStep asks the executor for the velocity (one
// transformer forward, two with classifier-free guidance), combines them, takes the Euler step on the host and
// advances state.step. Executors hold the GPU side (weights, compiled plans); states hold nothing GPU-side.
import type { FluxConfig } from '../models/flux/config.js';
import { applyCfg, eulerStep } from './flow-match.js';
import { isDone, type Conditioning, type DitFamilyId, type LatentShape, type RequestState } from './request-state.js';

/** One velocity evaluation: the same latents and sigma under one or more conditionings. */
export interface VelocityQuery {
  family: DitFamilyId;
  latentShape: LatentShape;
  /** [C, H, W] float32 (host). Executors must not modify it. */
  latents: Float32Array;
  /** The noise level in [0, 1]; the models embed sigma * 1000. */
  sigma: number;
  distilledGuidance: number | null;
  /** One forward per entry, in order (SD3 CFG: [cond, uncond]). */
  conds: readonly Conditioning[];
}

/**
 * A FLUX step's distilled-guidance input ([guidance], what FluxTransformer.setTimestep takes): undefined for
 * checkpoints without a guidance embedding (schnell); guidance-distilled ones refuse a query without a value.
 */
export function fluxGuidanceInput(cfg: FluxConfig, q: VelocityQuery): number[] | undefined {
  if (!cfg.guidanceEmbed) return undefined;
  if (q.distilledGuidance === null) throw new Error('this FLUX checkpoint is guidance-distilled (FLUX.1-dev style): give a guidance value (--guidance, e.g. 3.5)');
  return [q.distilledGuidance];
}

/**
 * What a GPU group provides: the transformer's predicted velocity v = noise - x0 for a query, one [C, H, W]
 * array per conditioning. A single-GPU implementation is TransformerExecutor (transformer-executor.ts);
 * sequence-parallel ones split the image tokens across the group's GPUs behind the same interface.
 */
export interface DenoiseExecutor {
  velocity(q: VelocityQuery): Promise<Float32Array[]>;
}

export interface StepResult {
  /** The step that ran. */
  step: number;
  sigma: number;
  sigmaNext: number;
  /** Wall time of the step (forwards + host update), ms. */
  ms: number;
  done: boolean;
}

/** Runs the request's next step and advances it. Throws when the request is already done. */
export async function runStep(state: RequestState, executor: DenoiseExecutor): Promise<StepResult> {
  if (isDone(state)) throw new Error(`request ${state.id}: all ${state.sigmas.length - 1} steps have run`);
  const t0 = performance.now();
  const k = state.step;
  const sigma = state.sigmas[k];
  const sigmaNext = state.sigmas[k + 1];
  const conds = state.cfg ? [state.cond, state.cfg.uncond] : [state.cond];
  const v = await executor.velocity({
    family: state.family, latentShape: state.latentShape, latents: state.latents, sigma,
    distilledGuidance: state.distilledGuidance, conds,
  });
  if (v.length !== conds.length) throw new Error(`executor returned ${v.length} velocities for ${conds.length} conditionings`);
  const velocity = state.cfg ? applyCfg(v[0], v[1], state.cfg.scale) : v[0];
  eulerStep(state.latents, velocity, sigma, sigmaNext);
  state.step = k + 1;
  return { step: k, sigma, sigmaNext, ms: performance.now() - t0, done: isDone(state) };
}

/** Runs every remaining step on one executor, calling onStep after each (progress bars). */
export async function denoise(state: RequestState, executor: DenoiseExecutor, onStep?: (r: StepResult) => void): Promise<void> {
  while (!isDone(state)) {
    const r = await runStep(state, executor);
    onStep?.(r);
  }
}
