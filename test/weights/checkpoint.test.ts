// Checkpoint layouts and configuration inference on synthetic checkpoints with the REAL tensor names: tiny
// FLUX (BFL single file, diffusers folder sharded + index), tiny SD3 / SD3.5, and the full-size FLUX.1-dev,
// SD3-medium and SD3.5-medium structures as sparse files (header real, data holes: no disk, no time).
import { mkdir, mkdtemp, open, rm, writeFile, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Checkpoint } from '../../src/loading/checkpoint.js';
import { parameterCount } from '../../src/loading/sources.js';
import type { FamilyConfig } from '../../src/models/family.js';
import { flux1DevConfig, fluxWeightSources, tinyFluxConfig, type FluxConfig } from '../../src/models/flux/index.js';
import { familyOf, identify, inferConfig, openCheckpoint } from '../../src/models/registry.js';
import { sd3MediumConfig, sd3WeightSources, tinySd3Config, type Sd3Config } from '../../src/models/sd3/index.js';
import { encodeHeader, writeSafetensors } from '../../src/loading/safetensors-writer.js';
import { writeSyntheticCheckpoint } from '../../src/bench/synthetic.js';

type ModelConfig = FluxConfig | Sd3Config;
const expectedTensors = (c: FamilyConfig) => familyOf(c).expectedTensors(c);
const diffusersConfigJson = (c: FamilyConfig) => familyOf(c).configJson!(c);

let dir = '';
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ckpt-test-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});
let n = 0;
const fresh = (s: string) => join(dir, `${s}-${n++}`);

async function configOf(path: string): Promise<{ cfg: ModelConfig; ck: Checkpoint }> {
  const ck = await openCheckpoint(path);
  const cfg = identify(ck).config as ModelConfig;
  return { cfg, ck };
}

/** A file with a real header and a sparse (hole) data section: full-size structure at no cost. */
async function sparseCheckpoint(path: string, cfg: ModelConfig): Promise<void> {
  const specs = expectedTensors(cfg).map((t) => ({ name: t.name, dtype: 'BF16' as const, shape: t.shape }));
  const header = encodeHeader(specs);
  const bytes = specs.reduce((a, s) => a + s.shape.reduce((x, y) => x * y, 1) * 2, 0);
  const fh = await open(path, 'w');
  await fh.write(header, 0, header.byteLength, 0);
  await fh.truncate(header.byteLength + bytes);
  await fh.close();
}

describe('FLUX configuration inference', () => {
  it('reads a tiny FLUX-dev BFL single file', async () => {
    const p = fresh('tiny-dev') + '.safetensors';
    await writeSyntheticCheckpoint(p, tinyFluxConfig('bfl', true));
    const { cfg, ck } = await configOf(p);
    expect(cfg).toEqual(tinyFluxConfig('bfl', true));
    expect(ck.listTensors()).toContain('double_blocks.0.img_attn.qkv.weight');
    await ck.close();
  });

  it('tells schnell (no guidance_in) from dev', async () => {
    const p = fresh('tiny-schnell') + '.safetensors';
    await writeSyntheticCheckpoint(p, tinyFluxConfig('bfl', false));
    const { cfg, ck } = await configOf(p);
    expect(cfg.family === 'flux' && cfg.guidanceEmbed).toBe(false);
    await ck.close();
  });

  it('reads a sharded diffusers folder through its index, from the pipeline root', async () => {
    const root = fresh('pipe');
    const res = await writeSyntheticCheckpoint(join(root, 'transformer'), tinyFluxConfig('diffusers', true), { shards: 3 });
    expect(res.files.length).toBe(3);
    expect(res.files[0]).toMatch(/diffusion_pytorch_model-00001-of-00003\.safetensors$/);
    const { cfg, ck } = await configOf(root);
    expect(cfg).toEqual(tinyFluxConfig('diffusers', true));
    expect(ck.files.length).toBe(3);
    const index = JSON.parse(await readFile(res.index!, 'utf8')) as { weight_map: Record<string, string> };
    for (const name of ck.listTensors()) expect(ck.info(name).file.endsWith(index.weight_map[name])).toBe(true);
    await ck.close();
  });

  it('finds the BFL file in a release folder next to ae.safetensors and an empty transformer/ folder', async () => {
    const root = fresh('release');
    await mkdir(join(root, 'transformer'), { recursive: true });
    await writeFile(join(root, 'transformer', 'config.json'), '{}');
    await writeSafetensors(join(root, 'ae.safetensors'), [{ name: 'decoder.conv_in.weight', dtype: 'F16', shape: [2], data: new Uint8Array(4) }]);
    await writeSyntheticCheckpoint(join(root, 'flux1-dev.safetensors'), tinyFluxConfig('bfl'));
    const { cfg, ck } = await configOf(root);
    expect(ck.files[0].path).toBe(join(root, 'flux1-dev.safetensors'));
    expect(cfg).toEqual(tinyFluxConfig('bfl'));
    await ck.close();
  });

  it('accepts ComfyUI-style model.diffusion_model. prefixes and an index file path', async () => {
    const cfg = tinyFluxConfig('bfl', false);
    const p = fresh('prefixed') + '.safetensors';
    await writeSafetensors(p, expectedTensors(cfg).map((t) => ({ name: `model.diffusion_model.${t.name}`, dtype: 'F16', shape: t.shape, data: new Uint8Array(t.shape.reduce((a, b) => a * b, 1) * 2) })));
    const a = await configOf(p);
    expect(a.cfg).toEqual(cfg);
    expect((await a.ck.read('img_in.bias')).byteLength).toBe(cfg.hiddenSize * 2);
    await a.ck.close();
    const d = fresh('by-index');
    const res = await writeSyntheticCheckpoint(d, tinyFluxConfig('diffusers'), { shards: 2 });
    const b = await configOf(res.index!);
    expect(b.cfg).toEqual(tinyFluxConfig('diffusers'));
    expect(b.ck.configPath).toBe(join(d, 'config.json'));
    await b.ck.close();
  });

  it('infers FLUX.1-dev and schnell at full size (sparse files, BFL and diffusers names)', async () => {
    for (const [layout, guidance] of [['bfl', true], ['bfl', false], ['diffusers', true]] as const) {
      const want = flux1DevConfig(layout, guidance);
      const p = layout === 'bfl' ? fresh('flux-full') + '.safetensors' : fresh('flux-full-diffusers');
      if (layout === 'diffusers') {
        await mkdir(p);
        await sparseCheckpoint(join(p, 'diffusion_pytorch_model.safetensors'), want);
        await writeFile(join(p, 'config.json'), JSON.stringify(diffusersConfigJson(want)));
      } else {
        await sparseCheckpoint(p, want);
      }
      const { cfg, ck } = await configOf(p);
      expect(cfg).toEqual(want);
      if (layout === 'bfl') expect(ck.totalBytes).toBe(parameterCount(expectedTensors(want)) * 2);
      await ck.close();
    }
    // FLUX.1-dev: 11.9 B parameters, 23.8 GB in bf16.
    expect(parameterCount(expectedTensors(flux1DevConfig()))).toBe(11901408320);
  });
});

describe('SD3 configuration inference', () => {
  it('reads tiny SD3 and SD3.5 (qk-norm, dual attention) diffusers folders', async () => {
    for (const v35 of [false, true]) {
      const p = fresh(v35 ? 'sd35' : 'sd3');
      await writeSyntheticCheckpoint(p, tinySd3Config(v35));
      const { cfg, ck } = await configOf(p);
      expect(cfg).toEqual(tinySd3Config(v35));
      if (v35) expect(ck.has('transformer_blocks.1.attn2.norm_q.weight')).toBe(true);
      expect(ck.has(`transformer_blocks.2.attn.to_add_out.weight`)).toBe(false); // last block: context_pre_only
      await ck.close();
    }
  });

  it('infers SD3-medium and SD3.5-medium at full size', async () => {
    for (const v of ['3', '3.5'] as const) {
      const want = sd3MediumConfig(v);
      const p = fresh(`sd${v}-full`);
      await mkdir(p);
      await sparseCheckpoint(join(p, 'diffusion_pytorch_model.safetensors'), want);
      await writeFile(join(p, 'config.json'), JSON.stringify(diffusersConfigJson(want)));
      const { cfg, ck } = await configOf(p);
      expect(cfg).toEqual(want);
      await ck.close();
    }
  });
});

describe('checkpoint errors name the file and the tensor', () => {
  it('a config.json that disagrees with the tensors', async () => {
    const p = fresh('bad-config');
    await writeSyntheticCheckpoint(p, tinyFluxConfig('diffusers'));
    await writeFile(join(p, 'config.json'), JSON.stringify({ ...diffusersConfigJson(tinyFluxConfig('diffusers')), num_single_layers: 5 }));
    const ck = await Checkpoint.open(p);
    expect(() => inferConfig(ck)).toThrow(/config.json says num_single_layers=5 but the tensors say 2/);
    await ck.close();
  });

  it('a missing tensor', async () => {
    const cfg = tinyFluxConfig('bfl');
    const p = fresh('missing') + '.safetensors';
    const drop = 'single_blocks.1.linear2.bias';
    await writeSafetensors(p, expectedTensors(cfg).filter((t) => t.name !== drop).map((t) => ({ name: t.name, dtype: 'F16', shape: t.shape, data: new Uint8Array(t.shape.reduce((a, b) => a * b, 1) * 2) })));
    const ck = await Checkpoint.open(p);
    expect(() => identify(ck)).toThrow(new RegExp(`${p}: missing tensor '${drop.replace(/\./g, '\\.')}'`));
    expect(() => ck.info(drop)).toThrow(/missing tensor 'single_blocks\.1\.linear2\.bias' \(the checkpoint has \d+ tensors; similar names: [^)]*single_blocks\.1\.linear2\.weight/);
    await ck.close();
  });

  it('a mis-shaped tensor', async () => {
    const cfg = tinyFluxConfig('bfl');
    const p = fresh('misshaped') + '.safetensors';
    const bad = 'double_blocks.0.txt_mlp.2.weight';
    await writeSafetensors(p, expectedTensors(cfg).map((t) => {
      const shape = t.name === bad ? [t.shape[0], t.shape[1] - 1] : t.shape;
      return { name: t.name, dtype: 'F16', shape, data: new Uint8Array(shape.reduce((a, b) => a * b, 1) * 2) };
    }));
    const ck = await Checkpoint.open(p);
    expect(() => identify(ck)).toThrow(`${p}: mis-shaped tensor '${bad}': shape [64,255] but the inferred flux bfl configuration requires [64,256]`);
    await ck.close();
  });

  it('a shard listed in the index that is missing', async () => {
    const p = fresh('lost-shard');
    const res = await writeSyntheticCheckpoint(p, tinyFluxConfig('diffusers'), { shards: 2 });
    await rm(res.files[1]);
    await expect(Checkpoint.open(p)).rejects.toThrow(/diffusion_pytorch_model-00002-of-00002\.safetensors: shard listed in diffusion_pytorch_model\.safetensors\.index\.json is missing/);
  });

  it('an index that places a tensor in the wrong shard', async () => {
    const p = fresh('bad-index');
    const res = await writeSyntheticCheckpoint(p, tinyFluxConfig('diffusers'), { shards: 2 });
    const idx = JSON.parse(await readFile(res.index!, 'utf8')) as { weight_map: Record<string, string> };
    idx.weight_map['x_embedder.weight'] = 'diffusion_pytorch_model-00002-of-00002.safetensors';
    await writeFile(res.index!, JSON.stringify(idx));
    await expect(Checkpoint.open(p)).rejects.toThrow(/00001-of-00002\.safetensors: tensor 'x_embedder\.weight' is in this shard but the index places it in diffusion_pytorch_model-00002-of-00002\.safetensors/);
  });

  it('a folder without weights, and an SD3 original single file', async () => {
    const empty = fresh('empty');
    await mkdir(empty);
    await expect(Checkpoint.open(empty)).rejects.toThrow(/no weights found/);
    const p = fresh('sd3-original') + '.safetensors';
    await writeSafetensors(p, [{ name: 'model.diffusion_model.joint_blocks.0.x_block.attn.qkv.weight', dtype: 'F16', shape: [3, 1], data: new Uint8Array(6) }]);
    const ck = await Checkpoint.open(p);
    expect(ck.namePrefix).toBe('model.diffusion_model.');
    expect(() => inferConfig(ck)).toThrow(/Stability's original single-file layout/);
    await ck.close();
  });
});

describe('canonical weight names', () => {
  it('maps diffusers FLUX onto BFL names with fused qkv / linear1 and the final adaLN halves swapped', () => {
    const c = tinyFluxConfig('diffusers');
    const src = new Map(fluxWeightSources(c).map((s) => [s.name, s]));
    expect([...src.keys()].sort()).toEqual(expectedTensors({ ...c, layout: 'bfl' }).map((t) => t.name).sort());
    expect(src.get('double_blocks.0.txt_attn.qkv.weight')!.parts.map((p) => p.tensor)).toEqual([
      'transformer_blocks.0.attn.add_q_proj.weight', 'transformer_blocks.0.attn.add_k_proj.weight', 'transformer_blocks.0.attn.add_v_proj.weight',
    ]);
    expect(src.get('single_blocks.1.linear1.bias')!.parts.map((p) => p.tensor)).toEqual([
      'single_transformer_blocks.1.attn.to_q.bias', 'single_transformer_blocks.1.attn.to_k.bias', 'single_transformer_blocks.1.attn.to_v.bias', 'single_transformer_blocks.1.proj_mlp.bias',
    ]);
    expect(src.get('final_layer.adaLN_modulation.1.weight')!.parts).toEqual([
      { tensor: 'norm_out.linear.weight', rowStart: 64, rowEnd: 128 }, { tensor: 'norm_out.linear.weight', rowStart: 0, rowEnd: 64 },
    ]);
  });

  it('fuses SD3 q/k/v into to_qkv, to_added_qkv and attn2.to_qkv', () => {
    const names = sd3WeightSources(tinySd3Config(true)).map((s) => s.name);
    expect(names).toContain('transformer_blocks.0.attn.to_qkv.weight');
    expect(names).toContain('transformer_blocks.2.attn.to_added_qkv.bias');
    expect(names).toContain('transformer_blocks.1.attn2.to_qkv.weight');
    expect(names).not.toContain('transformer_blocks.2.attn2.to_qkv.weight');
    expect(names.some((n) => /\.(to_q|to_k|to_v|add_q_proj)\./.test(n))).toBe(false);
  });
});
