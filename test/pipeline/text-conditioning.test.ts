// Prompt -> transformer text inputs against diffusers' own FluxPipeline.encode_prompt and
// StableDiffusion3Pipeline.encode_prompt (float64 tiny encoders; bench/reference/make_encoder_goldens.py), and the
// embedding cache.
import { describe, expect, it } from 'vitest';
import { errorStats, testContext } from '../helpers/gpu.js';
import { EmbeddingCache, conditioningKey } from '../../src/pipeline/embedding-cache.js';
import { TextConditioner, encodeFluxPrompt, encodeSd3Prompt, textEncoderPathsFromFolder } from '../../src/pipeline/text-conditioning.js';
import { mkdtemp, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { ENC, F16_U, get, readEncoderGolden } from '../models/encoder-goldens.js';

const BOUND = 4 * F16_U;

const FLUX_PATHS = {
  family: 'flux' as const,
  encoders: { clipL: `${ENC}/clip-l`, t5: `${ENC}/t5` },
  tokenizers: { clipL: `${ENC}/tokenizers/clip`, t5: `${ENC}/tokenizers/t5` },
};
const SD3_PATHS = {
  family: 'sd3' as const,
  encoders: { clipL: `${ENC}/clip-l-proj`, clipG: `${ENC}/clip-g`, t5: `${ENC}/t5` },
  tokenizers: { clipL: `${ENC}/tokenizers/clip`, clipG: `${ENC}/tokenizers/clip-g`, t5: `${ENC}/tokenizers/t5` },
};

function close(got: Float32Array, want: Float32Array | Int32Array, what: string): void {
  expect(got.length, `${what} length`).toBe(want.length);
  const e = errorStats(got, want);
  expect(e.nonFinite).toBe(0);
  expect(e.relL2, `${what} relL2 ${e.relL2}`).toBeLessThan(BOUND);
}

describe('text conditioning equals diffusers encode_prompt', async () => {
  const { tensors: gold, metadata } = await readEncoderGolden('pipeline-golden.safetensors');
  const prompts = JSON.parse(metadata.prompts) as Record<string, string>;

  it('FLUX: T5 context [max_sequence_length, d] and CLIP-L pooled', async () => {
    const ctx = await testContext();
    const tc = await TextConditioner.load(ctx, FLUX_PATHS);
    try {
      for (const [k, p] of Object.entries(prompts)) {
        const out = await encodeFluxPrompt(tc, p, { maxSequenceLength: Number(metadata.flux_max_sequence_length) });
        expect(out.tokens).toBe(48);
        close(out.context, get(gold, `flux.${k}.txt`).data, `flux ${k} txt`);
        close(out.pooled, get(gold, `flux.${k}.pooled`).data, `flux ${k} pooled`);
        if (k === 'p1') expect(out.truncated.t5).toBeGreaterThan(0); // the long prompt is cut like diffusers does
      }
      await expect(tc.encode(prompts.p1, { maxSequenceLength: 48, allowTruncation: false })).rejects.toThrow(/tokens too long for CLIP/);
      await expect(tc.encode('x', { maxSequenceLength: 513 })).rejects.toThrow(/maxSequenceLength 513/);
    } finally {
      tc.destroy();
    }
  });

  it('SD3: CLIP-L/G penultimate padded and joined with T5, pooled text_embeds concatenated, negative prompt', async () => {
    const ctx = await testContext();
    const tc = await TextConditioner.load(ctx, SD3_PATHS, { t5Memory: 'unload' });
    try {
      const L = Number(metadata.sd3_max_sequence_length);
      for (const [k, p] of Object.entries(prompts)) {
        const out = await encodeSd3Prompt(tc, p, { maxSequenceLength: L });
        expect(out.tokens).toBe(77 + L);
        close(out.context, get(gold, `sd3.${k}.txt`).data, `sd3 ${k} txt`);
        close(out.pooled, get(gold, `sd3.${k}.pooled`).data, `sd3 ${k} pooled`);
        const neg = await encodeSd3Prompt(tc, metadata.negative, { maxSequenceLength: L });
        close(neg.context, get(gold, `sd3.${k}.neg_txt`).data, `sd3 ${k} negative txt`);
        close(neg.pooled, get(gold, `sd3.${k}.neg_pooled`).data, `sd3 ${k} negative pooled`);
        // The CLIP part is zero-padded from 32 + 32 features to the T5 width (80).
        const width = out.context.length / out.tokens;
        expect(width).toBe(80);
        expect(out.context.subarray(64, 80).every((v) => v === 0)).toBe(true);
      }
      expect(tc.cache!.stats.hits).toBeGreaterThan(0); // the negative prompt was encoded once
    } finally {
      tc.destroy();
    }
  });

  it('rejects an SD3 set without CLIP-G and a FLUX set without T5', async () => {
    const ctx = await testContext();
    await expect(TextConditioner.load(ctx, { ...SD3_PATHS, encoders: { clipL: SD3_PATHS.encoders.clipL } })).rejects.toThrow(/SD3 needs CLIP-G/);
    await expect(TextConditioner.load(ctx, { ...FLUX_PATHS, encoders: { clipL: FLUX_PATHS.encoders.clipL } })).rejects.toThrow(/FLUX needs the T5/);
    await expect(TextConditioner.load(ctx, { ...SD3_PATHS, encoders: { ...SD3_PATHS.encoders, clipL: `${ENC}/clip-l` } })).rejects.toThrow(/text_projection/);
  });
});

describe('embedding cache', () => {
  const entry = (n: number) => ({ context: new Float32Array(n), tokens: 1, pooled: new Float32Array(4) });

  it('evicts least recently used entries by bytes and counts hits', async () => {
    const c = new EmbeddingCache(3 * (400 + 16));
    c.set('a', entry(100));
    c.set('b', entry(100));
    c.set('c', entry(100));
    expect(c.get('a')).toBeDefined(); // a is now the most recent
    c.set('d', entry(100));
    expect(c.get('b')).toBeUndefined();
    expect(c.get('a')).toBeDefined();
    expect(c.stats.evictions).toBe(1);
    c.set('huge', entry(10_000)); // larger than the cache: not kept, nothing evicted
    expect(c.get('huge')).toBeUndefined();
    expect(c.stats.entries).toBe(3);
  });

  it('shares one computation between concurrent callers and does not cache failures', async () => {
    const c = new EmbeddingCache();
    let calls = 0;
    const slow = () => new Promise<ReturnType<typeof entry>>((r) => setTimeout(() => r(entry(8)), 10)).finally(() => calls++);
    const [x, y] = await Promise.all([c.getOrCompute('k', slow), c.getOrCompute('k', slow)]);
    expect(x).toBe(y);
    expect(calls).toBe(1);
    await expect(c.getOrCompute('bad', () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(c.get('bad')).toBeUndefined();
    expect(() => new EmbeddingCache(-1)).toThrow(/maxBytes/);
  });

  it('keys differ by model, prompt and settings, and not by settings order', () => {
    const k = (o: Partial<Parameters<typeof conditioningKey>[0]>) => conditioningKey({ model: 'm', family: 'flux', prompts: ['a', 'a'], settings: { L: 512, t: true }, ...o });
    expect(k({})).toBe(k({ settings: { t: true, L: 512 } }));
    expect(k({})).not.toBe(k({ settings: { L: 256, t: true } }));
    expect(k({})).not.toBe(k({ prompts: ['a', 'b'] }));
    expect(k({})).not.toBe(k({ model: 'n' }));
  });
});

describe('text encoders of a model folder', () => {
  it('finds them in a diffusers FluxPipeline / SD3 folder (no transformer needed) and names what is missing', async () => {
    const root = await mkdtemp(join(tmpdir(), 'flux-'));
    await writeFile(join(root, 'model_index.json'), JSON.stringify({ _class_name: 'FluxPipeline' }));
    await expect(textEncoderPathsFromFolder(root)).rejects.toThrow(/missing text_encoder\/, tokenizer\/, text_encoder_2\/, tokenizer_2\//);
    for (const [link, target] of [['text_encoder', 'clip-l'], ['tokenizer', 'tokenizers/clip'], ['text_encoder_2', 't5'], ['tokenizer_2', 'tokenizers/t5']]) {
      await symlink(resolve(ENC, target), join(root, link));
    }
    const p = await textEncoderPathsFromFolder(root);
    expect(p.family).toBe('flux');
    expect(p.defaultMaxSequenceLength).toBe(512);
    expect(p.encoders.t5).toBe(join(root, 'text_encoder_2'));
    const sd3 = await mkdtemp(join(tmpdir(), 'sd3-'));
    await writeFile(join(sd3, 'model_index.json'), JSON.stringify({ _class_name: 'StableDiffusion3Pipeline', text_encoder_3: [null, null], tokenizer_3: [null, null] }));
    for (const [link, target] of [['text_encoder', 'clip-l-proj'], ['tokenizer', 'tokenizers/clip'], ['text_encoder_2', 'clip-g'], ['tokenizer_2', 'tokenizers/clip-g']]) {
      await symlink(resolve(ENC, target), join(sd3, link));
    }
    const q = await textEncoderPathsFromFolder(sd3);
    expect(q.family).toBe('sd3');
    expect(q.encoders.t5).toBeNull(); // SD3 without T5: the context's T5 part is zeros
    const ctx = await testContext();
    const tc = await TextConditioner.load(ctx, q, { jointAttentionDim: 80 });
    try {
      const out = await tc.encode('a cat', { maxSequenceLength: 10 });
      expect(out.tokens).toBe(87);
      expect(out.context.subarray(77 * 80).every((v) => v === 0)).toBe(true);
    } finally {
      tc.destroy();
    }
  });

  it('explains an incomplete FLUX single-file set', async () => {
    const root = await mkdtemp(join(tmpdir(), 'bfl-'));
    await expect(textEncoderPathsFromFolder(root)).rejects.toThrow(/no T5 \(t5xxl_\*\.safetensors\) file/);
    await expect(textEncoderPathsFromFolder(join(root, 'nope'))).rejects.toThrow(/no such folder/);
  });
});
