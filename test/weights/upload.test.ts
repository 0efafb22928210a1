// GPU upload on lavapipe: values arrive exactly (f16 files), converted like the host reference (bf16/f32 ->
// f16 and bf16/f16 -> f32 on the GPU, saturating at +-65504), through chunks smaller than the tensors, and a diffusers FLUX folder
// (split q/k/v, proj_mlp, swapped final adaLN) fuses back into exactly the BFL weights. The diffusers copy is
// produced here by an independent host-side split following diffusers' convert_flux_to_diffusers.py.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { numel, type TensorView } from '../../src/gpu/kernel.js';
import { bf16BitsToF32, f16BitsToF32, f32ToBf16Bits, f32ToF16Bits } from '../../src/util/f16.js';
import { Checkpoint } from '../../src/loading/checkpoint.js';
import type { FamilyConfig } from '../../src/models/family.js';
import { fluxExpectedTensors, fluxWeightSources, tinyFluxConfig } from '../../src/models/flux/index.js';
import { familyOf, inferConfig, loadModel } from '../../src/models/registry.js';
import { SafetensorsFile } from '../../src/loading/safetensors.js';
import { writeSafetensors, type TensorSpec } from '../../src/loading/safetensors-writer.js';
import { writeSyntheticCheckpoint } from '../../src/bench/synthetic.js';
import { uploadWeights } from '../../src/loading/upload.js';
import { freshSeed, testContext } from '../helpers/gpu.js';

const sourcesOf = (c: FamilyConfig) => familyOf(c).weightSources(c);

let dir = '';
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'upload-test-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});
let n = 0;
const fresh = (s: string) => join(dir, `${s}-${n++}`);

async function rawBits(t: TensorView): Promise<Uint8Array> {
  const ctx = await testContext();
  const bytes = numel(t.shape) * (t.dtype === 'f16' ? 2 : 4);
  return new Uint8Array(await ctx.readback(t.buffer, bytes, t.offset));
}

function u16(b: Uint8Array): Uint16Array {
  return new Uint16Array(b.slice().buffer);
}

async function fileTensors(path: string): Promise<Map<string, { spec: TensorSpec; data: Uint8Array }>> {
  const f = await SafetensorsFile.open(path);
  const out = new Map<string, { spec: TensorSpec; data: Uint8Array }>();
  for (const t of f.tensors) out.set(t.name, { spec: { name: t.name, dtype: t.dtype, shape: t.shape }, data: await f.read(t.name) });
  await f.close();
  return out;
}

describe('weight upload (GPU)', () => {
  it('uploads an f16 checkpoint bit-exactly, streaming in chunks smaller than the tensors', async () => {
    const ctx = await testContext();
    const seed = freshSeed();
    const p = fresh('f16') + '.safetensors';
    await writeSyntheticCheckpoint(p, tinyFluxConfig('bfl'), { dtype: 'F16', seed });
    const file = await fileTensors(p);
    const ck = await Checkpoint.open(p);
    const w = await uploadWeights(ctx, ck, sourcesOf(inferConfig(ck)), { chunkBytes: 1000 }); // 1000 B -> 128-element chunks
    await ck.close();
    try {
      expect(w.views.size).toBe(file.size);
      for (const [name, t] of file) {
        const got = await rawBits(w.views.get(name)!);
        expect(Buffer.from(got).equals(Buffer.from(t.data)), `${name} (seed ${seed})`).toBe(true);
      }
    } finally {
      w.destroy();
    }
  });

  it('converts bf16/f16/f32 files to f32 storage exactly', async () => {
    const ctx = await testContext();
    const seed = freshSeed();
    for (const dtype of ['BF16', 'F16', 'F32'] as const) {
      const p = fresh(`host-${dtype}`) + '.safetensors';
      await writeSyntheticCheckpoint(p, tinyFluxConfig('bfl', false), { dtype, seed });
      const file = await fileTensors(p);
      const ck = await Checkpoint.open(p);
      const w = await uploadWeights(ctx, ck, sourcesOf(inferConfig(ck)), { chunkBytes: 2048, dtypeOf: () => 'f32', filter: (s) => s.startsWith('single_blocks.1') });
      await ck.close();
      try {
        expect(w.views.size).toBe(8); // linear1, linear2, modulation (w+b each), two norm scales
        for (const [name, view] of w.views) {
          const src = file.get(name)!.data;
          const want = dtype === 'F32' ? new Float32Array(src.slice().buffer)
            : Float32Array.from(u16(src), dtype === 'BF16' ? bf16BitsToF32 : f16BitsToF32);
          const got = new Float32Array((await rawBits(view)).buffer);
          expect(Buffer.from(got.buffer).equals(Buffer.from(want.buffer)), `${dtype} ${name} (seed ${seed})`).toBe(true);
        }
      } finally {
        w.destroy();
      }
    }
  });

  it('converts bf16 and f32 files to f16 on the GPU like the host rounding', async () => {
    const ctx = await testContext();
    const seed = freshSeed();
    for (const dtype of ['BF16', 'F32'] as const) {
      const p = fresh(`gpu-${dtype}`) + '.safetensors';
      await writeSyntheticCheckpoint(p, tinyFluxConfig('bfl'), { dtype, seed });
      const file = await fileTensors(p);
      const ck = await Checkpoint.open(p);
      const w = await uploadWeights(ctx, ck, sourcesOf(inferConfig(ck)), { chunkBytes: 4096 });
      await ck.close();
      try {
        for (const [name, view] of w.views) {
          const src = file.get(name)!.data;
          const f32 = dtype === 'F32' ? new Float32Array(src.slice().buffer) : Float32Array.from(u16(src), bf16BitsToF32);
          const got = u16(await rawBits(view));
          let worst = 0;
          for (let i = 0; i < f32.length; i++) {
            // Round-to-nearest-even is what the host does; WGSL allows either neighbour, so allow 1 ulp.
            worst = Math.max(worst, Math.abs(got[i] - f32ToF16Bits(f32[i])));
          }
          expect(worst, `${dtype} ${name}: max f16 ulp difference (seed ${seed})`).toBeLessThanOrEqual(1);
        }
      } finally {
        w.destroy();
      }
    }
  });

  it('fuses a diffusers FLUX folder into exactly the BFL weights (qkv, linear1, swapped final adaLN)', async () => {
    const ctx = await testContext();
    const seed = freshSeed();
    const cfg = tinyFluxConfig('bfl');
    const bflPath = fresh('bfl') + '.safetensors';
    await writeSyntheticCheckpoint(bflPath, cfg, { dtype: 'F16', seed });
    const bfl = await fileTensors(bflPath);
    // Independent BFL -> diffusers conversion (row splits and renames as in convert_flux_to_diffusers.py).
    const D = cfg.hiddenSize, M = cfg.mlpHidden;
    const diff: (TensorSpec & { data: Uint8Array })[] = [];
    const rows = (name: string, r0: number, r1: number) => {
      const t = bfl.get(name)!;
      const rowBytes = t.data.byteLength / t.spec.shape[0];
      return { shape: [r1 - r0, ...t.spec.shape.slice(1)], data: t.data.slice(r0 * rowBytes, r1 * rowBytes) };
    };
    const put = (name: string, from: string, r0?: number, r1?: number) => {
      const t = bfl.get(from)!;
      const part = r0 === undefined ? { shape: t.spec.shape, data: t.data } : rows(from, r0, r1!);
      diff.push({ name, dtype: 'F16', ...part });
    };
    const both = (d: string, b: string) => { put(`${d}.weight`, `${b}.weight`); put(`${d}.bias`, `${b}.bias`); };
    both('x_embedder', 'img_in'); both('context_embedder', 'txt_in');
    both('time_text_embed.timestep_embedder.linear_1', 'time_in.in_layer'); both('time_text_embed.timestep_embedder.linear_2', 'time_in.out_layer');
    both('time_text_embed.guidance_embedder.linear_1', 'guidance_in.in_layer'); both('time_text_embed.guidance_embedder.linear_2', 'guidance_in.out_layer');
    both('time_text_embed.text_embedder.linear_1', 'vector_in.in_layer'); both('time_text_embed.text_embedder.linear_2', 'vector_in.out_layer');
    const d0 = 'transformer_blocks.0', b0 = 'double_blocks.0';
    both(`${d0}.norm1.linear`, `${b0}.img_mod.lin`); both(`${d0}.norm1_context.linear`, `${b0}.txt_mod.lin`);
    for (const [k, names] of [['img', ['to_q', 'to_k', 'to_v']], ['txt', ['add_q_proj', 'add_k_proj', 'add_v_proj']]] as const) {
      names.forEach((nm, j) => {
        put(`${d0}.attn.${nm}.weight`, `${b0}.${k}_attn.qkv.weight`, j * D, (j + 1) * D);
        put(`${d0}.attn.${nm}.bias`, `${b0}.${k}_attn.qkv.bias`, j * D, (j + 1) * D);
      });
    }
    put(`${d0}.attn.norm_q.weight`, `${b0}.img_attn.norm.query_norm.scale`); put(`${d0}.attn.norm_k.weight`, `${b0}.img_attn.norm.key_norm.scale`);
    put(`${d0}.attn.norm_added_q.weight`, `${b0}.txt_attn.norm.query_norm.scale`); put(`${d0}.attn.norm_added_k.weight`, `${b0}.txt_attn.norm.key_norm.scale`);
    both(`${d0}.attn.to_out.0`, `${b0}.img_attn.proj`); both(`${d0}.attn.to_add_out`, `${b0}.txt_attn.proj`);
    both(`${d0}.ff.net.0.proj`, `${b0}.img_mlp.0`); both(`${d0}.ff.net.2`, `${b0}.img_mlp.2`);
    both(`${d0}.ff_context.net.0.proj`, `${b0}.txt_mlp.0`); both(`${d0}.ff_context.net.2`, `${b0}.txt_mlp.2`);
    for (let i = 0; i < cfg.singleBlocks; i++) {
      const d = `single_transformer_blocks.${i}`, b = `single_blocks.${i}`;
      const split: [string, number, number][] = [['attn.to_q', 0, D], ['attn.to_k', D, 2 * D], ['attn.to_v', 2 * D, 3 * D], ['proj_mlp', 3 * D, 3 * D + M]];
      for (const [nm, r0, r1] of split) { put(`${d}.${nm}.weight`, `${b}.linear1.weight`, r0, r1); put(`${d}.${nm}.bias`, `${b}.linear1.bias`, r0, r1); }
      both(`${d}.proj_out`, `${b}.linear2`); both(`${d}.norm.linear`, `${b}.modulation.lin`);
      put(`${d}.attn.norm_q.weight`, `${b}.norm.query_norm.scale`); put(`${d}.attn.norm_k.weight`, `${b}.norm.key_norm.scale`);
    }
    both('proj_out', 'final_layer.linear');
    for (const s of ['weight', 'bias']) { // BFL [shift; scale] -> diffusers [scale; shift]
      const a = rows(`final_layer.adaLN_modulation.1.${s}`, D, 2 * D), b = rows(`final_layer.adaLN_modulation.1.${s}`, 0, D);
      const data = new Uint8Array(a.data.byteLength * 2);
      data.set(a.data); data.set(b.data, a.data.byteLength);
      diff.push({ name: `norm_out.linear.${s}`, dtype: 'F16', shape: [2 * D, ...a.shape.slice(1)], data });
    }
    expect(diff.map((t) => t.name).sort()).toEqual(fluxExpectedTensors({ ...cfg, layout: 'diffusers' }).map((t) => t.name).sort());
    const diffDir = fresh('diffusers');
    await import('node:fs/promises').then((fs) => fs.mkdir(diffDir));
    // Shuffled order in the file: the loader must not depend on it.
    await writeSafetensors(join(diffDir, 'diffusion_pytorch_model.safetensors'), diff.reverse());
    const a = await loadModel(ctx, bflPath, { chunkBytes: 1536 });
    const b = await loadModel(ctx, diffDir, { chunkBytes: 1536 });
    try {
      expect(b.config).toEqual({ ...a.config, layout: 'diffusers' });
      expect([...b.weights.views.keys()].sort()).toEqual([...a.weights.views.keys()].sort());
      expect(fluxWeightSources({ ...cfg, layout: 'diffusers' }).length).toBe(a.weights.views.size);
      for (const [name, va] of a.weights.views) {
        const vb = b.weights.views.get(name)!;
        expect(vb.shape).toEqual(va.shape);
        expect(Buffer.from(await rawBits(vb)).equals(Buffer.from(await rawBits(va))), `${name} (seed ${seed})`).toBe(true);
        expect(Buffer.from(await rawBits(va)).equals(Buffer.from(bfl.get(name)!.data)), `${name} vs file (seed ${seed})`).toBe(true);
      }
    } finally {
      a.weights.destroy();
      b.weights.destroy();
    }
  });

  it('saturates out-of-range bf16 values to +-65504 and counts them', async () => {
    const ctx = await testContext();
    const p = fresh('sat') + '.safetensors';
    const vals = [1, -2.5, 1e6, -3e38, 65280, 0.5, 7, -1e5]; // 65280 is exact in bf16 and f16 (65504 would round up to 65536 in bf16)
    const bits = Uint16Array.from(vals, (v) => f32ToBf16Bits(v));
    await writeSafetensors(p, [{ name: 'w', dtype: 'BF16', shape: [8], data: new Uint8Array(bits.buffer) }]);
    const ck = await Checkpoint.open(p);
    const w = await uploadWeights(ctx, ck, [{ name: 'w', shape: [8], parts: [{ tensor: 'w' }] }]);
    await ck.close();
    try {
      const got = Array.from(u16(await rawBits(w.views.get('w')!)), f16BitsToF32);
      expect(got).toEqual([1, -2.5, 65504, -65504, 65280, 0.5, 7, -65504]);
      expect(w.saturated).toBe(3);
    } finally {
      w.destroy();
    }
  });

  it('refuses an unsupported dtype, naming it, the tensor and the file', async () => {
    const ctx = await testContext();
    const p = fresh('i64') + '.safetensors';
    await writeSafetensors(p, [{ name: 'w', dtype: 'I64', shape: [3], data: new Uint8Array(24) }]);
    const ck = await Checkpoint.open(p);
    await expect(uploadWeights(ctx, ck, [{ name: 'w', shape: [3], parts: [{ tensor: 'w' }] }])).rejects.toThrow(`${p}: tensor 'w' has dtype I64, which the engine cannot load`);
    await ck.close();
  });
});
