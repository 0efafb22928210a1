// What a worker needs from the model to serve one request, stage by stage: text encoding, the first latents,
// one denoising step, VAE decoding. Request state lives on the host between work items, so a request can
// continue on any worker (placement changes, GPU failures) from the last step that completed.
//
// Denoising steps are the pipeline's (src/pipeline: RequestState, runStep, TransformerExecutor). Until the
// pipeline's text encoders and VAE land, the engine stands in for them with small deterministic host functions
// (docs/serving.md, "Interim engine").
import type { GpuContext } from '../gpu/context.js';
import type { WeightStore } from '../graph/weights.js';
import type { FluxConfig } from '../models/flux/index.js';
import type { Sd3Config } from '../models/sd3/index.js';
import type { DenoiseExecutor } from '../pipeline/denoise-step.js';
import type { Conditioning, RequestState } from '../pipeline/request-state.js';

export interface SpMemberSource {
  ctx: GpuContext;
  weights: WeightStore;
  config: FluxConfig | Sd3Config;
}

/** One image request as the engine sees it (validated by the HTTP layer). */
export interface GenerationParams {
  prompt: string;
  negativePrompt: string;
  /** Square side in pixels (multiple of 16). */
  resolution: number;
  steps: number;
  guidance: number;
  seed: number;
  /** Optional input image, RGB in [0, 1], [3, resolution, resolution] planar. */
  initImage?: Float32Array;
  /** Image-to-image strength in (0, 1]: the fraction of the schedule that is re-noised and denoised. */
  strength: number;
}

/** Why a request's prompt cannot be served, naming the request field (`prompt` or `negative_prompt`). */
export interface PromptProblem {
  param: 'prompt' | 'negative_prompt';
  message: string;
}

/** A request's progress between work items; owned by the driver, updated by workers. */
/** A prompt's conditioning, and the negative prompt's for classifier-free guidance (SD3; null otherwise). */
export interface TextConds {
  cond: Conditioning;
  uncond: Conditioning | null;
}

export interface RequestProgress {
  text: TextConds | null;
  /** The pipeline's denoising state (latents on the host); null until the first step is prepared. */
  state: RequestState | null;
  /** Denoising steps completed (0..steps - firstStep). */
  stepsDone: number;
}

/** An 8-bit RGB image, row-major, 3 bytes per pixel. */
export interface RgbImage {
  width: number;
  height: number;
  data: Uint8Array;
}

/** The stages a worker runs on its own device. Every method may reject when the device is lost. */
export interface Engine {
  readonly description: string;
  /** Compiles everything one resolution needs; returns the seconds one warm denoising step took. */
  prepare(resolution: number): Promise<number>;
  encodeText(p: GenerationParams): Promise<TextConds>;
  /** The pipeline state at the request's first step (noise, or the VAE-encoded input image noised, for image-to-image). */
  newState(id: string, p: GenerationParams, text: TextConds): Promise<RequestState>;
  /** Runs the state's next denoising step (pipeline runStep) on this worker's GPU, or on a group's executor. */
  step(state: RequestState, group?: DenoiseExecutor): Promise<void>;
  /** What a sequence-parallel group needs from this worker: its device and resident transformer weights. */
  spMember(): SpMemberSource | null;
  decode(p: GenerationParams, latents: Float32Array): Promise<RgbImage>;
  /** A cheap low-resolution look at intermediate latents (progress previews). */
  preview(p: GenerationParams, latents: Float32Array): RgbImage;
  /**
   * Host-only admission check: a prompt the text encoders would refuse (over the token budget), found with the
   * tokenizers before the request is queued. Absent or null: nothing to refuse.
   */
  checkPrompt?(p: Pick<GenerationParams, 'prompt' | 'negativePrompt' | 'guidance'>): PromptProblem | null;
  destroy(): void;
}

/**
 * Fraction of a denoising step's expected GPU time a serving worker sleeps before asking Dawn for the result
 * (TransformerExecutorOptions.idleWaitFraction: no pending Dawn promise, so no ProcessEvents spin and its garbage,
 * while the GPU is known to be busy; docs/serving.md, "Event-loop blocks"). DIT_SERVE_IDLE_WAIT overrides it
 * (0 = read back at once, the old behaviour).
 */
export function serveIdleWaitFraction(env: Record<string, string | undefined> = process.env): number {
  const v = env.DIT_SERVE_IDLE_WAIT;
  if (v === undefined || v === '') return 0.85;
  const f = Number(v);
  if (!(f >= 0 && f < 1)) throw new Error(`DIT_SERVE_IDLE_WAIT=${v}: give a fraction in [0, 1) (0 = read back at once; default 0.85)`);
  return f;
}
