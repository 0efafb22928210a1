// The tiny checkpoints the PyTorch reference wrote (bench/reference/make_tiny.py, committed under
// test/fixtures/tiny-models): an independent producer of both layouts. Config inference must recover the
// reference's architectures, and the diffusers FLUX copy (split by the reference's own bfl_to_diffusers, f32)
// must fuse back into exactly the BFL file's weights (bf16).
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { numel } from '../../src/gpu/kernel.js';
import { inspectModel, loadModel } from '../../src/models/registry.js';
import { SafetensorsFile } from '../../src/loading/safetensors.js';
import { testContext } from '../helpers/gpu.js';

const root = join(process.cwd(), 'test/fixtures/tiny-models');
const present = existsSync(join(root, 'flux-tiny'));

describe.skipIf(!present)('reference tiny checkpoints', () => {
  it('infers the reference architectures from both layouts', async () => {
    const dev = await inspectModel(join(root, 'flux-tiny'));
    expect(dev.config).toMatchObject({ family: 'flux', layout: 'bfl', hiddenSize: 128, numHeads: 2, headDim: 64, doubleBlocks: 1, singleBlocks: 2, guidanceEmbed: true, axesDim: [8, 28, 28] });
    const diff = await inspectModel(join(root, 'flux-tiny-diffusers'));
    expect(diff.config).toEqual({ ...dev.config, layout: 'diffusers' });
    expect(diff.files.length).toBe(2);
    const schnell = await inspectModel(join(root, 'flux-tiny-schnell'));
    expect(schnell.config).toMatchObject({ hiddenSize: 64, headDim: 32, doubleBlocks: 2, singleBlocks: 1, guidanceEmbed: false });
    const sd3 = await inspectModel(join(root, 'sd3-tiny'));
    expect(sd3.config).toMatchObject({ family: 'sd3', numLayers: 2, qkNorm: false, dualAttentionLayers: [], posEmbedStored: true, posEmbedMaxSize: 16 });
    const sd35 = await inspectModel(join(root, 'sd35-tiny'));
    expect(sd35.config).toMatchObject({ family: 'sd3', numLayers: 3, qkNorm: true, dualAttentionLayers: [0], posEmbedStored: false });
    for (const m of [dev, diff, schnell, sd3, sd35]) expect(m.unexpected).toEqual([]);
  });

  it('fuses the reference diffusers FLUX copy into exactly the BFL weights', async () => {
    const ctx = await testContext();
    const a = await loadModel(ctx, join(root, 'flux-tiny'), { dtypeOf: () => 'f32', chunkBytes: 4096 });
    const b = await loadModel(ctx, join(root, 'flux-tiny-diffusers'), { dtypeOf: () => 'f32', chunkBytes: 4096 });
    try {
      expect([...b.weights.views.keys()].sort()).toEqual([...a.weights.views.keys()].sort());
      for (const [name, va] of a.weights.views) {
        const vb = b.weights.views.get(name)!;
        const bytes = numel(va.shape) * 4;
        const x = Buffer.from(await ctx.readback(va.buffer, bytes, va.offset));
        const y = Buffer.from(await ctx.readback(vb.buffer, bytes, vb.offset));
        expect(y.equals(x), name).toBe(true);
      }
    } finally {
      a.weights.destroy();
      b.weights.destroy();
    }
  });

  it('uploads the fp16 SD3 fixture bit-exactly with fused to_qkv', async () => {
    const ctx = await testContext();
    const m = await loadModel(ctx, join(root, 'sd3-tiny'), { includeOptional: true });
    try {
      const qkv = m.weights.views.get('transformer_blocks.0.attn.to_qkv.weight')!;
      expect(qkv.shape).toEqual([384, 128]);
      const f = await SafetensorsFile.open(join(root, 'sd3-tiny/transformer/diffusion_pytorch_model.safetensors'));
      const parts = await Promise.all(['to_q', 'to_k', 'to_v'].map((n) => f.read(`transformer_blocks.0.attn.${n}.weight`)));
      await f.close();
      const got = Buffer.from(await ctx.readback(qkv.buffer, 384 * 128 * 2, qkv.offset));
      expect(got.equals(Buffer.concat(parts.map((p) => Buffer.from(p))))).toBe(true);
      expect(m.weights.views.has('pos_embed.pos_embed')).toBe(true);
      const lean = await loadModel(ctx, join(root, 'sd3-tiny'));
      expect(lean.weights.views.has('pos_embed.pos_embed')).toBe(false); // the graph computes the table
      expect(lean.weights.views.size).toBe(m.weights.views.size - 1);
      lean.weights.destroy();
    } finally {
      m.weights.destroy();
    }
  });
});
