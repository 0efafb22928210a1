// The whole pipeline against diffusers' FluxPipeline / StableDiffusion3Pipeline on tiny random pipeline folders
// saved by diffusers (bench/reference/make_pipeline_goldens.py), given the same initial latents: the float image
// (before 8-bit quantisation) within relative L2 1e-2.
//   'denoise + VAE': conditioning taken from diffusers' encode_prompt (isolates sampler, transformer, VAE);
//   'prompt to image': our own tokenizers and text encoders too (needs src/pipeline/text-conditioning.ts).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GpuContext } from '../../src/gpu/context.js';
import { readGolden } from '../../src/models/golden.js';
import { relativeError } from '../../src/models/parity.js';
import { denoise } from '../../src/pipeline/denoise-step.js';
import { readImage } from '../../src/pipeline/image-io.js';
import { createRequestState } from '../../src/pipeline/request-state.js';
import { TextToImagePipeline } from '../../src/pipeline/pipeline.js';
import { testContext } from '../helpers/gpu.js';

const FIX = new URL('../fixtures/tiny-pipelines/', import.meta.url).pathname;
// bench/reference/make_pipeline_goldens.py PROMPT / NEGATIVE
const PROMPT = 'a red circle on a blue background, top left';
const NEGATIVE = 'blurry, low quality';

let ctx: GpuContext;
beforeAll(async () => {
  ctx = await testContext();
});
afterAll(() => ctx?.destroy());

async function golden(family: 'flux' | 'sd3') {
  const g = await readGolden(`${FIX}${family}/golden.safetensors`);
  const t = (k: string) => {
    const v = g.get(k);
    if (!v) throw new Error(`golden has no ${k}`);
    return v;
  };
  const [, C, h, w] = t('input.noise').shape;
  return { t, C, h, w };
}

for (const family of ['flux', 'sd3'] as const) {
  describe(`${family}: pipeline vs diffusers`, () => {
    it('denoise + VAE with diffusers\' conditioning', async () => {
      const { t } = await golden(family);
      const pipe = await TextToImagePipeline.load(ctx, `${FIX}${family}`, { textEncoders: false });
      try {
        const cond = { context: t('cond.txt').data, tokens: t('cond.txt').shape[0], pooled: t('cond.pooled').data };
        const uncond = family === 'sd3'
          ? { context: t('cond.neg_txt').data, tokens: t('cond.neg_txt').shape[0], pooled: t('cond.neg_pooled').data }
          : undefined;
        const r = await pipe.generate({
          prompt: 'unused', width: 48, height: 32, steps: 4, guidance: family === 'flux' ? 3.5 : 5.0,
          noise: t('input.noise').data, cond, uncond, seed: 0,
        });
        const sig = t('sigmas').data;
        const lat = relativeError(r.latents, t('output.latents').data);
        const img = relativeError(r.image.data, t('output.image').data);
        console.log(`${family}: sigmas ${Array.from(sig).map((s) => s.toFixed(4)).join(' ')}; latents relL2 ${lat.relL2.toExponential(2)}, image relL2 ${img.relL2.toExponential(2)}`);
        expect([r.image.width, r.image.height]).toEqual([48, 32]);
        expect(lat.nonFinite).toBe(0);
        expect(lat.relL2).toBeLessThan(1e-2);
        expect(img.relL2).toBeLessThan(1e-2);
      } finally {
        pipe.destroy();
      }
    });

    it('prompt to image (our tokenizers and text encoders too)', async () => {
      const { t } = await golden(family);
      const pipe = await TextToImagePipeline.load(ctx, `${FIX}${family}`);
      try {
        const r = await pipe.generate({
          prompt: PROMPT, negative: family === 'sd3' ? NEGATIVE : undefined, width: 48, height: 32, steps: 4,
          guidance: family === 'flux' ? 3.5 : 5.0, maxSequenceLength: family === 'flux' ? 64 : 32, noise: t('input.noise').data, seed: 0,
          allowTruncation: true, // the SD3 golden's prompt is cut to 32 T5 tokens (diffusers warns and truncates)
        });
        const img = relativeError(r.image.data, t('output.image').data);
        console.log(`${family} from the prompt: image relL2 ${img.relL2.toExponential(2)}`);
        expect(img.relL2).toBeLessThan(1e-2);
        // Without --truncate, a prompt longer than the token budget is refused, naming the encoder.
        await expect(pipe.generate({ prompt: PROMPT + ' and more words'.repeat(20), width: 48, height: 32, steps: 1, maxSequenceLength: 16, seed: 0 }))
          .rejects.toThrow(/tokens too long for (T5|CLIP)/);
        // Sizes the VAE and the 2x2 packing cannot take.
        await expect(pipe.generate({ prompt: 'x', width: 50, height: 32, steps: 1, seed: 0 })).rejects.toThrow(/width 50 is not divisible by 4 .*use 48 or 52/);
      } finally {
        pipe.destroy();
      }
    });
  });
}

describe('flux: image to image vs FluxImg2ImgPipeline', () => {
  it('strength 0.6 from the VAE encoder mean, same noise', async () => {
    const { t } = await golden('flux');
    const pipe = await TextToImagePipeline.load(ctx, `${FIX}flux`, { textEncoders: false, vaeEncoder: true });
    try {
      const image = await readImage(`${FIX}flux/img2img-input.png`, { width: 48, height: 32 });
      const cond = { context: t('cond.txt').data, tokens: t('cond.txt').shape[0], pooled: t('cond.pooled').data };
      let steps = 0;
      const r = await pipe.generate({
        prompt: 'unused', width: 48, height: 32, steps: 4, guidance: 3.5, noise: t('img2img.noise').data, cond, seed: 0,
        image, strength: 0.6,
      }, () => steps++);
      expect(steps).toBe(3); // t_start = int(4 - 4 * 0.6) = 1: steps 1..3 run
      const img = relativeError(r.image.data, t('img2img.output.image').data);
      console.log(`flux img2img: image relL2 ${img.relL2.toExponential(2)}`);
      expect(img.relL2).toBeLessThan(1e-2);
    } finally {
      pipe.destroy();
    }
  });
});

describe('runStep on one executor from concurrent requests', () => {
  it('gives each request the result it gets alone', async () => {
    const { t } = await golden('flux');
    const pipe = await TextToImagePipeline.load(ctx, `${FIX}flux`, { textEncoders: false });
    try {
      const cond = { context: t('cond.txt').data, tokens: t('cond.txt').shape[0], pooled: t('cond.pooled').data };
      const make = (seed: number, steps: number) => createRequestState({
        id: `r${seed}`, family: 'flux', latentShape: pipe.latentShape(48, 32), cond, distilledGuidance: 3.5, seed, steps, scheduler: pipe.scheduler,
      });
      const alone = [make(1, 3), make(2, 4)];
      for (const s of alone) await denoise(s, pipe.executor);
      const together = [make(1, 3), make(2, 4)];
      await Promise.all(together.map((s) => denoise(s, pipe.executor)));
      for (let i = 0; i < 2; i++) expect(together[i].latents).toEqual(alone[i].latents);
      expect(alone[0].latents).not.toEqual(alone[1].latents);
    } finally {
      pipe.destroy();
    }
  });
});
