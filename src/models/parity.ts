// Runs a checkpoint on a golden file's inputs and measures how far our graph's output is from the reference's.
// One implementation for the CI parity tests (tiny checkpoints) and `dit parity` on the GPU machine (full-size
// random-weight FLUX.1-dev at 1024²); the family (found from the checkpoint) knows how to feed its golden.
import type { GpuContext } from '../gpu/context.js';
import { WeightStore } from '../graph/weights.js';
import { peakRssBytes } from '../util/memory.js';
import { readGolden } from './golden.js';
import { loadModel, type LoadedModel } from './registry.js';

export interface ParityResult {
  family: string;
  relL2: number;
  maxAbs: number;
  nonFinite: number;
  loadSeconds: number;
  forwardMs: number;
  /** Peak resident set size of this process so far (bytes). */
  peakRssBytes: number;
}

export function relativeError(got: ArrayLike<number>, want: ArrayLike<number>): { relL2: number; maxAbs: number; nonFinite: number } {
  if (got.length !== want.length) throw new Error(`parity: output has ${got.length} values, golden ${want.length}`);
  let num = 0, den = 0, maxAbs = 0, nonFinite = 0;
  for (let i = 0; i < got.length; i++) {
    if (!Number.isFinite(got[i])) { nonFinite++; continue; }
    const d = got[i] - want[i];
    num += d * d;
    den += want[i] * want[i];
    maxAbs = Math.max(maxAbs, Math.abs(d));
  }
  return { relL2: Math.sqrt(num / Math.max(den, 1e-30)), maxAbs, nonFinite };
}

/** `log` hears about each phase (a full-size load and first run take minutes: the CLI shows them). */
export async function goldenParity(ctx: GpuContext, checkpoint: string, goldenPath: string, opts: { log?: (s: string) => void } = {}): Promise<ParityResult> {
  const log = opts.log ?? (() => {});
  // Read the golden first: a bad golden path fails in milliseconds, before any weights are uploaded.
  const golden = { path: goldenPath, tensors: await readGolden(goldenPath) };
  const store = new WeightStore();
  let loaded: LoadedModel | undefined;
  try {
    log(`loading ${checkpoint}…`);
    let lastPct = -10;
    loaded = await loadModel(ctx, checkpoint, {
      store,
      onProgress: ({ bytesDone, bytesTotal }) => {
        const pct = Math.floor((100 * bytesDone) / Math.max(1, bytesTotal));
        if (pct >= lastPct + 10) log(`  ${pct}% of ${(bytesTotal / 1e9).toFixed(2)} GB`);
        if (pct >= lastPct + 10) lastPct = pct;
      },
    });
    const { family, config } = loaded;
    if (!family.runGolden) throw new Error(`model family '${family.id}' has no golden parity runner`);
    log(`loaded ${family.describe(config)} in ${loaded.seconds.toFixed(1)} s; compiling and running the golden's step…`);
    for (const w of loaded.warnings) log(`warning: ${w}`);
    const t0 = performance.now();
    const { got, want } = await family.runGolden(ctx, store, config, golden);
    const forwardMs = performance.now() - t0;
    return { family: family.id, ...relativeError(got, want), loadSeconds: loaded.seconds, forwardMs, peakRssBytes: peakRssBytes() };
  } finally {
    // The loader owns the weight buffers; the store only indexes them.
    loaded?.weights.destroy();
    store.destroy();
  }
}
