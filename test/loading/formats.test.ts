// Format-only loading: the same Checkpoint.open serves a transformers folder (model*.safetensors + index), a
// diffusers component folder chosen from a pipeline root, and single files; names with a known prefix are
// stripped; WeightSource.dtype chooses the GPU storage. No model knowledge: the tensors here are arbitrary.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Checkpoint } from '../../src/loading/checkpoint.js';
import { Inference, validateListing } from '../../src/loading/listing.js';
import { writeSafetensors, type TensorSpec } from '../../src/loading/safetensors-writer.js';
import { uploadWeights } from '../../src/loading/upload.js';
import { f32ToF16Bits } from '../../src/util/f16.js';
import { testContext } from '../helpers/gpu.js';

let dir = '';
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'formats-test-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});
let n = 0;
const fresh = (s: string) => join(dir, `${s}-${n++}`);

function f32(name: string, values: number[], shape = [values.length]): TensorSpec & { data: Uint8Array } {
  return { name, dtype: 'F32', shape, data: new Uint8Array(Float32Array.from(values).buffer) };
}

describe('Checkpoint.open (format only)', () => {
  it('reads a sharded transformers folder (model-0000K-of-0000N + model.safetensors.index.json) with its config.json', async () => {
    const p = fresh('text_encoder_2');
    await mkdir(p);
    await writeSafetensors(join(p, 'model-00001-of-00002.safetensors'), [f32('encoder.block.0.w', [1, 2])]);
    await writeSafetensors(join(p, 'model-00002-of-00002.safetensors'), [f32('shared.weight', [3, 4, 5, 6], [2, 2])]);
    await writeFile(join(p, 'model.safetensors.index.json'), JSON.stringify({
      weight_map: { 'encoder.block.0.w': 'model-00001-of-00002.safetensors', 'shared.weight': 'model-00002-of-00002.safetensors' },
    }));
    await writeFile(join(p, 'config.json'), JSON.stringify({ d_model: 2 }));
    const ck = await Checkpoint.open(p);
    expect(ck.listTensors().sort()).toEqual(['encoder.block.0.w', 'shared.weight']);
    expect(ck.info('shared.weight').file).toBe(join(p, 'model-00002-of-00002.safetensors'));
    expect(ck.configJson).toEqual({ d_model: 2 });
    expect(new Float32Array((await ck.read('shared.weight')).slice().buffer)).toEqual(Float32Array.of(3, 4, 5, 6));
    await ck.close();
  });

  it('opens a component folder of a pipeline root, a model.safetensors file with its config, and a bare single file', async () => {
    const root = fresh('pipeline');
    await mkdir(join(root, 'vae'), { recursive: true });
    await mkdir(join(root, 'text_encoder'), { recursive: true });
    await writeSafetensors(join(root, 'vae', 'diffusion_pytorch_model.safetensors'), [f32('decoder.conv_in.weight', [1])]);
    await writeFile(join(root, 'vae', 'config.json'), '{"latent_channels": 16}');
    await writeSafetensors(join(root, 'text_encoder', 'model.safetensors'), [f32('text_model.embeddings.token_embedding.weight', [1, 2], [1, 2])]);
    await writeFile(join(root, 'text_encoder', 'config.json'), '{"hidden_size": 2}');
    const vae = await Checkpoint.open(root, { component: 'vae' });
    expect(vae.listTensors()).toEqual(['decoder.conv_in.weight']);
    expect(vae.configJson).toEqual({ latent_channels: 16 });
    await vae.close();
    const te = await Checkpoint.open(join(root, 'text_encoder', 'model.safetensors'));
    expect(te.configJson).toEqual({ hidden_size: 2 });
    await te.close();
    const single = fresh('clip_l') + '.safetensors';
    await writeSafetensors(single, [f32('text_model.final_layer_norm.weight', [1, 1])]);
    const s = await Checkpoint.open(single);
    expect(s.configJson).toBeNull();
    expect(s.description).toBe(single);
    await s.close();
    await expect(Checkpoint.open(root, { component: 'transformer' })).rejects.toThrow(/no weights found .*a transformer\/ folder/);
  });

  it('ignores files the caller names, strips a known prefix, and says what to do with several candidates', async () => {
    const root = fresh('release');
    await mkdir(root);
    await writeSafetensors(join(root, 'ae.safetensors'), [f32('decoder.x', [1])]);
    await writeSafetensors(join(root, 'big.safetensors'), [f32('model.diffusion_model.a', [1]), f32('model.diffusion_model.b', [2])]);
    await expect(Checkpoint.open(root)).rejects.toThrow(/several candidate checkpoints \(ae\.safetensors, big\.safetensors\); give the path of one file/);
    const ck = await Checkpoint.open(root, { ignoreFiles: /^ae\.safetensors$/ });
    expect(ck.namePrefix).toBe('model.diffusion_model.');
    expect(ck.listTensors()).toEqual(['a', 'b']);
    await ck.close();
    const kept = await Checkpoint.open(join(root, 'big.safetensors'), { stripPrefixes: [] });
    expect(kept.listTensors()).toEqual(['model.diffusion_model.a', 'model.diffusion_model.b']);
    await kept.close();
  });

  it('Inference and validateListing name the file and tensor', async () => {
    const p = fresh('listing') + '.safetensors';
    await writeSafetensors(p, [f32('blocks.0.w', [1, 2]), f32('blocks.2.w', [1, 2])]);
    const ck = await Checkpoint.open(p);
    const x = new Inference(ck);
    expect(() => x.count('blocks.')).toThrow(/block blocks\.1 is missing \(blocks up to 2 are present\)/);
    expect(() => x.shape('blocks.0.w', 2)).toThrow(`${p}: mis-shaped tensor 'blocks.0.w': shape [2] should have 2 dimensions`);
    expect(() => validateListing(ck, [{ name: 'blocks.0.w', shape: [3] }], 'the test layout')).toThrow(`${p}: mis-shaped tensor 'blocks.0.w': shape [2] but the test layout requires [3]`);
    expect(validateListing(ck, [{ name: 'blocks.0.w', shape: [2] }, { name: 'extra', shape: [1], optional: true }], 'x').unexpected).toEqual(['blocks.2.w']);
    await ck.close();
  });
});

describe('upload honours WeightSource.dtype', () => {
  it('keeps an f32 source in f32 and converts the default to f16', async () => {
    const ctx = await testContext();
    const p = fresh('dtype') + '.safetensors';
    const vals = [0.1, -2.5, 70000, 3];
    await writeSafetensors(p, [f32('a', vals), f32('b', vals)]);
    const ck = await Checkpoint.open(p);
    const w = await uploadWeights(ctx, ck, [
      { name: 'A', shape: [4], parts: [{ tensor: 'a' }], dtype: 'f32' },
      { name: 'B', shape: [4], parts: [{ tensor: 'b' }] },
    ]);
    await ck.close();
    try {
      expect(w.views.get('A')!.dtype).toBe('f32');
      expect(w.views.get('B')!.dtype).toBe('f16');
      expect(new Float32Array(await ctx.readback(w.views.get('A')!.buffer, 16))).toEqual(Float32Array.from(vals));
      expect(Array.from(new Uint16Array(await ctx.readback(w.views.get('B')!.buffer, 8)))).toEqual(vals.map((v) => f32ToF16Bits(Math.min(v, 65504))));
      expect(w.saturated).toBe(1);
    } finally {
      w.destroy();
    }
  });
});
