// AutoencoderKL (the FLUX.1 / SD3 / SD VAE) as a ModelFamily: which checkpoints are VAEs, their config from
// tensor shapes (cross-checked with vae/config.json), the tensors each layout holds, and the canonical weights.
//
// weightSources gives each weight in its CHECKPOINT shape: conv weights as PyTorch [Cout, Cin, k, k] and the BFL
// attention linears as their 1x1-conv [out, in, 1, 1]. load.ts then turns every conv weight into the packed
// [k, k, Cin, Cout] layout the conv kernels read with ONE GPU pack dispatch per weight at load
// (kernels-wgsl/conv2d.ts packConv2dWeight; the unpacked upload is freed), and views 1x1-conv linears as
// [out, in] (same bytes). vaeGraphWeightShape says what the graph declares.
import { Inference, type TensorListing } from '../../loading/listing.js';
import { CheckpointError } from '../../loading/safetensors.js';
import type { ExpectedTensor, WeightSource } from '../../loading/sources.js';
import { packedConv2dWeightShape } from '../../kernels-wgsl/conv2d.js';
import type { ModelFamily } from '../family.js';
import { FLUX_SCALING_FACTOR, FLUX_SHIFT_FACTOR, vaeScale, type VaeConfig, type VaeLayout } from './config.js';
import { vaeParams, type VaeParam } from './layout.js';

/** Single-file checkpoints (original SD / ComfyUI) that keep the VAE under a prefix. */
const PREFIXED = ['first_stage_model.', 'vae.'];

function detectLayout(ck: TensorListing): VaeLayout | null {
  const names = ck.listTensors();
  const any = (p: string) => names.some((n) => n.startsWith(p));
  if (ck.has('decoder.conv_in.weight') && any('decoder.up_blocks.')) return 'diffusers';
  if (ck.has('decoder.conv_in.weight') && any('decoder.up.')) return 'bfl';
  for (const p of PREFIXED) {
    if (ck.has(`${p}decoder.conv_in.weight`)) {
      throw new CheckpointError(`${ck.description}: this file keeps an autoencoder under '${p}' inside a whole-model checkpoint; ` +
        'use the release\'s separate VAE (a diffusers vae/ folder, or FLUX\'s ae.safetensors)', ck.description);
    }
  }
  return null;
}

function infer(ck: TensorListing, layout: VaeLayout): VaeConfig {
  const x = new Inference(ck);
  const bfl = layout === 'bfl';
  // Decoder levels, in the decoder's execution order (coarsest first).
  const nUp = x.count(bfl ? 'decoder.up.' : 'decoder.up_blocks.');
  if (nUp === 0) x.fail('no decoder up blocks found');
  const blockOutChannels: number[] = new Array(nUp);
  let resnetsPerUp = -1;
  for (let i = 0; i < nUp; i++) {
    const level = nUp - 1 - i;
    const prefix = bfl ? `decoder.up.${level}.block.` : `decoder.up_blocks.${i}.resnets.`;
    const r = x.count(prefix);
    if (resnetsPerUp >= 0 && r !== resnetsPerUp) x.fail(`decoder level ${level} has ${r} resnets but another has ${resnetsPerUp}`, `${prefix}0.conv1.weight`);
    resnetsPerUp = r;
    blockOutChannels[level] = x.shape(`${prefix}0.conv1.weight`, 4)[0];
  }
  if (resnetsPerUp < 1) x.fail('decoder up blocks have no resnets');
  const layersPerBlock = resnetsPerUp - 1;
  const [top, latentChannels] = x.shape('decoder.conv_in.weight', 4);
  if (top !== blockOutChannels[nUp - 1]) x.fail(`decoder.conv_in makes ${top} channels but the coarsest level has ${blockOutChannels[nUp - 1]}`, 'decoder.conv_in.weight');
  const outChannels = x.shape('decoder.conv_out.weight', 4)[0];
  const hasEncoder = ck.has('encoder.conv_in.weight');
  let inChannels = 3;
  if (hasEncoder) {
    inChannels = x.shape('encoder.conv_in.weight', 4)[1];
    const nDown = x.count(bfl ? 'encoder.down.' : 'encoder.down_blocks.');
    if (nDown !== nUp) x.fail(`the encoder has ${nDown} levels but the decoder ${nUp}`, 'encoder.conv_in.weight');
    const r = x.count(bfl ? 'encoder.down.0.block.' : 'encoder.down_blocks.0.resnets.');
    if (r !== layersPerBlock) x.fail(`encoder level 0 has ${r} resnets but the decoder's ${resnetsPerUp} imply layers_per_block ${layersPerBlock}`, 'encoder.conv_in.weight');
    const zOut = x.shape('encoder.conv_out.weight', 4)[0];
    if (zOut !== 2 * latentChannels) x.fail(`encoder.conv_out makes ${zOut} channels, not 2 x ${latentChannels} latent channels (mean and log-variance)`, 'encoder.conv_out.weight');
  }
  const midAttention = ck.has(bfl ? 'decoder.mid.attn_1.q.weight' : 'decoder.mid_block.attentions.0.to_q.weight');
  const normGroups = bfl ? 32 : x.jsonNumber('norm_num_groups', 32);
  for (const c of blockOutChannels) if (c % normGroups !== 0) x.fail(`${normGroups} GroupNorm groups do not divide ${c} channels (norm_num_groups in config.json?)`);
  const cfg: VaeConfig = {
    family: 'autoencoder-kl', layout, inChannels, outChannels, latentChannels, blockOutChannels, layersPerBlock, normGroups,
    quantConv: !bfl && ck.has('quant_conv.weight'), postQuantConv: !bfl && ck.has('post_quant_conv.weight'), midAttention, hasEncoder,
    scalingFactor: bfl ? FLUX_SCALING_FACTOR : x.jsonNumber('scaling_factor', Number.NaN),
    shiftFactor: bfl ? FLUX_SHIFT_FACTOR : x.jsonNumber('shift_factor', 0),
    factorsFrom: bfl ? 'FLUX.1 defaults (BFL ae.safetensors has no config)' : 'config.json',
  };
  if (!bfl && !Number.isFinite(cfg.scalingFactor)) {
    x.fail('no scaling_factor in config.json: a diffusers VAE folder needs its config.json (the latent scale differs per model: FLUX 0.3611, SD3 1.5305)');
  }
  x.agree('block_out_channels', blockOutChannels);
  x.agree('layers_per_block', layersPerBlock);
  x.agree('latent_channels', latentChannels);
  x.agree('out_channels', outChannels);
  if (hasEncoder) x.agree('in_channels', inChannels);
  if (hasEncoder) x.agree('use_quant_conv', cfg.quantConv); // quant_conv is part of the encoder side
  x.agree('use_post_quant_conv', cfg.postQuantConv);
  x.agree('mid_block_add_attention', midAttention);
  for (const key of ['down_block_types', 'up_block_types'] as const) {
    const v = x.json(key);
    const plain = key === 'down_block_types' ? 'DownEncoderBlock2D' : 'UpDecoderBlock2D';
    if (Array.isArray(v) && v.some((t) => t !== plain)) x.fail(`config.json ${key} ${JSON.stringify(v)}: only ${plain} blocks are supported`);
  }
  const act = x.json('act_fn');
  if (act !== undefined && act !== 'silu') x.fail(`config.json act_fn "${String(act)}": only silu is supported`);
  return cfg;
}

/** Layout name and shape of a param in its checkpoint. */
function stored(p: VaeParam, layout: VaeLayout): { name: string; shape: number[] } {
  return layout === 'bfl' ? { name: p.bfl, shape: p.bflShape } : { name: p.diffusers, shape: p.shape };
}

/** The shape the graph declares for a canonical weight, given its shape in weightSources. */
export function vaeGraphWeightShape(source: Pick<WeightSource, 'shape'>, role: 'conv' | 'linear' | 'vector'): number[] {
  if (role === 'conv') return packedConv2dWeightShape(source.shape);
  if (role === 'linear') return source.shape.slice(0, 2);
  return source.shape;
}

/** Canonical weights with their role (conv weights get packed at load, linears reshaped). */
export function vaeWeightSources(cfg: VaeConfig): (WeightSource & { role: 'conv' | 'linear' | 'vector' })[] {
  const out = new Map<string, WeightSource & { role: 'conv' | 'linear' | 'vector' }>();
  for (const p of vaeParams(cfg)) {
    const s = stored(p, cfg.layout);
    const prev = out.get(p.canon);
    if (prev) {
      // Fused q/k/v: rows of the three tensors back to back.
      prev.parts.push({ tensor: s.name });
      prev.shape = [prev.shape[0] + s.shape[0], ...prev.shape.slice(1)];
    } else {
      out.set(p.canon, { name: p.canon, shape: [...s.shape], parts: [{ tensor: s.name }], role: p.role });
    }
  }
  return [...out.values()];
}

function describe(cfg: VaeConfig): string {
  const f = vaeScale(cfg);
  return `AutoencoderKL (${cfg.layout}): ${cfg.latentChannels} latent channels, ${f}x spatial, block_out_channels [${cfg.blockOutChannels}], ` +
    `${cfg.layersPerBlock} resnets per level, ${cfg.normGroups} groups${cfg.midAttention ? ', mid attention' : ''}` +
    `${cfg.quantConv || cfg.postQuantConv ? ', quant convs' : ''}${cfg.hasEncoder ? '' : ', decoder only'}; ` +
    `scaling ${cfg.scalingFactor}, shift ${cfg.shiftFactor} (${cfg.factorsFrom})`;
}

function configJson(cfg: VaeConfig): Record<string, unknown> {
  const n = cfg.blockOutChannels.length;
  return {
    _class_name: 'AutoencoderKL', in_channels: cfg.inChannels, out_channels: cfg.outChannels, latent_channels: cfg.latentChannels,
    block_out_channels: cfg.blockOutChannels, layers_per_block: cfg.layersPerBlock, norm_num_groups: cfg.normGroups, act_fn: 'silu',
    down_block_types: new Array(n).fill('DownEncoderBlock2D'), up_block_types: new Array(n).fill('UpDecoderBlock2D'),
    scaling_factor: cfg.scalingFactor, shift_factor: cfg.shiftFactor, use_quant_conv: cfg.quantConv,
    use_post_quant_conv: cfg.postQuantConv, mid_block_add_attention: cfg.midAttention, force_upcast: true,
  };
}

export const autoencoderKl: ModelFamily<VaeConfig> = {
  id: 'autoencoder-kl',
  kind: 'vae',
  title: 'AutoencoderKL image autoencoder (FLUX.1, SD3, SD VAEs)',
  detect: detectLayout,
  inferConfig: (ck, layout) => {
    if (layout !== 'diffusers' && layout !== 'bfl') throw new Error(`autoencoder-kl: unknown layout '${layout}'`);
    return infer(ck, layout);
  },
  expectedTensors: (cfg): ExpectedTensor[] => vaeParams(cfg).map((p) => ({ ...stored(p, cfg.layout) })),
  weightSources: (cfg) => vaeWeightSources(cfg).map(({ role: _role, ...s }) => s),
  describe,
  configJson,
};
