// The VAE as the pipeline uses it: decode(latents) -> image and encode(image) -> latents, in the DiT's latent
// space, applying scaling/shift exactly as diffusers' FluxPipeline / StableDiffusion3Pipeline do:
//   decode: z = latents / scaling_factor + shift_factor; image = decoder(z)             (pipeline_flux.py, _sd3.py)
//   encode: latents = (sample_or_mean - shift_factor) * scaling_factor                    (the img2img pipelines)
// Host arrays are planar ([C, h, w], [3, H, W], like PyTorch); the GPU graphs are channels-last. One compiled
// plan per size is cached (the last few sizes); large images decode tile by tile through one tile-sized plan.
import type { GpuContext } from '../../gpu/context.js';
import { compile, type Plan } from '../../graph/executor.js';
import { mulberry32 } from '../../util/random.js';
import { fromF16Array } from '../../util/f16.js';
import { GROUP_NORM_EPS, vaeScale, type VaeConfig } from './config.js';
import { buildVaeDecoder, buildVaeEncoder, encodedSize, tailNorms } from './graph.js';
import { loadVae, type LoadedVae, type VaePart } from './load.js';
import { axisWeights, TileBlender, tileGrid } from './tiling.js';

export interface DecodeOptions {
  /**
   * Tiled decode: 'auto' (default) tiles only when the untiled decode's largest activation would exceed
   * maxTensorBytes; false never tiles (an image too large then fails with the limit named); or explicit sizes.
   */
  tiling?: 'auto' | false | {
    tile: number;
    overlap?: number;
    /** false: hard cuts instead of ramps (tests only). */
    blend?: boolean;
    /** Decodes of the tail per tile; > 1 normalises with the whole image's GroupNorm statistics (see statsPasses below). */
    statsPasses?: number;
  };
  /**
   * Tiled decode only. 1: each tile's GroupNorm layers use the tile's own statistics (diffusers' tiled_decode).
   * k > 1: pass 1 also measures, over every tile's own share of the image, each GroupNorm input's per-channel sum
   * and sum of squares; pass p normalises every tile with the whole image's statistics so measured in pass p - 1.
   * The first tail GroupNorm is exact from pass 2 on, the l-th from pass l + 1; each pass costs one more tail
   * decode of every tile. Default 2 (on the tiny test VAE: relL2 to the untiled decode 0.12 with 1 pass, 0.048 with 2).
   */
  statsPasses?: number;
}

export interface DecodedImage {
  /** Planar [3, height, width], nominally in [-1, 1] (not clamped). */
  image: Float32Array;
  height: number;
  width: number;
  /** Number of tiles decoded (1 = untiled). */
  tiles: number;
}

export interface EncodedLatents {
  /** Planar [C, h, w] in the DiT's latent space: (z - shift) * scaling, z = mean (or a sample, see EncodeOptions). */
  latents: Float32Array;
  /** The encoder's diagonal Gaussian, planar [C, h, w], before scaling (logvar clamped to [-30, 20] as diffusers). */
  mean: Float32Array;
  logvar: Float32Array;
  channels: number;
  height: number;
  width: number;
}

export interface EncodeOptions {
  /**
   * z = mean + exp(logvar / 2) * noise. `noise`: [C, h, w] standard normal values (the pipeline's own seeded
   * generator); `seed`: noise from this module's seeded generator (mulberry32 + Box-Muller). Neither: z = mean
   * (diffusers' sample_mode="argmax").
   */
  noise?: ArrayLike<number>;
  seed?: number;
}

export interface VaeRuntimeOptions {
  /** Largest single activation an untiled decode may need before 'auto' tiling kicks in (default: the adapter's maxStorageBufferBindingSize, at most 1 GiB). */
  maxTensorBytes?: number;
  /** Latent tile size for auto tiling (default 128 latent pixels = 1024 image pixels for an 8x VAE, halved until it fits maxTensorBytes). */
  tile?: number;
  /** Compiled plans kept (default 3: a tiled decode uses a head and two tail plans). */
  cachedPlans?: number;
}

/** Standard normal values from a seeded generator (Box-Muller over mulberry32); same on every device. */
export function gaussianNoise(seed: number, n: number): Float32Array {
  const r = mulberry32(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i += 2) {
    const u = Math.max(r(), 1e-12);
    const v = r();
    const m = Math.sqrt(-2 * Math.log(u));
    out[i] = m * Math.cos(2 * Math.PI * v);
    if (i + 1 < n) out[i + 1] = m * Math.sin(2 * Math.PI * v);
  }
  return out;
}

/** Planar [3, H, W] in [-1, 1] -> interleaved RGB bytes [H, W, 3] (diffusers' postprocess: (x / 2 + 0.5).clamp(0, 1), round). */
export function imageToRgb8(image: ArrayLike<number>, height: number, width: number): Uint8Array {
  const n = height * width;
  if (image.length !== 3 * n) throw new Error(`imageToRgb8: ${image.length} values for [3, ${height}, ${width}]`);
  const out = new Uint8Array(3 * n);
  for (let c = 0; c < 3; c++) {
    for (let i = 0; i < n; i++) {
      const v = image[c * n + i];
      const t = Number.isNaN(v) ? 0 : Math.min(1, Math.max(0, v / 2 + 0.5));
      out[i * 3 + c] = Math.round(t * 255);
    }
  }
  return out;
}

/** Interleaved RGB bytes [H, W, 3] -> planar [3, H, W] in [-1, 1] (diffusers' preprocess: x / 255 * 2 - 1). */
export function rgb8ToImage(rgb: ArrayLike<number>, height: number, width: number): Float32Array {
  const n = height * width;
  if (rgb.length !== 3 * n) throw new Error(`rgb8ToImage: ${rgb.length} bytes for ${height}x${width} RGB`);
  const out = new Float32Array(3 * n);
  for (let i = 0; i < n; i++) for (let c = 0; c < 3; c++) out[c * n + i] = (rgb[i * 3 + c] / 255) * 2 - 1;
  return out;
}

/** Own ranges [start, end) of tiles at `starts` (size `size`) over [0, n): cut at the middle of each overlap. */
function ownRanges(starts: number[], size: number, n: number): [number, number][] {
  const cut = (i: number) => Math.floor((starts[i] + starts[i - 1] + size) / 2); // between tiles i-1 and i
  return starts.map((_, i) => [i === 0 ? 0 : cut(i), i + 1 < starts.length ? cut(i + 1) : n]);
}

/** [H, 1, W] mask of a tile's own pixels at a level `s` times the latent resolution. */
function ownMask(H: number, W: number, s: number, rows: [number, number], cols: [number, number], y0: number, x0: number): Float32Array {
  const m = new Float32Array(H * W);
  for (let y = (rows[0] - y0) * s; y < (rows[1] - y0) * s; y++) m.fill(1, y * W + (cols[0] - x0) * s, y * W + (cols[1] - x0) * s);
  return m;
}

function mib(bytes: number): string {
  return `${(bytes / 2 ** 20).toFixed(bytes < 2 ** 24 ? 2 : 0)} MiB`;
}

function planarToNhwc(x: ArrayLike<number>, C: number, H: number, W: number, map: (v: number) => number = (v) => v): Float32Array {
  const out = new Float32Array(C * H * W);
  const n = H * W;
  for (let c = 0; c < C; c++) for (let i = 0; i < n; i++) out[i * C + c] = map(x[c * n + i]);
  return out;
}

function nhwcToPlanar(x: ArrayLike<number>, C: number, H: number, W: number, c0 = 0, stride = C): Float32Array {
  const out = new Float32Array(C * H * W);
  const n = H * W;
  for (let i = 0; i < n; i++) for (let c = 0; c < C; c++) out[c * n + i] = x[i * stride + c0 + c];
  return out;
}

export class VaeRuntime {
  private readonly plans = new Map<string, Plan>();

  private constructor(readonly ctx: GpuContext, private readonly loaded: LoadedVae, private readonly options: VaeRuntimeOptions) {}

  /** Loads a VAE (diffusers vae/ folder or pipeline root, BFL ae.safetensors). `part: 'decoder'` skips the encoder weights. */
  static async load(ctx: GpuContext, path: string, options: VaeRuntimeOptions & { part?: VaePart; gemmWeights?: boolean } = {}): Promise<VaeRuntime> {
    return new VaeRuntime(ctx, await loadVae(ctx, path, { part: options.part, gemmWeights: options.gemmWeights }), options);
  }

  /** Wraps already-loaded weights (the runtime takes ownership: destroy() frees them). */
  static fromLoaded(ctx: GpuContext, loaded: LoadedVae, options: VaeRuntimeOptions = {}): VaeRuntime {
    return new VaeRuntime(ctx, loaded, options);
  }

  get config(): VaeConfig {
    return this.loaded.config;
  }

  get warnings(): readonly string[] {
    return this.loaded.warnings;
  }

  /** Image pixels per latent pixel (8 for FLUX/SD3). */
  get scale(): number {
    return vaeScale(this.config);
  }

  private get maxTensorBytes(): number {
    return this.options.maxTensorBytes ?? Math.min(this.ctx.caps.limits.maxStorageBufferBindingSize, 2 ** 30);
  }

  /**
   * Bytes of the largest activation (f32 residual stream) an untiled decode of h x w latents holds. At level l
   * (image size / 2^l) the stream has ch[l] channels, and the upsampler arriving from the coarser level l+1 brings
   * ch[l+1] (FLUX at 1024²: 256 channels at 1024², 1 GiB).
   */
  decodePeakTensorBytes(h: number, w: number): number {
    const ch = this.config.blockOutChannels;
    let peak = 0;
    for (let level = 0; level < ch.length; level++) {
      const s = 2 ** level;
      const c = Math.max(ch[level], ch[level + 1] ?? 0);
      peak = Math.max(peak, ((h * this.scale) / s) * ((w * this.scale) / s) * c * 4);
    }
    return peak;
  }

  private async plan(kind: 'decoder' | 'decoder-head' | 'decoder-tail' | 'decoder-tail-collect' | 'decoder-tail-fixed' | 'encoder', a: number, b: number): Promise<Plan> {
    const key = `${kind}:${a}x${b}`;
    const hit = this.plans.get(key);
    if (hit) {
      this.plans.delete(key); // re-insert: most recently used last
      this.plans.set(key, hit);
      return hit;
    }
    const gemmWeights = this.loaded.gemmWeights;
    const stats = kind === 'decoder-tail-collect' ? { collect: true, fixed: false } : kind === 'decoder-tail-fixed' ? { collect: true, fixed: true } : undefined;
    const graph = kind === 'encoder' ? buildVaeEncoder(this.config, a, b, { gemmWeights })
      : buildVaeDecoder(this.config, a, b, { gemmWeights, stats, stage: kind === 'decoder' ? 'all' : kind === 'decoder-head' ? 'head' : 'tail' });
    const plan = await compile(this.ctx, graph, this.loaded.store);
    this.plans.set(key, plan);
    const keep = Math.max(1, this.options.cachedPlans ?? 3);
    while (this.plans.size > keep) {
      const [oldKey, old] = this.plans.entries().next().value as [string, Plan];
      old.destroy();
      this.plans.delete(oldKey);
    }
    return plan;
  }

  /** Decoder on z (already unscaled), channels-last [h, w, C] -> channels-last [H, W, 3]. */
  private async decodeNhwc(z: Float32Array, h: number, w: number): Promise<Float32Array> {
    const plan = await this.plan('decoder', h, w);
    plan.setInput('z', z);
    await plan.run();
    return plan.readOutput('image');
  }

  private tileFor(h: number, w: number, tiling: DecodeOptions['tiling']): { tile: number; overlap: number; blend?: boolean; statsPasses?: number } | null {
    if (tiling === false) return null;
    if (tiling && typeof tiling === 'object') {
      const tile = tiling.tile;
      const overlap = tiling.overlap ?? Math.max(1, Math.round(tile / 4));
      if (!Number.isInteger(tile) || tile < 2 || !Number.isInteger(overlap) || overlap < 0 || overlap >= tile) {
        throw new Error(`VAE tiled decode: tile ${tile} / overlap ${overlap} must be integers with 0 <= overlap < tile, tile >= 2`);
      }
      return { tile, overlap, blend: tiling.blend, statsPasses: tiling.statsPasses };
    }
    if (this.decodePeakTensorBytes(h, w) <= this.maxTensorBytes) return null;
    // The largest tile that fits: fewer tiles means fewer seams and per-tile GroupNorm statistics closer to the
    // whole image's (FLUX at 1 GiB: 128 latent pixels = 1024² per tile; lavapipe's 128 MiB: 64).
    let tile = this.options.tile ?? 128;
    while (tile > 8 && this.decodePeakTensorBytes(tile, tile) > this.maxTensorBytes) tile = Math.floor(tile / 2);
    return { tile, overlap: Math.max(1, Math.round(tile / 4)) };
  }

  /**
   * latents: planar [C, h, w] in the DiT's latent space (what the sampler ends with). Returns the image, planar
   * [3, h*f, w*f], in [-1, 1] before clamping (f = 8 for FLUX/SD3).
   */
  async decode(latents: ArrayLike<number>, h: number, w: number, options: DecodeOptions = {}): Promise<DecodedImage> {
    const c = this.config;
    if (this.loaded.part === 'encoder') throw new Error("VAE decode: this VAE was loaded with part 'encoder'; load it with part 'both' or 'decoder'");
    const C = c.latentChannels;
    if (!(Number.isInteger(h) && Number.isInteger(w) && h >= 1 && w >= 1)) throw new Error(`VAE decode: latent size ${h}x${w} must be positive integers`);
    if (latents.length !== C * h * w) throw new Error(`VAE decode: ${latents.length} latent values, expected [${C}, ${h}, ${w}] = ${C * h * w} (this VAE has ${C} latent channels)`);
    const z = planarToNhwc(latents, C, h, w, (v) => v / c.scalingFactor + c.shiftFactor);
    const f = this.scale;
    const H = h * f, W = w * f;
    const t = this.tileFor(h, w, options.tiling ?? 'auto');
    if (!t) {
      if (!t && this.decodePeakTensorBytes(h, w) > this.maxTensorBytes && options.tiling === false) {
        throw new Error(`VAE decode: a ${H}x${W} image needs a ${mib(this.decodePeakTensorBytes(h, w))} activation, over the ${mib(this.maxTensorBytes)} limit; allow tiling (tiling: 'auto')`);
      }
      return { image: nhwcToPlanar(await this.decodeNhwc(z, h, w), 3, H, W), height: H, width: W, tiles: 1 };
    }
    // The head (conv_in + mid block with its all-pixel attention) runs once on the whole latent: its tensors are
    // latent-sized (h*w*C_top*4 bytes: 32 MiB at 1024² for FLUX). Only the upsampling tail is tiled.
    const top = c.blockOutChannels[c.blockOutChannels.length - 1];
    const head = await this.plan('decoder-head', h, w);
    head.setInput('z', z);
    await head.run();
    const mid = await head.readOutput('mid'); // [h, w, C_top] f32
    const grid = tileGrid(h, w, t.tile, t.overlap);
    const blender = new TileBlender(H, W, 3);
    const tile = new Float32Array(grid.tileH * grid.tileW * top);
    const passes = t.statsPasses ?? options.statsPasses ?? 2;
    if (!Number.isInteger(passes) || passes < 1 || passes > 16) throw new Error(`VAE tiled decode: statsPasses ${passes} must be an integer 1..16`);
    // Each tile's own share of the image (a partition: boundaries at the middle of each overlap), latent units.
    const ownRows = ownRanges(grid.rows, grid.tileH, h);
    const ownCols = ownRanges(grid.cols, grid.tileW, w);
    const norms = tailNorms(c);
    let fixed: Map<string, { scale: Float32Array; shift: Float32Array }> | null = null;
    for (let pass = 1; pass <= passes; pass++) {
      const last = pass === passes;
      const kind = passes === 1 ? 'decoder-tail' : pass === 1 ? 'decoder-tail-collect' : 'decoder-tail-fixed';
      const plan = await this.plan(kind, grid.tileH, grid.tileW);
      const sums = new Map(norms.map((n) => [n.prefix, { s1: new Float64Array(n.channels), s2: new Float64Array(n.channels) }]));
      for (let ri = 0; ri < grid.rows.length; ri++) {
        const y0 = grid.rows[ri];
        for (let ci = 0; ci < grid.cols.length; ci++) {
          const x0 = grid.cols[ci];
          for (let y = 0; y < grid.tileH; y++) tile.set(mid.subarray(((y0 + y) * w + x0) * top, ((y0 + y) * w + x0 + grid.tileW) * top), y * grid.tileW * top);
          plan.setInput('mid', tile);
          if (passes > 1) {
            for (const [name, input] of plan.graph.inputs) {
              if (!name.startsWith('mask.')) continue;
              const [mh, , mw] = input.shape;
              plan.setInput(name, ownMask(mh, mw, mh / grid.tileH, ownRows[ri], ownCols[ci], y0, x0));
            }
          }
          if (fixed) {
            for (const [prefix, v] of fixed) {
              plan.setInput(`gn.${prefix}.scale`, v.scale);
              plan.setInput(`gn.${prefix}.shift`, v.shift);
            }
          }
          await plan.run();
          if (!last) {
            for (const [prefix, acc] of sums) {
              const a = await plan.readOutput(`stats.${prefix}.sum`);
              const b = await plan.readOutput(`stats.${prefix}.sumsq`);
              for (let k = 0; k < a.length; k++) {
                acc.s1[k] += a[k];
                acc.s2[k] += b[k];
              }
            }
          } else {
            const wy = axisWeights(y0, grid.tileH, f, ri > 0 ? grid.rows[ri - 1] + grid.tileH : null, ri + 1 < grid.rows.length ? grid.rows[ri + 1] : null, t.blend ?? true);
            const wx = axisWeights(x0, grid.tileW, f, ci > 0 ? grid.cols[ci - 1] + grid.tileW : null, ci + 1 < grid.cols.length ? grid.cols[ci + 1] : null, t.blend ?? true);
            blender.add(await plan.readOutput('image'), y0 * f, x0 * f, grid.tileH * f, grid.tileW * f, wy, wx);
          }
        }
      }
      if (!last) fixed = await this.foldStats(norms, sums, h * w);
    }
    return { image: nhwcToPlanar(blender.result(), 3, H, W), height: H, width: W, tiles: grid.rows.length * grid.cols.length };
  }

  /** image: planar [3, H, W] in [-1, 1]. Returns latents in the DiT's space (see EncodeOptions for sampling). */
  async encode(image: ArrayLike<number>, H: number, W: number, options: EncodeOptions = {}): Promise<EncodedLatents> {
    const c = this.config;
    if (!c.hasEncoder) throw new Error('VAE encode: this VAE checkpoint has no encoder weights (decoder only); image to image needs the full VAE');
    if (!(Number.isInteger(H) && Number.isInteger(W) && H >= 1 && W >= 1)) throw new Error(`VAE encode: image size ${H}x${W} must be positive integers`);
    if (image.length !== c.inChannels * H * W) throw new Error(`VAE encode: ${image.length} values, expected [${c.inChannels}, ${H}, ${W}]`);
    if (this.loaded.part === 'decoder') throw new Error("VAE encode: this VAE was loaded with part 'decoder'; load it with part 'both' or 'encoder' for image to image");
    // The encoder runs untiled: its largest tensor (the f32 stream at full resolution) must fit one storage binding.
    const peak = H * W * c.blockOutChannels[0] * 4;
    const limit = this.ctx.caps.limits.maxStorageBufferBindingSize;
    if (peak > limit) {
      const side = Math.floor(Math.sqrt(limit / (c.blockOutChannels[0] * 4)));
      throw new Error(`VAE encode: a ${W}x${H} image needs a ${mib(peak)} activation, over this adapter's ${mib(limit)} storage-binding limit ` +
        `(tiled encode is not implemented); resize the input image to at most about ${side}x${side} pixels`);
    }
    const plan = await this.plan('encoder', H, W);
    plan.setInput('image', planarToNhwc(image, c.inChannels, H, W));
    await plan.run();
    const moments = await plan.readOutput('moments');
    const [h, w] = encodedSize(c, H, W);
    const C = c.latentChannels;
    const mean = nhwcToPlanar(moments, C, h, w, 0, 2 * C);
    const logvar = nhwcToPlanar(moments, C, h, w, C, 2 * C).map((v) => Math.min(20, Math.max(-30, v)));
    const n = C * h * w;
    const noise = options.noise ?? (options.seed !== undefined ? gaussianNoise(options.seed, n) : null);
    if (noise && noise.length !== n) throw new Error(`VAE encode: noise has ${noise.length} values, expected [${C}, ${h}, ${w}] = ${n}`);
    const latents = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      const z = noise ? mean[i] + Math.exp(0.5 * logvar[i]) * noise[i] : mean[i];
      latents[i] = (z - c.shiftFactor) * c.scalingFactor;
    }
    return { latents, mean, logvar, channels: C, height: h, width: w };
  }

  private normAffine = new Map<string, { gamma: Float32Array; beta: Float32Array }>();

  /**
   * Whole-image GroupNorm statistics from per-channel sums over all tiles' own pixels, folded with each norm's
   * affine: scale = gamma * rstd, shift = beta - mean * scale (per channel, from its group's mean and variance).
   */
  private async foldStats(
    norms: { prefix: string; channels: number; scale: number }[], sums: Map<string, { s1: Float64Array; s2: Float64Array }>, latentPixels: number,
  ): Promise<Map<string, { scale: Float32Array; shift: Float32Array }>> {
    const G = this.config.normGroups;
    const out = new Map<string, { scale: Float32Array; shift: Float32Array }>();
    for (const n of norms) {
      let aff = this.normAffine.get(n.prefix);
      if (!aff) {
        const read = async (name: string) => {
          const v = this.loaded.store.get(name);
          const raw = await this.ctx.readback(v.buffer, n.channels * 2, v.offset);
          return fromF16Array(new Uint16Array(raw, 0, n.channels));
        };
        aff = { gamma: await read(`${n.prefix}.weight`), beta: await read(`${n.prefix}.bias`) };
        this.normAffine.set(n.prefix, aff);
      }
      const { s1, s2 } = sums.get(n.prefix)!;
      const C = n.channels;
      const cpg = C / G;
      const count = latentPixels * n.scale * n.scale * cpg;
      const scale = new Float32Array(C), shift = new Float32Array(C);
      for (let g = 0; g < G; g++) {
        let a = 0, b = 0;
        for (let c = g * cpg; c < (g + 1) * cpg; c++) {
          a += s1[c];
          b += s2[c];
        }
        const mean = a / count;
        const rstd = 1 / Math.sqrt(Math.max(0, b / count - mean * mean) + GROUP_NORM_EPS);
        for (let c = g * cpg; c < (g + 1) * cpg; c++) {
          scale[c] = aff.gamma[c] * rstd;
          shift[c] = aff.beta[c] - mean * scale[c];
        }
      }
      out.set(n.prefix, { scale, shift });
    }
    return out;
  }

  destroy(): void {
    for (const p of this.plans.values()) p.destroy();
    this.plans.clear();
    this.loaded.destroy();
  }
}
