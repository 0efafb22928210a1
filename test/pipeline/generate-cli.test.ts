// `dit generate` flag handling and model-folder errors, in process (commander + the real action): every bad
// input fails with a message naming the problem and the fix, before or instead of any GPU work.
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { outputPath, parseSize, registerGenerate } from '../../src/cli/generate.js';
import { resolveModelFolder } from '../../src/pipeline/model-folder.js';
import { generationDefaults } from '../../src/pipeline/pipeline.js';
import { flux1DevConfig } from '../../src/models/flux/index.js';
import { sd3MediumConfig } from '../../src/models/sd3/index.js';
import { readPngText } from '../../src/pipeline/png-text.js';
import { readImage } from '../../src/pipeline/image-io.js';

const FIX = new URL('../fixtures/tiny-pipelines/', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'dit-gen-'));

async function run(...args: string[]): Promise<void> {
  const program = new Command();
  program.exitOverride();
  registerGenerate(program);
  await program.parseAsync(['node', 'dit', 'generate', ...args]);
}

describe('dit generate flags', () => {
  it('parses sizes and numbers output files', () => {
    expect(parseSize({ size: '1024x768' })).toEqual({ width: 1024, height: 768 });
    expect(parseSize({ size: '512' })).toEqual({ width: 512, height: 512 });
    expect(parseSize({ size: '512x512', width: '256' })).toEqual({ width: 256, height: 512 });
    expect(() => parseSize({ size: '1024by768' })).toThrow(/--size must look like 1024x1024/);
    expect(() => parseSize({ width: '-3' })).toThrow(/--width must be an integer/);
    expect(outputPath('out.png', 0, 1)).toBe('out.png');
    expect(outputPath('dir/out.png', 4, 12)).toBe('dir/out-005.png');
  });

  const notImage = join(dir, 'notes.png');
  writeFileSync(notImage, 'plain text');
  const emptyPrompts = join(dir, 'empty.txt');
  writeFileSync(emptyPrompts, '# only a comment\n\n');
  const bad: [string, string[], RegExp][] = [
    ['no prompt', [], /give a prompt/],
    ['prompt and --prompts', ['x', '--prompts', emptyPrompts], /no prompts|either a prompt/],
    ['empty prompts file', ['--prompts', emptyPrompts], /no prompts/],
    ['missing prompts file', ['--prompts', join(dir, 'nope.txt')], /cannot read/],
    ['unknown output type', ['x', '-o', 'out.bmp'], /\.png, \.webp/],
    ['bad steps', ['x', '--steps', '2.5'], /--steps must be an integer/],
    ['bad guidance', ['x', '--guidance', 'high'], /--guidance must be a number/],
    ['bad seed', ['x', '--seed', '-1'], /--seed must be an integer/],
    ['strength without image', ['x', '--strength', '0.5'], /--strength is for image to image/],
    ['image without strength', ['x', '--image', notImage], /needs --strength/],
    ['non-image --image', ['x', '--image', notImage, '--strength', '0.5'], /not an image/],
    ['missing model', ['x', '--model', join(dir, 'no-model')], /no such folder/],
    ['single file as model', ['x', '--model', notImage], /single file is only the transformer/],
  ];
  for (const [name, args, re] of bad) {
    it(name, async () => {
      await expect(run(...args)).rejects.toThrow(re);
    });
  }
});

describe('model folders', () => {
  it('resolves the diffusers pipeline folders', async () => {
    const f = await resolveModelFolder(`${FIX}flux`);
    expect([f.layout, f.pipelineClass, f.family]).toEqual(['diffusers', 'FluxPipeline', 'flux']);
    expect(f.textEncoders.t5).toMatch(/text_encoder_2$/);
    expect(f.schedulerConfig?.use_dynamic_shifting).toBe(true);
    const s = await resolveModelFolder(`${FIX}sd3`);
    expect([s.pipelineClass, s.family]).toEqual(['StableDiffusion3Pipeline', 'sd3']);
    expect(s.tokenizers.clipG).toMatch(/tokenizer_2$/);
  });

  it('names every missing component', async () => {
    const d = join(dir, 'broken');
    cpSync(`${FIX}flux`, d, { recursive: true });
    rmSync(join(d, 'vae'), { recursive: true });
    rmSync(join(d, 'tokenizer_2'), { recursive: true });
    await expect(resolveModelFolder(d)).rejects.toThrow(/missing vae\/ \(the autoencoder\), tokenizer_2\/ \(tokenizer t5\)/);
    writeFileSync(join(d, 'model_index.json'), JSON.stringify({ _class_name: 'StableDiffusionXLPipeline' }));
    await expect(resolveModelFolder(d)).rejects.toThrow(/StableDiffusionXLPipeline' is not supported/);
  });

  it('a BFL file set lists what is missing', async () => {
    const d = join(dir, 'bfl');
    cpSync(`${FIX}flux/tokenizer`, join(d, 'tokenizer'), { recursive: true });
    writeFileSync(join(d, 'flux1-dev.safetensors'), '');
    await expect(resolveModelFolder(d)).rejects.toThrow(/missing autoencoder \(e\.g\. ae\.safetensors\), T5 text encoder .*CLIP-L text encoder .*tokenizer_2\//);
    for (const f of ['ae.safetensors', 't5xxl_fp16.safetensors', 'clip_l.safetensors']) writeFileSync(join(d, f), '');
    cpSync(`${FIX}flux/tokenizer_2`, join(d, 'tokenizer_2'), { recursive: true });
    const f = await resolveModelFolder(d);
    expect([f.layout, f.family]).toEqual(['bfl', 'flux']);
    expect(f.transformer).toMatch(/flux1-dev\.safetensors$/);
    writeFileSync(join(d, 'flux1-schnell.safetensors'), '');
    await expect(resolveModelFolder(d)).rejects.toThrow(/several files could be the FLUX transformer/);
  });
});

describe('dit generate end to end (tiny FLUX folder)', () => {
  it('--prompts writes numbered PNGs with seeds and settings in their metadata; --json reports stage times', async () => {
    const prompts = join(dir, 'prompts.txt');
    writeFileSync(prompts, 'a red circle on a blue background, top left\n# skipped\na green square on a gray background, center\n');
    const out = join(dir, 'shapes.png');
    const lines: string[] = [];
    const log = console.log;
    console.log = (m: string) => lines.push(m);
    try {
      await run('--prompts', prompts, '--model', `${FIX}flux`, '--size', '48x32', '--steps', '2', '--seed', '5', '--max-sequence-length', '64', '-o', out, '--json');
    } finally {
      console.log = log;
    }
    expect(existsSync(join(dir, 'shapes.png'))).toBe(false);
    const reports = lines.map((l) => JSON.parse(l) as { output: string; seed: number; times: Record<string, number> });
    expect(reports.map((r) => [r.output, r.seed])).toEqual([[join(dir, 'shapes-001.png'), 5], [join(dir, 'shapes-002.png'), 6]]);
    for (const k of ['textMs', 'denoiseMs', 'decodeMs', 'totalMs', 'writeMs', 'loadMs']) expect(reports[0].times[k]).toBeGreaterThanOrEqual(0);
    const meta = readPngText(new Uint8Array(readFileSync(join(dir, 'shapes-002.png'))));
    expect(meta.prompt).toBe('a green square on a gray background, center');
    expect(meta.seed).toBe('6');
    expect(JSON.parse(meta.settings)).toMatchObject({ width: 48, height: 32, steps: 2, guidance: 3.5, max_sequence_length: 64 });
    // FLUX refuses a negative prompt; sizes the model cannot take are named.
    await expect(run('x', '--model', `${FIX}flux`, '--negative', 'blurry', '--size', '48x32', '--steps', '1')).rejects.toThrow(/--negative is for SD3/);
    await expect(run('x', '--model', `${FIX}flux`, '--size', '46x32', '--steps', '1')).rejects.toThrow(/width 46 is not divisible by 4/);
  });

  it('--int8 runs the W8A8 linears and records them in the settings; an SD3 folder refuses it by name', async () => {
    const out = join(dir, 'int8.png');
    await run('a red circle', '--model', `${FIX}flux`, '--size', '48x32', '--steps', '2', '--seed', '5', '--max-sequence-length', '64', '-o', out, '--int8', '--no-progress');
    const meta = readPngText(new Uint8Array(readFileSync(out)));
    expect(JSON.parse(meta.settings)).toMatchObject({ linears: 'w8a8 int8' });
    await expect(run('x', '--model', `${FIX}sd3`, '--size', '32x32', '--steps', '1', '--int8', '--no-progress')).rejects.toThrow(/int8 linears are implemented for FLUX.*drop --int8/);
  });

  it('--first-block-cache: threshold 0 gives the uncached image, a huge one reuses every step after the first; bad values and SD3 are refused by name', async () => {
    const common = ['a red circle', '--model', `${FIX}flux`, '--size', '48x32', '--steps', '4', '--seed', '7', '--max-sequence-length', '64', '--no-progress'];
    const plain = join(dir, 'fbc-plain.png');
    const zero = join(dir, 'fbc-zero.png');
    const all = join(dir, 'fbc-all.png');
    await run(...common, '-o', plain);
    await run(...common, '-o', zero, '--first-block-cache', '0');
    await run(...common, '-o', all, '--first-block-cache', '1e9');
    const settings = (f: string) => JSON.parse(readPngText(new Uint8Array(readFileSync(f))).settings);
    expect(settings(zero)).toMatchObject({ first_block_cache: 'threshold 0: 0 of 4 steps reused' });
    expect(settings(all)).toMatchObject({ first_block_cache: 'threshold 1000000000: 3 of 4 steps reused' });
    expect(settings(plain).first_block_cache).toBeUndefined();
    const [a, b, c] = await Promise.all([plain, zero, all].map((f) => readImage(f)));
    const maxDiff = (x: typeof a, y: typeof a) => x.data.reduce((m, v, i) => Math.max(m, Math.abs(v - y.data[i])), 0);
    // Threshold 0 runs every block through the split graphs: the same image up to one 8-bit level (f32 rounding of
    // img1 + (out - img1)); reusing 3 of 4 steps changes it.
    expect(maxDiff(a, b)).toBeLessThanOrEqual(1 / 255 + 1e-6);
    expect(maxDiff(a, c)).toBeGreaterThan(2 / 255);
    await expect(run(...common, '-o', zero, '--first-block-cache', 'fast')).rejects.toThrow(/--first-block-cache must be a number/);
    await expect(run(...common, '-o', zero, '--first-block-cache', '-0.1')).rejects.toThrow(/--first-block-cache must be a threshold >= 0/);
    await expect(run('x', '--model', `${FIX}sd3`, '--size', '32x32', '--steps', '1', '--first-block-cache', '0.1', '--no-progress')).rejects.toThrow(/first-block cache is implemented for FLUX.*drop --first-block-cache/);
  });
});

describe('generation defaults', () => {
  const folder = { root: 'm', vaeSampleSize: 1024, t5MaxLength: 512, defaults: null };
  it('are the diffusers pipelines\' per family', () => {
    expect(generationDefaults(flux1DevConfig('bfl', true), folder, 16)).toEqual({ steps: 28, guidance: 3.5, width: 1024, height: 1024, maxSequenceLength: 512 });
    expect(generationDefaults(flux1DevConfig('bfl', false), folder, 16)).toEqual({ steps: 4, guidance: null, width: 1024, height: 1024, maxSequenceLength: 256 });
    expect(generationDefaults(sd3MediumConfig('3'), folder, 16)).toEqual({ steps: 28, guidance: 7, width: 1024, height: 1024, maxSequenceLength: 256 });
  });
  it('follow the folder: VAE sample size, T5 tokenizer length, tetriserve.json', () => {
    const small = { root: 'm', vaeSampleSize: 128, t5MaxLength: 32, defaults: null };
    expect(generationDefaults(flux1DevConfig('bfl', true), small, 16)).toMatchObject({ width: 128, height: 128, maxSequenceLength: 32 });
    expect(generationDefaults(flux1DevConfig('bfl', true), { ...small, vaeSampleSize: 100 }, 16).width).toBe(1024);
    const own = { ...small, defaults: { steps: 20, guidance: null, width: 256 } };
    expect(generationDefaults(flux1DevConfig('bfl', true), own, 16)).toEqual({ steps: 20, guidance: null, width: 256, height: 128, maxSequenceLength: 32 });
    expect(() => generationDefaults(flux1DevConfig('bfl', true), { ...small, defaults: { steps: 'many' } }, 16)).toThrow(/tetriserve.json: steps must be a number/);
  });
});
