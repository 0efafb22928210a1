// The model-family contract. Every model the engine runs (DiTs, text encoders, VAEs) is one family in its own
// folder under src/models/<family>/, exporting one object that implements ModelFamily, listed once in
// registry.ts. Loading code (src/loading) knows file formats,
// never model names: it asks the registry which family a checkpoint's tensor names belong to, and the family
// says which tensors it expects, how its config follows from their shapes, and how checkpoint tensors map onto
// the canonical weight names its graph declares.
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
}
