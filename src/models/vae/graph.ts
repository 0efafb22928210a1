// The AutoencoderKL decoder and encoder as op graphs (diffusers models/autoencoders/vae.py Encoder/Decoder,
// unet_2d_blocks UNetMidBlock2D / DownEncoderBlock2D / UpDecoderBlock2D, resnet.py ResnetBlock2D; the same
// network as BFL's flux/modules/autoencoder.py). Channels-last [1, H, W, C] throughout.
//
// Precision: the residual stream between blocks is f32 (conv2 writes it with the skip connection fused in f32);
// every conv reads f16 (GroupNorm+SiLU outputs, bounded), and conv1 / the mid-block attention write f32 where a
// GroupNorm reads next. Convs that read the stream itself (1x1 shortcut, upsampler) read an f16 copy.
// Weight names are the canonical ones of family.ts (diffusers names, q/k/v fused into to_qkv).
import { Graph } from '../../graph/graph.js';
import { attention, qkvPrep } from '../../graph/ops/attention.js';
import { binary, silu } from '../../graph/ops/elementwise.js';
import { linear, matmul } from '../../graph/ops/matmul.js';
import { convert } from '../../graph/ops/misc.js';
import { conv2d, groupNorm } from '../../graph/ops/vae.js';
import type { Tensor } from '../../graph/tensor.js';
import { GROUP_NORM_EPS, vaeScale, type VaeConfig } from './config.js';

export interface VaeGraphOptions {
  /**
   * Also declare each conv weight in the GEMM layout, `<name>.weight.gemm` [Cout, k*k*Cin] (loadVae makes it once at
   * load on tensor-core adapters), so the tensor-core conv path does not re-derive it on every replay.
   */
  gemmWeights?: boolean;
}

/**
 * How the tail's GroupNorm layers get their statistics (tiled decode, see runtime.ts):
 *  - collect: also output, per GroupNorm, the per-channel sum and sum of squares of its input over the pixels the
 *    input 'mask.<H>x<W>' [H, 1, W] f32 marks (the tile's own share of the image), as 'stats.<norm>.sum' / '.sumsq' [1, C];
 *  - fixed: normalise with per-channel scale/shift given as inputs 'gn.<norm>.scale' / '.shift' [C] f32 (the whole
 *    image's statistics folded with the affine) instead of the tile's own statistics.
 */
export interface GroupNormStats {
  collect: boolean;
  fixed: boolean;
}

class VaeBuilder {
  constructor(readonly g: Graph, readonly cfg: VaeConfig, readonly opts: VaeGraphOptions & { stats?: GroupNormStats } = {}) {}

  private readonly masks = new Map<string, Tensor>();

  private mask(H: number, W: number): Tensor {
    const key = `${H}x${W}`;
    let m = this.masks.get(key);
    if (!m) {
      m = this.g.input(`mask.${key}`, [H, 1, W], 'f32');
      this.masks.set(key, m);
    }
    return m;
  }

  /** Per-channel masked sum and sum of squares of x [1, H, W, C] f32 -> outputs [1, C] (two batched GEMVs each). */
  private collect(x: Tensor, prefix: string): void {
    const g = this.g;
    const [, H, W, C] = x.shape;
    const m = this.mask(H, W);
    const ones = g.constant(`ones.${prefix}`, new Float32Array(H).fill(1), [1, H], 'f32');
    const reduce = (t: Tensor, name: string) => {
      const rows = matmul(g, m, g.reshape(t, [H, W, C]), { dtype: 'f32', name: `${name}_rows` }); // [H, 1, C]
      return matmul(g, ones, g.reshape(rows, [H, C]), { dtype: 'f32', name }); // [1, C]
    };
    g.output(`stats.${prefix}.sum`, reduce(x, 'sum'));
    g.output(`stats.${prefix}.sumsq`, reduce(binary(g, x, x, 'mul', { dtype: 'f32', name: 'square' }), 'sumsq'));
  }

  conv(x: Tensor, prefix: string, cout: number, k: 1 | 3, opts: { residual?: Tensor; dtype?: 'f16' | 'f32'; stride?: 1 | 2; padding?: [number, number, number, number]; upsampleInput?: boolean } = {}): Tensor {
    const cin = x.last;
    const w = this.g.weight(`${prefix}.weight`, [k, k, cin, cout], 'f16');
    const bias = this.g.weight(`${prefix}.bias`, [cout], 'f16');
    const wGemm = this.opts.gemmWeights ? this.g.weight(`${prefix}.weight.gemm`, [cout, k * k * cin], 'f16') : undefined;
    return conv2d(this.g, x, w, { bias, name: prefix, wGemm, ...opts });
  }

  norm(x: Tensor, prefix: string, act: boolean): Tensor {
    const C = x.last;
    const st = this.opts.stats;
    if (st?.collect) this.collect(x.dtype === 'f32' ? x : convert(this.g, x, 'f32'), prefix);
    if (st?.fixed) {
      // y = x * scale + shift per channel (the whole image's GroupNorm folded with gamma/beta), then SiLU.
      let y = binary(this.g, x, this.g.input(`gn.${prefix}.scale`, [C], 'f32'), 'mul', { dtype: 'f32', name: `${prefix}.scale` });
      y = binary(this.g, y, this.g.input(`gn.${prefix}.shift`, [C], 'f32'), 'add', { dtype: act ? 'f32' : 'f16', name: `${prefix}.shift` });
      return act ? silu(this.g, y, { dtype: 'f16', name: `${prefix}.silu` }) : y;
    }
    return groupNorm(this.g, x, this.g.weight(`${prefix}.weight`, [C], 'f16'), this.g.weight(`${prefix}.bias`, [C], 'f16'), {
      groups: this.cfg.normGroups, eps: GROUP_NORM_EPS, silu: act, dtype: 'f16', name: prefix,
    });
  }

  /** ResnetBlock2D: x + conv2(silu(gn2(conv1(silu(gn1(x)))))), shortcut 1x1 conv when the width changes. f32 -> f32. */
  resnet(x: Tensor, prefix: string, cout: number): Tensor {
    return this.g.scope(prefix, () => {
      const cin = x.last;
      let h = this.norm(x, `${prefix}.norm1`, true);
      h = this.conv(h, `${prefix}.conv1`, cout, 3, { dtype: 'f32' });
      h = this.norm(h, `${prefix}.norm2`, true);
      const skip = cin === cout ? x : this.conv(this.f16(x), `${prefix}.conv_shortcut`, cout, 1, { dtype: 'f32' });
      return this.conv(h, `${prefix}.conv2`, cout, 3, { residual: skip, dtype: 'f32' });
    });
  }

  /** Mid-block attention: one head of width C over all h*w pixels, residual added in f32. */
  attention(x: Tensor, prefix: string): Tensor {
    return this.g.scope(prefix, () => {
      const [B, H, W, C] = x.shape;
      const L = H * W;
      const hn = this.g.reshape(this.norm(x, `${prefix}.group_norm`, false), [B * L, C]);
      const qkv = linear(this.g, hn, this.g.weight(`${prefix}.to_qkv.weight`, [3 * C, C], 'f16'), {
        bias: this.g.weight(`${prefix}.to_qkv.bias`, [3 * C], 'f16'), name: 'qkv',
      });
      const { q, k, v } = qkvPrep(this.g, this.g.reshape(qkv, [B, L, 3 * C]), { heads: 1, name: 'qkv_prep' });
      const { out } = attention(this.g, q, k, v, { name: 'attn' });
      const y = linear(this.g, this.g.reshape(out, [B * L, C]), this.g.weight(`${prefix}.to_out.0.weight`, [C, C], 'f16'), {
        bias: this.g.weight(`${prefix}.to_out.0.bias`, [C], 'f16'), residual: this.g.reshape(x, [B * L, C]), name: 'to_out',
      });
      return this.g.reshape(y, [B, H, W, C]);
    });
  }

  mid(x: Tensor, side: 'encoder' | 'decoder'): Tensor {
    const C = x.last;
    x = this.resnet(x, `${side}.mid_block.resnets.0`, C);
    if (this.cfg.midAttention) x = this.attention(x, `${side}.mid_block.attentions.0`);
    return this.resnet(x, `${side}.mid_block.resnets.1`, C);
  }

  f16(x: Tensor): Tensor {
    return x.dtype === 'f16' ? x : convert(this.g, x, 'f16', { name: 'to_f16' });
  }
}

/**
 * Which part of the decoder a graph holds. Tiled decode runs the latent-resolution head (conv_in and the mid block,
 * whose attention mixes ALL pixels) once over the whole latent, and only the memory-hungry upsampling tail per tile.
 */
export type DecoderStage = 'all' | 'head' | 'tail';

/**
 * Decoder for a latent of h x w. 'all' (default): input 'z' [1, h, w, latentChannels] f16 (already
 * z = latents / scaling + shift), output 'image' [1, H, W, 3] f32. 'head': input 'z', output 'mid'
 * [1, h, w, C_top] f32 (after the mid block). 'tail': input 'mid', output 'image'.
 */
export function buildVaeDecoder(cfg: VaeConfig, h: number, w: number, opts: VaeGraphOptions & { stage?: DecoderStage; stats?: GroupNormStats } = {}): Graph {
  const stage = opts.stage ?? 'all';
  if (!(Number.isInteger(h) && Number.isInteger(w) && h >= 1 && w >= 1)) throw new Error(`VAE decoder: latent size ${h}x${w} must be positive integers`);
  if (opts.stats && stage !== 'tail') throw new Error('VAE decoder: GroupNorm statistics inputs/outputs are for the tail stage only');
  const g = new Graph(stage === 'all' ? `vae-decoder-${h}x${w}` : `vae-decoder-${stage}${opts.stats?.fixed ? '-fixed' : ''}${opts.stats?.collect ? '-collect' : ''}-${h}x${w}`);
  const b = new VaeBuilder(g, cfg, opts);
  const ch = cfg.blockOutChannels;
  const n = ch.length;
  let x: Tensor;
  if (stage === 'tail') {
    x = g.input('mid', [1, h, w, ch[n - 1]], 'f32');
  } else {
    let z = g.input('z', [1, h, w, cfg.latentChannels], 'f16');
    if (cfg.postQuantConv) z = b.conv(z, 'post_quant_conv', cfg.latentChannels, 1);
    x = b.conv(z, 'decoder.conv_in', ch[n - 1], 3, { dtype: 'f32' }); // [1, h, w, C_top]
    x = b.mid(x, 'decoder');
    if (stage === 'head') {
      g.output('mid', x);
      return g;
    }
  }
  for (let i = 0; i < n; i++) {
    const cout = ch[n - 1 - i];
    for (let j = 0; j <= cfg.layersPerBlock; j++) x = b.resnet(x, `decoder.up_blocks.${i}.resnets.${j}`, cout);
    // Upsample2D: nearest 2x + conv3x3, read through the conv (the 4x tensor is never stored). [.., s, s, C] -> [.., 2s, 2s, C]
    if (i !== n - 1) x = b.conv(b.f16(x), `decoder.up_blocks.${i}.upsamplers.0.conv`, cout, 3, { upsampleInput: true, dtype: 'f32' });
  }
  const hn = b.norm(x, 'decoder.conv_norm_out', true);
  const img = b.conv(hn, 'decoder.conv_out', cfg.outChannels, 3, { dtype: 'f32' }); // [1, h*f, w*f, 3]
  const f = vaeScale(cfg);
  if (img.shape[1] !== h * f || img.shape[2] !== w * f) throw new Error(`VAE decoder: output ${img.describe()} is not ${f}x the latent ${h}x${w} (bug)`);
  g.output('image', img);
  return g;
}

/** The tail's GroupNorm layers in execution order: name, channels, and resolution relative to the latent (1, 2, 4, ...). */
export function tailNorms(cfg: VaeConfig): { prefix: string; channels: number; scale: number }[] {
  const ch = cfg.blockOutChannels;
  const n = ch.length;
  const out: { prefix: string; channels: number; scale: number }[] = [];
  let c = ch[n - 1];
  for (let i = 0; i < n; i++) {
    const cout = ch[n - 1 - i];
    for (let j = 0; j <= cfg.layersPerBlock; j++) {
      const p = `decoder.up_blocks.${i}.resnets.${j}`;
      out.push({ prefix: `${p}.norm1`, channels: c, scale: 2 ** i }, { prefix: `${p}.norm2`, channels: cout, scale: 2 ** i });
      c = cout;
    }
  }
  out.push({ prefix: 'decoder.conv_norm_out', channels: ch[0], scale: 2 ** (n - 1) });
  return out;
}

/** Latent size the encoder gives for an H x W image (each Downsample2D: pad (0,1,0,1), 3x3 stride 2). */
export function encodedSize(cfg: VaeConfig, H: number, W: number): [number, number] {
  let h = H, w = W;
  for (let i = 0; i < cfg.blockOutChannels.length - 1; i++) {
    h = Math.floor((h - 2) / 2) + 1;
    w = Math.floor((w - 2) / 2) + 1;
  }
  return [h, w];
}

/** Encoder for an H x W image: input 'image' [1, H, W, 3] f16 in [-1, 1], output 'moments' [1, h, w, 2*latentChannels] f32 (mean, then log-variance). */
export function buildVaeEncoder(cfg: VaeConfig, H: number, W: number, opts: VaeGraphOptions = {}): Graph {
  if (!cfg.hasEncoder) throw new Error('VAE encoder: this checkpoint has no encoder weights (decoder only); image to image needs the full VAE');
  const n = cfg.blockOutChannels.length;
  const minSide = 2 ** (n - 1);
  if (!(Number.isInteger(H) && Number.isInteger(W) && H >= minSide && W >= minSide)) {
    throw new Error(`VAE encoder: image ${H}x${W} must be integers of at least ${minSide} pixels a side (${n - 1} downsamplings)`);
  }
  const g = new Graph(`vae-encoder-${H}x${W}`);
  const b = new VaeBuilder(g, cfg, opts);
  const ch = cfg.blockOutChannels;
  const img = g.input('image', [1, H, W, cfg.inChannels], 'f16');
  let x = b.conv(img, 'encoder.conv_in', ch[0], 3, { dtype: 'f32' });
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < cfg.layersPerBlock; j++) x = b.resnet(x, `encoder.down_blocks.${i}.resnets.${j}`, ch[i]);
    // Downsample2D: pad right/bottom by one, 3x3 stride 2. [.., s, s, C] -> [.., floor((s-2)/2)+1, ..]
    if (i !== n - 1) x = b.conv(b.f16(x), `encoder.down_blocks.${i}.downsamplers.0.conv`, ch[i], 3, { stride: 2, padding: [0, 1, 0, 1], dtype: 'f32' });
  }
  x = b.mid(x, 'encoder');
  const hn = b.norm(x, 'encoder.conv_norm_out', true);
  let m = b.conv(hn, 'encoder.conv_out', 2 * cfg.latentChannels, 3, { dtype: cfg.quantConv ? 'f16' : 'f32' });
  if (cfg.quantConv) m = b.conv(m, 'quant_conv', 2 * cfg.latentChannels, 1, { dtype: 'f32' });
  g.output('moments', m);
  return g;
}
