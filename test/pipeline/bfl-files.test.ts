// A BFL-style file set (flux1-*.safetensors + ae.safetensors + t5xxl*.safetensors + clip_l*.safetensors +
// tokenizer folders) generates the same image as the diffusers folder it was written from. The BFL files are
// written here from bfl-names.json, which bench/reference/make_pipeline_goldens.py derives from the Python
// reference converters (not from the engine's own name maps).
import { copyFileSync, cpSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GpuContext } from '../../src/gpu/context.js';
import { ITEM_BYTES } from '../../src/loading/dtypes.js';
import { SafetensorsFile } from '../../src/loading/safetensors.js';
import { writeSafetensors } from '../../src/loading/safetensors-writer.js';
import { readGolden } from '../../src/models/golden.js';
import { relativeError } from '../../src/models/parity.js';
import { resolveModelFolder } from '../../src/pipeline/model-folder.js';
import { TextToImagePipeline } from '../../src/pipeline/pipeline.js';
import { testContext } from '../helpers/gpu.js';

const FLUX = new URL('../fixtures/tiny-pipelines/flux/', import.meta.url).pathname;

interface NameMap {
  [bfl: string]: { shape: number[]; parts: [string, number, number][] };
}

/** Writes `dst` with BFL names, each tensor the concatenation of the listed diffusers row ranges. */
async function writeBfl(src: string, map: NameMap, dst: string): Promise<void> {
  const f = await SafetensorsFile.open(src);
  try {
    const tensors = [];
    for (const [name, { shape, parts }] of Object.entries(map)) {
      const dtype = f.info(parts[0][0]).dtype;
      const chunks: Uint8Array[] = [];
      for (const [p, r0, r1] of parts) {
        const info = f.info(p);
        const rowBytes = (info.shape.slice(1).reduce((a, b) => a * b, 1)) * ITEM_BYTES[info.dtype];
        chunks.push((await f.read(p)).subarray(r0 * rowBytes, r1 * rowBytes));
      }
      const data = new Uint8Array(chunks.reduce((s, c) => s + c.length, 0));
      let o = 0;
      for (const c of chunks) {
        data.set(c, o);
        o += c.length;
      }
      tensors.push({ name, dtype, shape, data });
    }
    await writeSafetensors(dst, tensors);
  } finally {
    await f.close();
  }
}

let ctx: GpuContext;
let dir: string;
beforeAll(async () => {
  ctx = await testContext();
  dir = mkdtempSync(join(tmpdir(), 'dit-bfl-'));
  const maps = JSON.parse(readFileSync(join(FLUX, 'bfl-names.json'), 'utf8')) as { transformer: NameMap; ae: NameMap };
  await writeBfl(join(FLUX, 'transformer/diffusion_pytorch_model.safetensors'), maps.transformer, join(dir, 'flux1-tiny.safetensors'));
  await writeBfl(join(FLUX, 'vae/diffusion_pytorch_model.safetensors'), maps.ae, join(dir, 'ae.safetensors'));
  // Text encoders as transformers folders: a tiny CLIP/T5 single file has no config to give its head count
  // (the real clip_l / t5xxl files are recognised by width); the single-file names are checked below.
  cpSync(join(FLUX, 'text_encoder'), join(dir, 'text_encoder'), { recursive: true });
  cpSync(join(FLUX, 'text_encoder_2'), join(dir, 'text_encoder_2'), { recursive: true });
  cpSync(join(FLUX, 'tokenizer'), join(dir, 'tokenizer'), { recursive: true });
  cpSync(join(FLUX, 'tokenizer_2'), join(dir, 'tokenizer_2'), { recursive: true });
});
afterAll(() => ctx?.destroy());

describe('BFL file set', () => {
  it('finds ComfyUI-style text-encoder files too', async () => {
    const d = mkdtempSync(join(tmpdir(), 'dit-bfl-names-'));
    for (const f of ['flux1-tiny.safetensors', 'ae.safetensors']) copyFileSync(join(dir, f), join(d, f));
    copyFileSync(join(FLUX, 'text_encoder/model.safetensors'), join(d, 'clip_l.safetensors'));
    copyFileSync(join(FLUX, 'text_encoder_2/model.safetensors'), join(d, 't5xxl_fp16.safetensors'));
    cpSync(join(FLUX, 'tokenizer'), join(d, 'tokenizer'), { recursive: true });
    cpSync(join(FLUX, 'tokenizer_2'), join(d, 'tokenizer_2'), { recursive: true });
    const f = await resolveModelFolder(d);
    expect(f.textEncoders.clipL).toMatch(/clip_l\.safetensors$/);
    expect(f.textEncoders.t5).toMatch(/t5xxl_fp16\.safetensors$/);
    expect(f.vae).toMatch(/ae\.safetensors$/);
  });

  it('resolves and generates the diffusers folder\'s image', async () => {
    const folder = await resolveModelFolder(dir);
    expect([folder.layout, folder.family]).toEqual(['bfl', 'flux']);
    const g = await readGolden(join(FLUX, 'golden.safetensors'));
    const pipe = await TextToImagePipeline.load(ctx, dir);
    try {
      expect(pipe.scheduler.use_dynamic_shifting).toBe(true); // FLUX.1-dev default: the set has no scheduler/
      const r = await pipe.generate({
        prompt: 'a red circle on a blue background, top left', width: 48, height: 32, steps: 4, guidance: 3.5,
        maxSequenceLength: 64, noise: g.get('input.noise')!.data, seed: 0,
      });
      const img = relativeError(r.image.data, g.get('output.image')!.data);
      console.log(`BFL file set: image relL2 ${img.relL2.toExponential(2)}`);
      expect(img.relL2).toBeLessThan(1e-2);
    } finally {
      pipe.destroy();
    }
  });
});
