// The shipped small model (weights/small-flux) through the whole engine reproduces diffusers' FluxPipeline from
// the same latents (golden: bench/reference/make_pipeline_goldens.py --small-flux; 2 steps at 128x128).
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GpuContext } from '../../src/gpu/context.js';
import { SafetensorsFile } from '../../src/loading/safetensors.js';
import { readGolden } from '../../src/models/golden.js';
import { relativeError } from '../../src/models/parity.js';
import { TextToImagePipeline } from '../../src/pipeline/pipeline.js';
import { testContext } from '../helpers/gpu.js';

const ROOT = new URL('../../', import.meta.url).pathname;
const MODEL = join(ROOT, 'weights/small-flux');
const GOLDEN = join(ROOT, 'test/fixtures/small-flux-golden.safetensors');
const REGENERATE = 'PYTHONPATH=/work/diffusers-src/src python3 bench/reference/make_pipeline_goldens.py --small-flux test/fixtures/small-flux-golden.safetensors';

/** Same digest as make_pipeline_goldens.weights_digest: sha256 over (relative path, bytes) of every .safetensors. */
function weightsDigest(folder: string): string {
  const files: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(d, e.name));
      else if (e.name.endsWith('.safetensors')) files.push(relative(folder, join(d, e.name)));
    }
  };
  walk(folder);
  const key = (p: string) => [dirname(p) === '.' ? '' : dirname(p), p.slice(p.lastIndexOf('/') + 1)];
  files.sort((a, b) => {
    const [da, fa] = key(a), [db, fb] = key(b);
    return da < db ? -1 : da > db ? 1 : fa < fb ? -1 : fa > fb ? 1 : 0;
  });
  const h = createHash('sha256');
  for (const f of files) {
    h.update(f);
    h.update(readFileSync(join(folder, f)));
  }
  return h.digest('hex');
}

let ctx: GpuContext;
beforeAll(async () => {
  ctx = await testContext();
});
afterAll(() => ctx?.destroy());

describe('weights/small-flux vs diffusers', () => {
  it('same latents, same image', async () => {
    const f = await SafetensorsFile.open(GOLDEN);
    const meta = f.metadata;
    await f.close();
    expect(weightsDigest(MODEL), `weights/small-flux changed since the golden was made; regenerate it: ${REGENERATE}`).toBe(meta.weights_sha256);
    const g = await readGolden(GOLDEN);
    const pipe = await TextToImagePipeline.load(ctx, MODEL);
    try {
      const r = await pipe.generate({
        prompt: meta.prompt, width: 128, height: 128, steps: Number(meta.steps), guidance: Number(meta.guidance),
        maxSequenceLength: Number(meta.max_sequence_length), noise: g.get('input.noise')!.data, seed: 0,
      });
      const img = relativeError(r.image.data, g.get('output.image')!.data);
      console.log(`small-flux: image relL2 ${img.relL2.toExponential(2)} vs diffusers float32`);
      expect(img.relL2).toBeLessThan(1e-2);
    } finally {
      pipe.destroy();
    }
  });
});
