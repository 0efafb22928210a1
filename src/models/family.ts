// The model-family contract. Every model the engine runs (DiTs, text encoders, VAEs) is one family in its own
// folder under src/models/<family>/, exporting one object that implements ModelFamily, listed once in
// registry.ts. Loading code (src/loading) knows file formats, never model names: the registry asks each family
// whether a checkpoint's tensor names are its own, and the family says which tensors it expects, how its config
// follows from their shapes, and how checkpoint tensors map onto the canonical weight names its graph declares.
// Optional members let the generic commands (parity, the model benchmark) drive a family without naming it.
import type { GpuContext } from '../gpu/context.js';
import type { Plan } from '../graph/executor.js';
import type { Graph } from '../graph/graph.js';
import type { WeightStore } from '../graph/weights.js';
import type { TensorListing } from '../loading/listing.js';
import type { ExpectedTensor, WeightSource } from '../loading/sources.js';

export type FamilyKind = 'dit' | 'text-encoder' | 'vae';

export type { ExpectedTensor, WeightPart, WeightSource } from '../loading/sources.js';
export type { TensorListing } from '../loading/listing.js';

/** What every family's config carries: which family and which checkpoint layout it was read from. */
export interface FamilyConfig {
  family: string;
  layout: string;
}

export interface ModelFamily<C extends FamilyConfig = FamilyConfig> {
  /** Stable id ('flux', 'sd3', 't5', 'clip', 'autoencoder-kl', ...): config.family of its configs. */
  readonly id: string;
  readonly kind: FamilyKind;
  /** One line for `dit inspect` and error messages. */
  readonly title: string;
  /**
   * Name-only test: the layout a listing is stored in, or null when it is not this family. Throw a
   * CheckpointError for a recognised layout the engine does not read (and say which release to use instead).
   */
  detect(ck: TensorListing): string | null;
  /** The config implied by the tensors' shapes, cross-checked against config.json; errors name file and tensor. */
  inferConfig(ck: TensorListing, layout: string): C;
  /** Every tensor the config implies, under the checkpoint layout's own names (validation, synthetic writers). */
  expectedTensors(cfg: C): ExpectedTensor[];
  /** Canonical weights (the names the family's graph declares) and where each comes from in the checkpoint. */
  weightSources(cfg: C): WeightSource[];
  /** A short human description of a config ('FLUX.1 dev: 19 double + 38 single blocks, D=3072, ...'). */
  describe(cfg: C): string;
  /** The diffusers/transformers config.json a synthetic checkpoint of this config is saved with (tests, benches). */
  configJson?(cfg: C): Record<string, unknown>;
  /**
   * Golden parity: runs the model on a golden file's inputs (bench/reference/make_goldens.py) and returns our
   * output beside the reference's. Errors name the golden tensor that is missing or does not fit the config.
   */
  runGolden?(ctx: GpuContext, weights: WeightStore, cfg: C, golden: Golden): Promise<{ got: Float32Array; want: Float32Array }>;
  /** Full-size benchmark presets and one compiled step with random inputs (`dit bench model`). */
  readonly bench?: FamilyBench<C>;
}

/** A golden file's tensors (float32), with the path for messages. */
export interface Golden {
  path: string;
  tensors: Map<string, { shape: number[]; data: Float32Array }>;
}

/** A compiled step the model benchmark drives: its plan (inputs already set) and its size. */
export interface BenchStep {
  plan: Plan;
  imageTokens: number;
  destroy(): void;
}

/** A compiled first-block-cached step the model benchmark drives down one path at a time. */
export interface BenchCachedStep {
  /** One step forced down a path ('compute': every block; 'reuse': head + tail); resolves to its GPU time, ms (null without timestamps). */
  run(path: 'compute' | 'reuse'): Promise<number | null>;
  velocity(): Promise<Float32Array>;
  /** The work of one step down a path (the parts' plans summed). */
  stats(path: 'compute' | 'reuse'): { flops: number; activationBytes: number; dispatches: number };
  destroy(): void;
}

export interface FamilyBench<C extends FamilyConfig> {
  /** The released model the benchmark measures by default ('FLUX.1-dev'), its config and text length. */
  name: string;
  config: C;
  textTokens: number;
  /** Seed of the random weights (each family its own, so two families never share values). */
  seed: number;
  /** Largest batch the family's graph supports (default 1): `dit bench model --batch` refuses more. */
  maxBatch?: number;
  /** The step's graph alone (no GPU): lets the benchmark check a resolution fits before allocating anything. */
  graph?(cfg: C, resolution: number, textTokens: number, batch?: number): Graph;
  /** Whether `step` takes `int8` (W8A8 linears, `dit bench model --int8`). */
  int8?: boolean;
  /** A step at `resolution` (pixels per side) of `batch` images (default 1) with seeded random inputs. */
  step(ctx: GpuContext, weights: WeightStore, cfg: C, resolution: number, textTokens: number, batch?: number, opts?: { int8?: boolean }): Promise<BenchStep>;
  /** The same step (batch 1, same inputs) through the first-block cache (`dit bench model --first-block-cache`). */
  firstBlockCache?(ctx: GpuContext, weights: WeightStore, cfg: C, resolution: number, textTokens: number, opts?: { int8?: boolean }): Promise<BenchCachedStep>;
}
