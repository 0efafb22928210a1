// Format-level facts about a checkpoint that config inference needs, and generic helpers for inferring a
// config from tensor shapes: a missing or mis-shaped tensor, a gap in numbered blocks, or a config.json that
// disagrees with the weights each fail with the file and the tensor named. Model families (src/models/) call
// these; nothing here knows a model.
import { CheckpointError } from './safetensors.js';
import type { ExpectedTensor } from './sources.js';

/** The tensor facts config inference needs; a Checkpoint (checkpoint.ts) provides them (tests may pass a plain object). */
export interface TensorListing {
  listTensors(): string[];
  has(name: string): boolean;
  info(name: string): { shape: number[]; file: string };
  readonly configJson: Record<string, unknown> | null;
  readonly description: string;
  /** safetensors __metadata__ of the (first) file; some exporters record e.g. axes_dim there. */
  readonly metadata?: Record<string, string>;
}

/** Shape-reading helpers for a family's inferConfig; every failure is a CheckpointError naming file and tensor. */
export class Inference {
  constructor(readonly ck: TensorListing) {}

  fail(message: string, tensor?: string): never {
    const file = tensor && this.ck.has(tensor) ? this.ck.info(tensor).file : this.ck.description;
    throw new CheckpointError(`${file}: ${message}`, file, tensor);
  }

  /** The shape of a tensor the family requires, checked to have `rank` dimensions. */
  shape(name: string, rank: number): number[] {
    if (!this.ck.has(name)) this.fail(`missing tensor '${name}', which this model family requires`, name);
    const s = this.ck.info(name).shape;
    if (s.length !== rank) this.fail(`mis-shaped tensor '${name}': shape [${s}] should have ${rank} dimensions`, name);
    return s;
  }

  /** Number of blocks `prefix.N.` present; all of 0..N-1 must be there. */
  count(prefix: string): number {
    const seen = new Set<number>();
    for (const n of this.ck.listTensors()) {
      if (!n.startsWith(prefix)) continue;
      const idx = Number(n.slice(prefix.length).split('.')[0]);
      if (Number.isInteger(idx) && idx >= 0) seen.add(idx);
    }
    const n = seen.size ? Math.max(...seen) + 1 : 0;
    for (let i = 0; i < n; i++) if (!seen.has(i)) this.fail(`block ${prefix}${i} is missing (blocks up to ${n - 1} are present)`, `${prefix}${i}`);
    return n;
  }

  headsFrom(hidden: number, headDim: number, from: string): number {
    if (headDim <= 0 || hidden % headDim !== 0) this.fail(`hidden size ${hidden} is not a multiple of the head dim ${headDim} given by '${from}'`, from);
    return hidden / headDim;
  }

  /** A config.json field, or undefined when absent/null. */
  json(key: string): unknown {
    const cj = this.ck.configJson;
    return cj && key in cj && cj[key] !== null ? cj[key] : undefined;
  }

  /** A numeric config.json field, or the fallback. */
  jsonNumber(key: string, fallback: number): number {
    const v = this.json(key);
    return typeof v === 'number' ? v : fallback;
  }

  /** Cross-check one config.json field (when present) against what the tensors say. */
  agree(key: string, fromTensors: unknown, normalise: (v: unknown) => unknown = (v) => v): void {
    const cj = this.ck.configJson;
    if (!cj || !(key in cj) || cj[key] === null) return;
    const v = normalise(cj[key]);
    if (JSON.stringify(v) !== JSON.stringify(fromTensors)) {
      this.fail(`config.json says ${key}=${JSON.stringify(cj[key])} but the tensors say ${JSON.stringify(fromTensors)}; the config and the weights do not belong together`);
    }
  }
}

export interface ValidationReport {
  /** Tensors in the checkpoint that the layout does not use (ignored by the loader). */
  unexpected: string[];
}

/**
 * Checks every expected tensor exists with the right shape; the error names file and tensor. `what` says whose
 * expectation it is ('the inferred flux bfl configuration').
 */
export function validateListing(ck: TensorListing, want: readonly ExpectedTensor[], what: string): ValidationReport {
  const wanted = new Set(want.map((t) => t.name));
  for (const t of want) {
    if (!ck.has(t.name)) {
      if (t.optional) continue;
      throw new CheckpointError(`${ck.description}: missing tensor '${t.name}' (required by ${what})`, ck.description, t.name);
    }
    const { shape, file } = ck.info(t.name);
    if (shape.length !== t.shape.length || shape.some((d, i) => d !== t.shape[i])) {
      throw new CheckpointError(`${file}: mis-shaped tensor '${t.name}': shape [${shape}] but ${what} requires [${t.shape}]`, file, t.name);
    }
  }
  return { unexpected: ck.listTensors().filter((n) => !wanted.has(n)) };
}
