// A request's denoising state: everything needed to run its next step on any GPU group, and nothing tied to
// one. The server (src/serve) keeps one RequestState per in-flight image and calls runStep(state, executor)
// with the executor of whichever GPU group the scheduler picked for that step; sequence parallelism provides
// executors that span several GPUs. Latents live on the host between steps ([C, H, W] float32, 1 MiB at
// 1024² FLUX): a request can move between GPU groups at every step without any device-to-device copy, at the
// cost of one upload and one readback per step (< 1 ms at 1024², against a 200-600 ms step).
import { flowMatchSchedule, img2imgStartStep, noiseTo, type FlowMatchConfig, type SigmaSpacing } from './flow-match.js';
import { gaussianNoise } from './noise.js';

export type DitFamilyId = 'flux' | 'sd3';

/** One prompt's text conditioning, as the transformer consumes it (src/pipeline/text-conditioning.ts makes it). */
export interface Conditioning {
  /** Text hidden states [tokens, dim] (FLUX: T5; SD3: CLIP-L/G padded to 4096 and concatenated with T5). */
  context: Float32Array;
  tokens: number;
  /** Pooled text vector [pooledDim] (FLUX: CLIP-L; SD3: CLIP-L ++ CLIP-G). */
  pooled: Float32Array;
}

/** The latent image's shape: channels and the latent grid (pixels / the VAE's downsampling factor). */
export interface LatentShape {
  channels: number;
  height: number;
  width: number;
}

export interface RequestState {
  readonly id: string;
  readonly family: DitFamilyId;
  readonly latentShape: LatentShape;
  /** Current latents x_sigma, [C, H, W] float32 on the host; runStep updates it in place. */
  latents: Float32Array;
  readonly cond: Conditioning;
  /** Classifier-free guidance (SD3): the negative prompt's conditioning and the scale; null when off. */
  readonly cfg: { uncond: Conditioning; scale: number } | null;
  /** FLUX.1-dev's distilled guidance value (fed to the model); null for models without a guidance embedding. */
  readonly distilledGuidance: number | null;
  readonly seed: number;
  /** N + 1 sigmas, the last 0: step k takes the latents from sigmas[k] to sigmas[k + 1]. */
  readonly sigmas: readonly number[];
  /** First step run (0 for text-to-image; later for image-to-image). */
  readonly startStep: number;
  /** The next step to run; the request is done when step === sigmas.length - 1. */
  step: number;
}

export interface NewRequest {
  id: string;
  family: DitFamilyId;
  latentShape: LatentShape;
  cond: Conditioning;
  cfg?: { uncond: Conditioning; scale: number } | null;
  distilledGuidance?: number | null;
  seed: number;
  steps: number;
  scheduler: FlowMatchConfig;
  /** Initial noise [C, H, W]; default: gaussianNoise(seed) in that layout. */
  noise?: Float32Array;
  /** Image-to-image: the encoded (scaled and shifted) latents of the input image and the strength. */
  init?: { latents: Float32Array; strength: number };
}

/** Image tokens the transformer sees (2x2 latent patches for both families): what dynamic shifting scales with. */
export function imageTokens(s: LatentShape): number {
  return Math.floor(s.height / 2) * Math.floor(s.width / 2);
}

export function sigmaSpacing(family: DitFamilyId): SigmaSpacing {
  return family === 'flux' ? 'flux' : 'sd3';
}

/** Builds a request's state at its first step: the schedule, and the starting latents (noise, or a noised image). */
export function createRequestState(r: NewRequest): RequestState {
  const { channels: C, height: H, width: W } = r.latentShape;
  const n = C * H * W;
  const schedule = flowMatchSchedule(r.scheduler, r.steps, imageTokens(r.latentShape), sigmaSpacing(r.family));
  const noise = r.noise ?? gaussianNoise(r.seed, n);
  if (noise.length !== n) throw new Error(`initial noise has ${noise.length} values, the latent ${C}x${H}x${W} needs ${n}`);
  let latents: Float32Array;
  let startStep = 0;
  if (r.init) {
    if (r.init.latents.length !== n) throw new Error(`image latents have ${r.init.latents.length} values, expected ${C}x${H}x${W}`);
    startStep = img2imgStartStep(r.steps, r.init.strength);
    latents = noiseTo(r.init.latents, noise, schedule.sigmas[startStep]);
  } else {
    latents = Float32Array.from(noise);
  }
  return {
    id: r.id, family: r.family, latentShape: { ...r.latentShape }, latents, cond: r.cond, cfg: r.cfg ?? null,
    distilledGuidance: r.distilledGuidance ?? null, seed: r.seed, sigmas: schedule.sigmas, startStep, step: startStep,
  };
}

export function isDone(s: RequestState): boolean {
  return s.step >= s.sigmas.length - 1;
}

export function stepsLeft(s: RequestState): number {
  return Math.max(0, s.sigmas.length - 1 - s.step);
}

/** Transformer forwards per remaining step (2 with CFG): what a step costs relative to a plain one. */
export function forwardsPerStep(s: RequestState): number {
  return s.cfg ? 2 : 1;
}
