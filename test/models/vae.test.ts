// AutoencoderKL decode / encode against diffusers' float64 goldens (bench/reference/make_vae_goldens.py) on the
// tiny random checkpoints in test/fixtures/tiny-vae-*: FLUX-like (16 latent channels, shift), SD3-like (2 resnets
// per level, 8 groups), SD-like (quant convs, 4 latent channels), all at odd sizes; the same FLUX-like weights in
// BFL's ae.safetensors layout (names from ae-names.json, which the Python script checked against diffusers' own
// converter); poisoned outputs; bad checkpoints.
import { mkdtemp, rm, writeFile, mkdir, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compile } from '../../src/graph/executor.js';
import { CheckpointError, SafetensorsFile } from '../../src/loading/safetensors.js';
import { writeSafetensors } from '../../src/loading/safetensors-writer.js';
import { autoencoderKl, buildVaeDecoder, inspectVae, loadVae, VaeRuntime, type VaeConfig } from '../../src/models/vae/index.js';
import { tileStarts } from '../../src/models/vae/tiling.js';
import { fromF16Array } from '../../src/util/f16.js';
import { runCalls } from '../../src/gpu/kernel.js';
import { conv2dCalls } from '../../src/kernels-wgsl/conv2d-gemm.js';
import { errorStats, freshSeed, POISON_F32, poisonedTensor, randn, readTensor, rng, testContext, uploadTensor } from '../helpers/gpu.js';

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

describe('encode sampling', () => {
  it('latents = ((mean + exp(logvar / 2) * noise) - shift) * scaling; seeded noise repeats; the mode is the mean', async () => {
    const ctx = await testContext();
    const root = join(FIX, 'tiny-vae-flux');
    const gold = await readF32(join(root, 'golden.safetensors'));
    const vae = await VaeRuntime.load(ctx, root, { part: 'encoder' });
    try {
      const img = need(gold, 'input.image');
      const [, , H, W] = img.shape;
      const mode = await vae.encode(img.data, H, W);
      const n = mode.mean.length;
      const noise = Float32Array.from(randn(rng(freshSeed()), n, 1, 'f32'));
      const s = await vae.encode(img.data, H, W, { noise });
      const { scalingFactor: sf, shiftFactor: sh } = vae.config;
      const want = mode.mean.map((m, i) => (m + Math.exp(0.5 * mode.logvar[i]) * noise[i] - sh) * sf);
      expect(errorStats(s.latents, want).maxAbs).toBeLessThan(1e-5);
      const a = await vae.encode(img.data, H, W, { seed: 7 });
      const b = await vae.encode(img.data, H, W, { seed: 7 });
      const c = await vae.encode(img.data, H, W, { seed: 8 });
      expect(errorStats(a.latents, b.latents).maxAbs).toBe(0);
      expect(errorStats(a.latents, c.latents).maxAbs).toBeGreaterThan(0.01);
      expect(errorStats(a.latents, mode.latents).maxAbs).toBeGreaterThan(0.01);
      await expect(vae.encode(img.data, H, W, { noise: new Float32Array(3) })).rejects.toThrow(/noise has 3 values, expected \[16, 6, 9\]/);
      await expect(vae.decode(new Float32Array(16), 1, 1)).rejects.toThrow(/loaded with part 'encoder'/);
      const big = 4096; // 4096^2 x 32 ch x 4 B = 2 GiB: over every adapter's binding limit
      await expect(vae.encode({ length: 3 * big * big } as unknown as Float32Array, big, big)).rejects.toThrow(/over this adapter's .* storage-binding limit \(tiled encode is not implemented\); resize/);
    } finally {
      vae.destroy();
    }
  });
});

describe('tiled decode', () => {
  // The latent-resolution head (conv_in, mid block with its all-pixel attention) runs untiled; the upsampling tail
  // runs per tile. With statsPasses 1 each tile's GroupNorm layers use the tile's own statistics (as diffusers'
  // tiled_decode, which also tiles the mid block); with 2 (the default) they use the whole image's, measured in a
  // first pass. What remains is the tiles' zero padding reaching inward from their edges (the tail's receptive
  // field, several latent pixels), which the blend weights hide where the overlap is wide enough. Amounts depend
  // on the model; tested here: one tile is the untiled decode; whole-image statistics cut the error; the blend bands
  // add little; no seam where a hard cut shows one. (Exactness of the blending with a local decoder:
  // vae-tiling.test.ts.)
  it('one covering tile = untiled; whole-image GroupNorm statistics; blend bands close to interiors; no visible seam (a hard cut shows one)', async () => {
    const ctx = await testContext();
    const vae = await VaeRuntime.load(ctx, join(FIX, process.env.VAE_TILE_FIXTURE ?? 'tiny-vae-sd3'), { part: 'decoder', cachedPlans: 5 });
    try {
      const h = 14, w = 21, C = vae.config.latentChannels, T = 12, O = 6;
      const seed = freshSeed();
      const lat = Float32Array.from(randn(rng(seed), C * h * w, 1, 'f32'));
      const full = await vae.decode(lat, h, w, { tiling: false });
      const single = await vae.decode(lat, h, w, { tiling: { tile: 64, statsPasses: 1 } }); // head + one tail tile
      expect(single.tiles).toBe(1);
      expect(errorStats(single.image, full.image).maxAbs).toBeLessThan(1e-6);
      // One tile normalised with measured statistics (sums and sums of squares) instead of the GroupNorm kernel's.
      const single2 = await vae.decode(lat, h, w, { tiling: { tile: 64, statsPasses: 2 } });
      const e1 = errorStats(single2.image, full.image);
      expect(e1.nonFinite).toBe(0);
      expect(e1.relL2).toBeLessThan(2e-3);
      const own = await vae.decode(lat, h, w, { tiling: { tile: T, overlap: O, statsPasses: 1 } }); // per-tile statistics
      const tiled = await vae.decode(lat, h, w, { tiling: { tile: T, overlap: O, statsPasses: 2 } }); // whole-image statistics
      const hard = await vae.decode(lat, h, w, { tiling: { tile: T, overlap: O, statsPasses: 1, blend: false } });
      const f = vae.scale;
      const rows = tileStarts(h, T, O), cols = tileStarts(w, T, O);
      expect([rows.length, cols.length]).toEqual([2, 3]);
      expect(tiled.tiles).toBe(6);
      const H = h * f, W = w * f;
      // Seam bands: the overlaps, where two tiles blend (image pixels).
      const band = (starts: number[], n: number) => {
        const m = new Uint8Array(n);
        for (let i = 1; i < starts.length; i++) for (let p = starts[i] * f; p < (starts[i - 1] + T) * f; p++) m[p] = 1;
        return m;
      };
      const by = band(rows, H), bx = band(cols, W);
      const split = (img: Float32Array) => {
        let sn = 0, sd = 0, inN = 0, inD = 0;
        for (let c = 0; c < 3; c++) for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) {
          const i = (c * H + y) * W + x;
          const d = (img[i] - full.image[i]) ** 2, r = full.image[i] ** 2;
          if (by[y] || bx[x]) { sn += d; sd += r; } else { inN += d; inD += r; }
        }
        return { interior: Math.sqrt(inN / inD), seam: Math.sqrt(sn / sd) };
      };
      // Seam visibility: the error field (tiled - untiled) is what changes from tile to tile. Mean |horizontal step
      // of it| across each vertical cut (middle of an overlap) over its mean |horizontal step| everywhere: a hard cut
      // jumps from one tile's error to the next's; blended tiles cross over smoothly.
      const cuts = cols.slice(1).map((c0, i) => Math.floor(((c0 + cols[i] + T) * f) / 2));
      const stepRatio = (img: Float32Array) => {
        let all = 0, nAll = 0, at = 0, nAt = 0;
        const e = (i: number) => img[i] - full.image[i];
        for (let c = 0; c < 3; c++) for (let y = 0; y < H; y++) for (let x = 1; x < W; x++) {
          const d = Math.abs(e((c * H + y) * W + x) - e((c * H + y) * W + x - 1));
          all += d; nAll++;
          if (cuts.includes(x)) { at += d; nAt++; }
        }
        return at / nAt / (all / nAll);
      };
      const e1p = split(own.image), e2p = split(tiled.image);
      const r = { own: stepRatio(own.image), tiled: stepRatio(tiled.image), hard: stepRatio(hard.image) };
      console.log(`tiled decode (seed ${seed}): relL2 vs untiled in tile interiors / blend bands: per-tile statistics ` +
        `${e1p.interior.toExponential(2)} / ${e1p.seam.toExponential(2)}, whole-image statistics (2 passes) ` +
        `${e2p.interior.toExponential(2)} / ${e2p.seam.toExponential(2)}; error step ratio at cuts: ` +
        `${r.own.toFixed(2)} / ${r.tiled.toFixed(2)}, hard cut ${r.hard.toFixed(2)}`);
      for (const img of [own, tiled, hard]) expect(errorStats(img.image, full.image).nonFinite).toBe(0);
      // Model-dependent amounts (see above): regression guards, not precision claims. Measured over 33 seeds
      // (lavapipe, 2026-11-30, sd3 fixture, 12x12 tiles, overlap 6): interiors 0.04-0.11 with per-tile statistics,
      // 0.013-0.07 with whole-image ones (0.19-1.16x the per-tile error, median ~0.5: two passes make only the first
      // tail GroupNorm exact, and for some weights that is no better; 1.16x at seed 928476887 failed an earlier 1.1x
      // bound in CI); blend bands 0.7-1.16x interiors (per-tile), 1.06-1.87x (whole-image: the padding near tile
      // edges is what is left); step ratio at the cuts 0.84-1.35 per-tile, 1.13-1.83 whole-image, and 1.2-2.0x the
      // per-tile one for a hard cut.
      expect(e1p.interior).toBeLessThan(0.3);
      expect(e2p.interior).toBeLessThan(0.15);
      expect(e2p.interior).toBeLessThan(1.5 * e1p.interior);
      expect(e1p.seam).toBeLessThan(1.5 * e1p.interior); // blending adds no error of its own
      expect(e2p.seam).toBeLessThan(2.5 * e2p.interior);
      expect(r.own).toBeLessThan(1.6); // blended: little special at the cuts
      expect(r.tiled).toBeLessThan(2.2);
      expect(r.hard).toBeGreaterThan(1.1 * r.own); // the metric does see a seam when there is one
    } finally {
      vae.destroy();
    }
  });
});

describe('auto tiling', () => {
  it('tiles only when the untiled decode would exceed maxTensorBytes, with the largest tile that fits', async () => {
    const ctx = await testContext();
    // tiny-vae-flux: 4x, 32 channels at full resolution: an h x w latent needs (4h)(4w) * 32 * 4 bytes untiled.
    const vae = await VaeRuntime.load(ctx, join(FIX, 'tiny-vae-flux'), { part: 'decoder', maxTensorBytes: 150_000 });
    try {
      expect(vae.decodePeakTensorBytes(10, 13)).toBe(40 * 52 * 32 * 4);
      const lat = Float32Array.from(randn(rng(freshSeed()), 16 * 10 * 13, 1, 'f32'));
      const small = await vae.decode(lat.subarray(0, 16 * 6 * 7), 6, 7); // 24*28*128 = 86 KB: fits
      expect(small.tiles).toBe(1);
      const big = await vae.decode(lat, 10, 13); // 266 KB: over; tile 8 (131 KB) fits, 16 (524 KB) does not
      expect(big.tiles).toBe(4);
      expect(big.image.every(Number.isFinite)).toBe(true);
      await expect(vae.decode(lat, 10, 13, { tiling: false })).rejects.toThrow(/needs a 0\.25 MiB activation, over the 0\.14 MiB limit; allow tiling/);
    } finally {
      vae.destroy();
    }
  });
});

// ---- layouts and bad checkpoints ----------------------------------------------------------------------------

type RawTensor = { name: string; dtype: 'F16' | 'BF16' | 'F32'; shape: number[]; data: Uint8Array };

async function readRaw(path: string): Promise<RawTensor[]> {
  const f = await SafetensorsFile.open(path);
  try {
    const out: RawTensor[] = [];
    for (const name of f.names()) {
      const info = f.info(name);
      out.push({ name, dtype: info.dtype as RawTensor['dtype'], shape: info.shape, data: (await f.read(name)).slice() });
    }
    return out;
  } finally {
    await f.close();
  }
}

/** f16 bytes -> bf16 bytes (the fixture's values are exact in both). */
function f16ToBf16(data: Uint8Array): Uint8Array {
  const f = fromF16Array(new Uint16Array(data.buffer, data.byteOffset, data.byteLength / 2));
  const bits = new Uint32Array(f.buffer);
  const out = new Uint16Array(f.length);
  for (let i = 0; i < f.length; i++) out[i] = bits[i] >>> 16;
  return new Uint8Array(out.buffer);
}

function configFromNames(cj: Record<string, unknown>, layout: 'bfl' | 'diffusers'): VaeConfig {
  return {
    family: 'autoencoder-kl', layout, inChannels: 3, outChannels: 3, latentChannels: cj.latent_channels as number,
    blockOutChannels: cj.block_out_channels as number[], layersPerBlock: cj.layers_per_block as number, normGroups: 32,
    quantConv: false, postQuantConv: false, midAttention: true, hasEncoder: true, scalingFactor: 0.3611, shiftFactor: 0.1159,
    factorsFrom: 'config.json',
  };
}

describe('checkpoint layouts and errors', () => {
  let dir = '';
  const fluxRoot = join(FIX, 'tiny-vae-flux');
  let diffusersTensors: RawTensor[] = [];
  let fluxConfig: Record<string, unknown> = {};

  /** Writes a diffusers vae/ folder under dir/name from (modified) tensors and config; returns its path. */
  async function writeVariant(name: string, tensors: RawTensor[], config: Record<string, unknown> | null): Promise<string> {
    const d = join(dir, name, 'vae');
    await mkdir(d, { recursive: true });
    await writeSafetensors(join(d, 'diffusion_pytorch_model.safetensors'), tensors);
    if (config) await writeFile(join(d, 'config.json'), JSON.stringify(config));
    return d;
  }

  async function expectCheckpointError(path: string, pattern: RegExp): Promise<void> {
    const err = await inspectVae(path).then(() => null, (e: unknown) => e);
    expect(err, `no error for ${path}`).toBeInstanceOf(CheckpointError);
    expect((err as Error).message).toMatch(pattern);
  }

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'vae-test-'));
    diffusersTensors = await readRaw(join(fluxRoot, 'vae', 'diffusion_pytorch_model.safetensors'));
    fluxConfig = JSON.parse(await readFile(join(fluxRoot, 'vae', 'config.json'), 'utf8')) as Record<string, unknown>;
    // BFL ae.safetensors (bf16), named by ae-names.json (BFL name -> [diffusers name, BFL shape]).
    const names = JSON.parse(await readFile(join(fluxRoot, 'ae-names.json'), 'utf8')) as Record<string, [string, number[]]>;
    const byName = new Map(diffusersTensors.map((t) => [t.name, t]));
    const ae: RawTensor[] = Object.entries(names).map(([bfl, [diff, shape]]) => {
      const t = byName.get(diff);
      if (!t) throw new Error(`fixture lacks ${diff}`);
      return { name: bfl, dtype: 'BF16', shape, data: f16ToBf16(t.data) };
    });
    await mkdir(join(dir, 'bfl'), { recursive: true });
    await writeSafetensors(join(dir, 'bfl', 'ae.safetensors'), ae);
  });

  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('expectedTensors matches the BFL names diffusers converts (ae-names*.json), with and without a width change', async () => {
    for (const file of ['ae-names.json', 'ae-names-wide.json']) {
      const raw = JSON.parse(await readFile(join(fluxRoot, file), 'utf8')) as Record<string, unknown>;
      const names = (raw.names ?? raw) as Record<string, [string, number[]]>;
      const cj = (raw.config ?? fluxConfig) as Record<string, unknown>;
      const bfl = autoencoderKl.expectedTensors(configFromNames(cj, 'bfl'));
      expect(Object.fromEntries(bfl.map((t) => [t.name, t.shape]))).toEqual(Object.fromEntries(Object.entries(names).map(([b, [, s]]) => [b, s])));
      const diff = autoencoderKl.expectedTensors(configFromNames(cj, 'diffusers'));
      expect(new Set(diff.map((t) => t.name))).toEqual(new Set(Object.values(names).map(([d]) => d)));
    }
  });

  it('BFL ae.safetensors (bf16, no config): FLUX factors, same config, same outputs as the diffusers folder', async () => {
    const ctx = await testContext();
    const d = await inspectVae(join(fluxRoot, 'vae'));
    const b = await inspectVae(join(dir, 'bfl')); // a folder holding ae.safetensors
    expect(b.config.layout).toBe('bfl');
    expect([b.config.scalingFactor, b.config.shiftFactor]).toEqual([0.3611, 0.1159]);
    expect({ ...b.config, layout: 'diffusers', factorsFrom: '' }).toEqual({ ...d.config, factorsFrom: '' });
    const gold = await readF32(join(fluxRoot, 'golden.safetensors'));
    const vae = await VaeRuntime.load(ctx, join(dir, 'bfl', 'ae.safetensors'));
    try {
      const lat = need(gold, 'input.latents');
      const dec = await vae.decode(lat.data, lat.shape[2], lat.shape[3]);
      expect(errorStats(dec.image, need(gold, 'output.image').data).relL2).toBeLessThan(DECODE_BOUND);
      const img = need(gold, 'input.image');
      const enc = await vae.encode(img.data, img.shape[2], img.shape[3]);
      expect(errorStats(enc.latents, need(gold, 'output.latents').data).relL2).toBeLessThan(ENCODE_BOUND);
    } finally {
      vae.destroy();
    }
  });

  it('poisoned arenas: every activation is written before it is read', async () => {
    const ctx = await testContext();
    const gold = await readF32(join(fluxRoot, 'golden.safetensors'));
    const loaded = await loadVae(ctx, fluxRoot, { part: 'decoder' });
    const lat = need(gold, 'input.latents');
    const [, C, h, w] = lat.shape;
    const plan = await compile(ctx, buildVaeDecoder(loaded.config, h, w), loaded.store);
    try {
      // Fill every arena the plan owns (they hold all activations and the output) with NaN.
      const seen = new Set<GPUBuffer>();
      for (const name of ['z', 'image']) {
        const v = plan.tensorView(name);
        if (!seen.has(v.buffer)) ctx.fill(v.buffer, POISON_F32);
        seen.add(v.buffer);
      }
      const c = loaded.config;
      const z = new Float32Array(C * h * w);
      for (let ch = 0; ch < C; ch++) for (let i = 0; i < h * w; i++) z[i * C + ch] = lat.data[ch * h * w + i] / c.scalingFactor + c.shiftFactor;
      plan.setInput('z', z);
      await plan.run();
      const out = await plan.readOutput('image');
      const want = need(gold, 'output.image').data;
      const planar = new Float32Array(out.length);
      const n = out.length / 3;
      for (let i = 0; i < n; i++) for (let ch = 0; ch < 3; ch++) planar[ch * n + i] = out[i * 3 + ch];
      const s = errorStats(planar, want);
      expect(s.nonFinite).toBe(0);
      expect(s.relL2).toBeLessThan(DECODE_BOUND);
    } finally {
      plan.destroy();
      loaded.destroy();
    }
  });

  it('conv weights packed for the tensor-core path at load: same decode; the gemm conv with them = without', async () => {
    const ctx = await testContext();
    const gold = await readF32(join(fluxRoot, 'golden.safetensors'));
    const vae = await VaeRuntime.load(ctx, fluxRoot, { part: 'decoder', gemmWeights: true });
    try {
      const lat = need(gold, 'input.latents');
      const dec = await vae.decode(lat.data, lat.shape[2], lat.shape[3]);
      expect(errorStats(dec.image, need(gold, 'output.image').data).relL2).toBeLessThan(DECODE_BOUND);
    } finally {
      vae.destroy();
    }
    // lavapipe has no tensor cores, so the graph took the direct kernel above: run the gemm path itself here.
    const loaded = await loadVae(ctx, fluxRoot, { part: 'decoder', gemmWeights: true });
    try {
      const name = 'decoder.up_blocks.1.upsamplers.0.conv.weight';
      const w = loaded.store.get(name);
      const wGemm = loaded.store.get(`${name}.gemm`);
      const [k, , cin, cout] = w.shape;
      expect(wGemm.shape).toEqual([cout, k * k * cin]);
      const x = uploadTensor(ctx, randn(rng(freshSeed()), 5 * 7 * cin), [1, 5, 7, cin], 'f16');
      const outs = [poisonedTensor(ctx, [1, 10, 14, cout], 'f32'), poisonedTensor(ctx, [1, 10, 14, cout], 'f32')];
      for (const [i, wg] of [[0, undefined], [1, wGemm]] as const) {
        await runCalls(ctx, await conv2dCalls(ctx, { x, w, out: outs[i], kernel: 3, upsampleInput: true, path: 'gemm', wGemm: wg }));
      }
      const [a, b] = [await readTensor(ctx, outs[0]), await readTensor(ctx, outs[1])];
      expect(a.every(Number.isFinite)).toBe(true);
      expect(errorStats(b, a).maxAbs).toBe(0);
      // ...and it is really read: a zero GEMM weight gives a zero output.
      const zero = uploadTensor(ctx, new Float64Array(cout * k * k * cin), [cout, k * k * cin], 'f16');
      await runCalls(ctx, await conv2dCalls(ctx, { x, w, out: outs[1], kernel: 3, upsampleInput: true, path: 'gemm', wGemm: zero }));
      expect((await readTensor(ctx, outs[1])).every((v) => v === 0)).toBe(true);
      await expect(conv2dCalls(ctx, { x, w, out: outs[0], kernel: 3, upsampleInput: true, path: 'gemm', wGemm: w })).rejects.toThrow(/'wGemm' must be f16 \[32, 288\]/);
    } finally {
      loaded.destroy();
    }
  });

  it('bad checkpoints fail with the file, the tensor and the fix named', async () => {
    const drop = (name: string) => diffusersTensors.filter((t) => t.name !== name);
    await expectCheckpointError(await writeVariant('missing', drop('decoder.up_blocks.1.resnets.0.conv2.weight'), fluxConfig),
      /missing tensor 'decoder\.up_blocks\.1\.resnets\.0\.conv2\.weight'/);
    const misshaped = diffusersTensors.map((t) => (t.name === 'decoder.conv_norm_out.bias' ? { ...t, shape: [16], data: t.data.slice(0, 32) } : t));
    await expectCheckpointError(await writeVariant('misshaped', misshaped, fluxConfig), /mis-shaped tensor 'decoder\.conv_norm_out\.bias'.*\[16\].*\[32\]/);
    await expectCheckpointError(await writeVariant('disagree', diffusersTensors, { ...fluxConfig, block_out_channels: [32, 64, 64] }),
      /config\.json says block_out_channels=\[32,64,64\] but the tensors say \[32,32,32\]/);
    const { scaling_factor: _sf, ...noScale } = fluxConfig;
    await expectCheckpointError(await writeVariant('noscale', diffusersTensors, noScale), /no scaling_factor in config\.json/);
    await expectCheckpointError(await writeVariant('nocfg-groups', diffusersTensors, { ...fluxConfig, norm_num_groups: 5 }), /5 GroupNorm groups do not divide 32 channels/);
    await expectCheckpointError(await writeVariant('types', diffusersTensors, { ...fluxConfig, up_block_types: ['UpDecoderBlock2D', 'AttnUpDecoderBlock2D', 'UpDecoderBlock2D'] }),
      /only UpDecoderBlock2D blocks are supported/);
    const prefixed = diffusersTensors.map((t) => ({ ...t, name: `first_stage_model.${t.name}` }));
    await mkdir(join(dir, 'prefixed'), { recursive: true });
    await writeSafetensors(join(dir, 'prefixed', 'model.safetensors'), prefixed);
    await expectCheckpointError(join(dir, 'prefixed', 'model.safetensors'), /under 'first_stage_model\.'.*separate VAE/);
    await expectCheckpointError('test/fixtures/tiny-models/flux-tiny', /not an AutoencoderKL VAE/);
    await expectCheckpointError(join(dir, 'does-not-exist'), /no such file or folder/);
  });

  it('reads the vae/ of whole pipeline folders (tiny FluxPipeline / SD3 fixtures) with their factors', async () => {
    const flux = await inspectVae('test/fixtures/tiny-pipelines/flux');
    const sd3 = await inspectVae('test/fixtures/tiny-pipelines/sd3');
    expect([flux.config.scalingFactor, flux.config.shiftFactor, flux.config.latentChannels]).toEqual([0.3611, 0.1159, 16]);
    expect([sd3.config.scalingFactor, sd3.config.shiftFactor, sd3.config.latentChannels]).toEqual([1.5305, 0.0609, 16]);
    expect(flux.unexpected).toEqual([]);
  });

  it('bad runtime inputs get clear errors', async () => {
    const ctx = await testContext();
    const vae = await VaeRuntime.load(ctx, join(FIX, 'tiny-vae-sd'), { part: 'decoder' });
    try {
      await expect(vae.decode(new Float32Array(10), 2, 2)).rejects.toThrow(/10 latent values, expected \[4, 2, 2\] = 16 \(this VAE has 4 latent channels\)/);
      await expect(vae.decode(new Float32Array(0), 0, 2)).rejects.toThrow(/latent size 0x2/);
      await expect(vae.decode(new Float32Array(16), 2, 2, { tiling: { tile: 4, overlap: 4 } })).rejects.toThrow(/overlap 4/);
      await expect(vae.encode(new Float32Array(3 * 16 * 16), 15, 16)).rejects.toThrow(/expected \[3, 15, 16\]/);
      await expect(vae.encode(new Float32Array(3 * 16 * 16), 16, 16)).rejects.toThrow(/loaded with part 'decoder'/);
    } finally {
      vae.destroy();
    }
  });
});
