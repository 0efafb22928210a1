// Server configuration: every limit and policy knob in one place, with defaults that suit the small model on a
// CPU Vulkan device. `dit serve` fills it from flags; tests build it directly.
import type { RetentionOptions } from './results.js';

export type AdmissionMode = 'reject' | 'best-effort';
export type ShutdownMode = 'drain';

export interface ServeConfig {
  /** Checkpoint path, or random:flux1-dev. */
  model: string;
  /** Square sides served; each gets a compiled plan per GPU at start. */
  resolutions: number[];
  /** GPUs (workers) to open. */
  gpus: number;
  /**
   * Open every worker on the first adapter instead of one GPU each (CPU Vulkan in CI has one adapter; several
   * workers on it still exercise the multi-worker paths).
   */
  sharedAdapter: boolean;
  /**
   * Largest sequence-parallel degree the scheduler may use (powers of two up to the GPU count; groups measured at
   * start). 1 = one GPU per request.
   */
  maxDegree: number;
  /**
   * Text tokens per request (T5 length). null: the model's own (a pipeline folder's max_sequence_length, 512 for
   * transformer-only FLUX.1-dev). Fewer makes small models faster; longer prompts are refused.
   */
  txtTokens: number | null;
  /** Scheduling policy (createScheduler name): tetriserve, xdit:1, rssp, edf:1 ... */
  policy: string;
  /** A latency profile file; null: measure each resolution on the workers at start. */
  profilePath: string | null;
  defaultSteps: number;
  maxSteps: number;
  defaultGuidance: number;
  /** Base SLO per resolution in seconds; missing ones are sloFactor x defaultSteps x measured step time. */
  baseSlo: Record<number, number>;
  sloFactor: number;
  /** Admitted-but-unfinished requests allowed before 429. */
  maxQueue: number;
  /** What to do with a request whose deadline the feasibility test says cannot be met. */
  admission: AdmissionMode;
  /** Bearer keys; empty: no authentication. */
  apiKeys: string[];
  /** Generation requests per key (or client address without keys) per minute. */
  rateLimitPerMinute: number;
  /** Largest request body (base64 input images count). */
  bodyLimitBytes: number;
  maxPromptChars: number;
  resultDir: string;
  retention: RetentionOptions;
  /** Seconds to let admitted work finish on shutdown before it is failed. */
  drainSeconds: number;
  /** Dawn robustness (on in tests; off for speed on a real GPU). */
  robustness: boolean;
  /** W8A8 int8 linears in FLUX transformers (docs/int8.md); off by default. */
  int8: boolean;
  /**
   * Run the engines (Dawn devices, models, text encoders, VAE) on one engine thread, off the HTTP thread (default).
   * false: on the HTTP thread, as before the engine thread existed (status reads then wait behind command encoding,
   * Dawn's event processing and the engines' garbage collection).
   */
  engineThread: boolean;
  host: string;
  port: number;
  /** Base URL for "url" responses (default http://host:port). */
  publicUrl: string | null;
  /** pino level: silent in tests, info for `dit serve`, debug with --debug. */
  logLevel: string;
}

export function defaultConfig(over: Partial<ServeConfig> = {}): ServeConfig {
  return {
    model: 'test/fixtures/tiny-pipelines/flux',
    resolutions: [64, 128],
    gpus: 1,
    sharedAdapter: false,
    maxDegree: 1,
    txtTokens: null,
    policy: 'tetriserve',
    profilePath: null,
    defaultSteps: 8,
    maxSteps: 100,
    defaultGuidance: 3.5,
    baseSlo: {},
    sloFactor: 3,
    maxQueue: 64,
    admission: 'best-effort',
    apiKeys: [],
    rateLimitPerMinute: 6000,
    bodyLimitBytes: 8 * 1024 * 1024,
    maxPromptChars: 2000,
    resultDir: 'results/serve',
    retention: { maxFiles: 1000, maxAgeSeconds: 24 * 3600 },
    drainSeconds: 30,
    robustness: true,
    int8: false,
    engineThread: true,
    host: '127.0.0.1',
    port: 8080,
    publicUrl: null,
    logLevel: 'info',
    ...over,
  };
}
