// T5 and CLIP families on name/shape listings of the real full-size checkpoints (no tensor data): the file layouts
// people have (transformers folders, ComfyUI t5xxl_fp16 / clip_l / clip_g, bundle prefixes), config inference
// from shapes, the config.json cross-check, and the errors for checkpoints the engine does not read.
import { describe, expect, it } from 'vitest';
import { clipFamily } from '../../src/models/clip/family.js';
import { clipGConfig, clipLConfig, type ClipConfig } from '../../src/models/clip/config.js';
import { t5Family } from '../../src/models/t5/family.js';
import { t5XxlConfig } from '../../src/models/t5/config.js';
import type { ModelFamily } from '../../src/models/family.js';

type Listing = Parameters<ModelFamily['detect']>[0];

function listing(tensors: { name: string; shape: number[] }[], configJson: Record<string, unknown> | null = null, description = 'ck.safetensors'): Listing {
  const m = new Map(tensors.map((t) => [t.name, t.shape]));
  return {
    listTensors: () => [...m.keys()],
    has: (n) => m.has(n),
    info: (n) => ({ shape: m.get(n)!, file: description }),
    configJson,
    description,
  };
}

describe('T5 family', () => {
  const xxl = t5XxlConfig();
  const names = t5Family.expectedTensors(xxl);

  it('reads T5-XXL from its names and shapes alone (ComfyUI t5xxl_fp16.safetensors: shared.weight, no config.json)', () => {
    const ck = listing(names);
    expect(t5Family.detect(ck)).toBe('transformers');
    expect(t5Family.inferConfig(ck, 'transformers')).toEqual(xxl);
    expect(names.filter((t) => t.name.includes('relative_attention_bias'))).toHaveLength(1);
    expect(t5Family.describe(xxl)).toMatch(/24 blocks, d_model 4096, 64x64 heads, d_ff 10240/);
    // q/k/v fused row-wise, in that order
    const qkv = t5Family.weightSources(xxl).find((s) => s.name === 'block.3.qkv')!;
    expect(qkv.shape).toEqual([3 * 4096, 4096]);
    expect(qkv.parts.map((p) => p.tensor.split('.').slice(-2, -1)[0])).toEqual(['q', 'k', 'v']);
  });

  it('accepts encoder.embed_tokens.weight and a bundle prefix', () => {
    const prefixed = names.map((t) => ({ name: `text_encoders.t5xxl.transformer.${t.name.replace(/^shared\.weight$/, 'encoder.embed_tokens.weight')}`, shape: t.shape }));
    const ck = listing(prefixed);
    const layout = t5Family.detect(ck)!;
    expect(layout).toBe('prefix:text_encoders.t5xxl.transformer.');
    const cfg = t5Family.inferConfig(ck, layout);
    expect(cfg.embedName).toBe('encoder.embed_tokens.weight');
    expect(t5Family.expectedTensors(cfg).every((t) => ck.has(t.name))).toBe(true);
  });

  it('cross-checks config.json and rejects T5 v1.0 and non-gated configs', () => {
    expect(() => t5Family.inferConfig(listing(names, { d_ff: 4096 }), 'transformers')).toThrow(/config\.json says d_ff=4096 but the tensors say 10240/);
    expect(() => t5Family.inferConfig(listing(names, { feed_forward_proj: 'relu' }), 'transformers')).toThrow(/only T5 v1.1's "gated-gelu"/);
    const v10 = [...names, { name: 'encoder.block.0.layer.1.DenseReluDense.wi.weight', shape: [16384, 4096] }];
    expect(() => t5Family.detect(listing(v10))).toThrow(/T5 v1\.0 checkpoint/);
    expect(t5Family.detect(listing(clipFamily.expectedTensors(clipLConfig())))).toBeNull();
  });

  it('names a missing block and a mis-shaped tensor', () => {
    const gap = names.filter((t) => !t.name.startsWith('encoder.block.5.'));
    expect(() => t5Family.inferConfig(listing(gap), 'transformers')).toThrow(/block encoder\.block\.5 is missing/);
    const bad = names.map((t) => (t.name === 'encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight' ? { ...t, shape: [32, 60] } : t));
    expect(() => t5Family.inferConfig(listing(bad), 'transformers')).toThrow(/not a multiple of the 60 heads/);
  });
});

describe('CLIP family', () => {
  const roundTrip = (cfg: ClipConfig, withConfig: boolean) => {
    const ck = listing(clipFamily.expectedTensors(cfg).filter((t) => !t.optional), withConfig ? clipFamily.configJson!(cfg) : null);
    const layout = clipFamily.detect(ck)!;
    return clipFamily.inferConfig(ck, layout);
  };

  it('ComfyUI clip_l.safetensors / clip_g.safetensors (no config.json): heads and activation from the width', () => {
    expect(roundTrip(clipLConfig(), false)).toEqual(clipLConfig());
    expect(roundTrip(clipGConfig(), false)).toEqual(clipGConfig());
    expect(clipFamily.describe(clipGConfig())).toMatch(/OpenCLIP bigG\/14: 32 layers, width 1280, 20 heads, MLP 5120 \(gelu\).*projection 1280/);
  });

  it('transformers folders: config.json gives heads, activation and the pooling rule', () => {
    const cfg = { ...clipLConfig(true), eosTokenId: 49407 };
    expect(roundTrip(cfg, true)).toEqual(cfg);
    const ck = listing(clipFamily.expectedTensors(clipLConfig()), { ...clipFamily.configJson!(clipLConfig()), num_hidden_layers: 24 });
    expect(() => clipFamily.inferConfig(ck, 'transformers')).toThrow(/num_hidden_layers=24 but the tensors say 12/);
  });

  it('transformers-5 bare names and bundle prefixes; text_projection beside text_model', () => {
    const bare = clipFamily.expectedTensors(clipLConfig()).map((t) => ({ ...t, name: t.name.replace(/^text_model\./, '') }));
    expect(clipFamily.detect(listing(bare))).toBe('bare');
    const pre = clipFamily.expectedTensors(clipGConfig()).map((t) => ({ ...t, name: `conditioner.clip_g.${t.name}` }));
    const ck = listing(pre);
    const layout = clipFamily.detect(ck)!;
    expect(layout).toBe('prefix:conditioner.clip_g.text_model.');
    const cfg = clipFamily.inferConfig(ck, layout);
    expect(cfg.projectionDim).toBe(1280);
    expect(clipFamily.weightSources(cfg).find((s) => s.name === 'text_projection')!.parts[0].tensor).toBe('conditioner.clip_g.text_projection.weight');
  });

  it('refuses a bundle holding two CLIPs (SD3 all-in-one) with the roots named', () => {
    const both = [
      ...clipFamily.expectedTensors(clipLConfig()).map((t) => ({ ...t, name: `text_encoders.clip_l.transformer.${t.name}` })),
      ...clipFamily.expectedTensors(clipGConfig()).map((t) => ({ ...t, name: `text_encoders.clip_g.transformer.${t.name}` })),
    ];
    expect(() => clipFamily.detect(listing(both))).toThrow(/holds 2 CLIP text encoders \('text_encoders\.clip_l\.transformer\.text_model\.', 'text_encoders\.clip_g/);
  });

  it('rejects OpenCLIP-format files, a vision tower alone and an unknown width without config.json', () => {
    const openclip = listing([{ name: 'transformer.resblocks.0.attn.in_proj_weight', shape: [3840, 1280] }, { name: 'token_embedding.weight', shape: [49408, 1280] }]);
    expect(() => clipFamily.detect(openclip)).toThrow(/OpenCLIP-format text encoder/);
    expect(clipFamily.detect(listing([{ name: 'vision_model.encoder.layers.0.self_attn.q_proj.weight', shape: [1024, 1024] }]))).toBeNull();
    const odd = { ...clipLConfig(), hidden: 896, numHeads: 14 };
    expect(() => roundTrip(odd, false)).toThrow(/width 896 is not a known CLIP text model/);
  });
});
