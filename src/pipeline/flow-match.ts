// Flow-matching Euler sampling, with the same numbers as diffusers' FlowMatchEulerDiscreteScheduler
// (scheduling_flow_match_euler_discrete.py) driven the way FluxPipeline and StableDiffusion3Pipeline drive it:
//
//   x_sigma = (1 - sigma) * x_0 + sigma * noise; the transformer predicts v = noise - x_0;
//   Euler: x_{k+1} = x_k + (sigma_{k+1} - sigma_k) * v_k, with a final sigma of 0.
//
// Sigma schedules:
//   FLUX pipelines pass sigmas = linspace(1, 1/N, N) and, when the scheduler config asks for dynamic shifting
//   (FLUX.1-dev), shift them with mu linear in the image token count (0.5 at 256 tokens, 1.15 at 4096) through
//   the exponential time shift e^mu / (e^mu + (1/sigma - 1)). schnell's config has no shift at all.
//   SD3 pipelines pass no sigmas: the scheduler spaces N timesteps from sigma_max to sigma_min of its 1000
//   training sigmas (already shifted once at construction) and applies the static shift (3.0) to them.
// Values are computed in float64; diffusers computes them in float32, so they agree to ~1e-7 relative.

/** The subset of scheduler/scheduler_config.json this sampler reads (diffusers' names). */
export interface FlowMatchConfig {
  num_train_timesteps: number;
  shift: number;
  use_dynamic_shifting: boolean;
  base_shift: number;
  max_shift: number;
  base_image_seq_len: number;
  max_image_seq_len: number;
  time_shift_type: 'exponential' | 'linear';
  /** Stretch the shifted schedule so it ends at this sigma (null: off). */
  shift_terminal: number | null;
}

/** Which pipeline's way of choosing the initial sigmas to follow. */
export type SigmaSpacing = 'flux' | 'sd3';

export interface FlowMatchSchedule {
  /** N + 1 sigmas, decreasing, the last one 0. Step k moves from sigmas[k] to sigmas[k + 1]. */
  sigmas: number[];
  /** The N timesteps diffusers reports (sigma * num_train_timesteps). */
  timesteps: number[];
  /** The resolution shift used (null when the config has no dynamic shifting). */
  mu: number | null;
}

export const FLUX_DEV_SCHEDULER: FlowMatchConfig = {
  num_train_timesteps: 1000, shift: 3.0, use_dynamic_shifting: true, base_shift: 0.5, max_shift: 1.15,
  base_image_seq_len: 256, max_image_seq_len: 4096, time_shift_type: 'exponential', shift_terminal: null,
};
export const FLUX_SCHNELL_SCHEDULER: FlowMatchConfig = { ...FLUX_DEV_SCHEDULER, shift: 1.0, use_dynamic_shifting: false };
export const SD3_SCHEDULER: FlowMatchConfig = { ...FLUX_DEV_SCHEDULER, shift: 3.0, use_dynamic_shifting: false };

/** Options of the config that change the schedule in ways this sampler does not implement. */
const UNSUPPORTED_FLAGS = ['use_karras_sigmas', 'use_exponential_sigmas', 'use_beta_sigmas', 'invert_sigmas', 'stochastic_sampling'] as const;

/**
 * Reads a scheduler_config.json object over `defaults` (the family's default when the folder has none).
 * Throws for other scheduler classes and for options that would silently give a different schedule.
 */
export function parseSchedulerConfig(json: Record<string, unknown>, defaults: FlowMatchConfig, source = 'scheduler_config.json'): FlowMatchConfig {
  const cls = json._class_name;
  if (cls !== undefined && cls !== 'FlowMatchEulerDiscreteScheduler') {
    throw new Error(`${source}: scheduler ${String(cls)} is not supported (this sampler implements FlowMatchEulerDiscreteScheduler); ` +
      'set "_class_name": "FlowMatchEulerDiscreteScheduler" or remove the file to use the model family default');
  }
  for (const flag of UNSUPPORTED_FLAGS) {
    if (json[flag] === true) throw new Error(`${source}: ${flag}=true is not supported by this sampler; set it to false`);
  }
  const num = (k: keyof FlowMatchConfig, def: number): number => {
    const v = json[k];
    if (v === undefined || v === null) return def;
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new Error(`${source}: ${k} must be a number, got ${JSON.stringify(v)}`);
    return v;
  };
  const tst = json.time_shift_type ?? defaults.time_shift_type;
  if (tst !== 'exponential' && tst !== 'linear') throw new Error(`${source}: time_shift_type must be "exponential" or "linear", got ${JSON.stringify(tst)}`);
  const cfg: FlowMatchConfig = {
    num_train_timesteps: num('num_train_timesteps', defaults.num_train_timesteps),
    shift: num('shift', defaults.shift),
    use_dynamic_shifting: typeof json.use_dynamic_shifting === 'boolean' ? json.use_dynamic_shifting : defaults.use_dynamic_shifting,
    base_shift: num('base_shift', defaults.base_shift),
    max_shift: num('max_shift', defaults.max_shift),
    base_image_seq_len: num('base_image_seq_len', defaults.base_image_seq_len),
    max_image_seq_len: num('max_image_seq_len', defaults.max_image_seq_len),
    time_shift_type: tst,
    shift_terminal: json.shift_terminal == null ? defaults.shift_terminal : num('shift_terminal', 0),
  };
  if (!(cfg.num_train_timesteps >= 1 && Number.isInteger(cfg.num_train_timesteps))) throw new Error(`${source}: num_train_timesteps must be a positive integer`);
  if (!(cfg.shift > 0)) throw new Error(`${source}: shift must be > 0, got ${cfg.shift}`);
  return cfg;
}

/** mu for dynamic shifting: linear in the image token count (FluxPipeline calculate_shift). */
export function resolutionShift(imageSeqLen: number, cfg: FlowMatchConfig): number {
  const m = (cfg.max_shift - cfg.base_shift) / (cfg.max_image_seq_len - cfg.base_image_seq_len);
  const b = cfg.base_shift - m * cfg.base_image_seq_len;
  return imageSeqLen * m + b;
}

function timeShift(cfg: FlowMatchConfig, mu: number, s: number): number {
  return cfg.time_shift_type === 'exponential' ? Math.exp(mu) / (Math.exp(mu) + (1 / s - 1)) : mu / (mu + (1 / s - 1));
}

const staticShift = (shift: number, s: number) => (shift * s) / (1 + (shift - 1) * s);

function linspace(a: number, b: number, n: number): number[] {
  if (n === 1) return [a];
  return Array.from({ length: n }, (_, i) => a + ((b - a) * i) / (n - 1));
}

/**
 * The sigma schedule of an N-step generation. `imageSeqLen` (image tokens = latent H/2 * W/2) is used only when
 * the config has dynamic shifting.
 */
export function flowMatchSchedule(cfg: FlowMatchConfig, steps: number, imageSeqLen: number, spacing: SigmaSpacing): FlowMatchSchedule {
  if (!(Number.isInteger(steps) && steps >= 1 && steps <= 10000)) throw new Error(`steps must be an integer from 1 to 10000, got ${steps}`);
  const T = cfg.num_train_timesteps;
  let base: number[];
  if (spacing === 'flux') {
    base = linspace(1, 1 / steps, steps);
  } else {
    // The scheduler's own spacing: from its largest to its smallest training sigma (shifted at construction
    // when the shift is static), then shifted again below, as set_timesteps does.
    const s0 = 1, sMin = 1 / T;
    const sigmaMax = cfg.use_dynamic_shifting ? s0 : staticShift(cfg.shift, s0);
    const sigmaMin = cfg.use_dynamic_shifting ? sMin : staticShift(cfg.shift, sMin);
    base = linspace(sigmaMax * T, sigmaMin * T, steps).map((t) => t / T);
  }
  let mu: number | null = null;
  let sigmas: number[];
  if (cfg.use_dynamic_shifting) {
    mu = resolutionShift(imageSeqLen, cfg);
    sigmas = base.map((s) => timeShift(cfg, mu!, s));
  } else {
    sigmas = base.map((s) => staticShift(cfg.shift, s));
  }
  if (cfg.shift_terminal !== null && cfg.shift_terminal !== 0) {
    if (steps < 2) throw new Error('shift_terminal needs at least 2 steps (a 1-step schedule has no end to stretch)');
    const scale = (1 - sigmas[sigmas.length - 1]) / (1 - cfg.shift_terminal);
    sigmas = sigmas.map((s) => 1 - (1 - s) / scale);
  }
  return { sigmas: [...sigmas, 0], timesteps: sigmas.map((s) => s * T), mu };
}

/**
 * Image-to-image: the first step to run for a strength in (0, 1] (FluxImg2ImgPipeline / SD3 img2img get_timesteps):
 * the last round(N * strength) steps run, starting from the input image noised to sigmas[start].
 */
export function img2imgStartStep(steps: number, strength: number): number {
  if (!(strength > 0 && strength <= 1)) throw new Error(`--strength must be in (0, 1], got ${strength}`);
  const init = Math.min(steps * strength, steps);
  const start = Math.trunc(Math.max(steps - init, 0));
  if (start >= steps) throw new Error(`--strength ${strength} with ${steps} steps leaves no step to run; raise --strength or --steps`);
  return start;
}

/** One Euler step in place: x += (sigmaNext - sigma) * v. */
export function eulerStep(x: Float32Array, v: ArrayLike<number>, sigma: number, sigmaNext: number): void {
  if (v.length !== x.length) throw new Error(`Euler step: velocity has ${v.length} values, latents ${x.length}`);
  const dt = sigmaNext - sigma;
  for (let i = 0; i < x.length; i++) x[i] += dt * v[i];
}

/** The forward process at one sigma: (1 - sigma) * x0 + sigma * noise (scheduler.scale_noise). */
export function noiseTo(x0: ArrayLike<number>, noise: ArrayLike<number>, sigma: number): Float32Array {
  if (x0.length !== noise.length) throw new Error(`noise has ${noise.length} values, latents ${x0.length}`);
  const out = new Float32Array(x0.length);
  for (let i = 0; i < out.length; i++) out[i] = (1 - sigma) * x0[i] + sigma * noise[i];
  return out;
}

/** Classifier-free guidance in place on `cond`: uncond + scale * (cond - uncond). */
export function applyCfg(cond: Float32Array, uncond: ArrayLike<number>, scale: number): Float32Array {
  if (cond.length !== uncond.length) throw new Error(`CFG: conditional ${cond.length} vs unconditional ${uncond.length} values`);
  for (let i = 0; i < cond.length; i++) cond[i] = uncond[i] + scale * (cond[i] - uncond[i]);
  return cond;
}
