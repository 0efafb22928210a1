// Every AutoencoderKL tensor, walked once in module order, under both names it has in the wild:
//   diffusers (vae/diffusion_pytorch_model.safetensors): encoder.down_blocks.i.resnets.j..., decoder.up_blocks.i...,
//     mid_block.attentions.0.to_q (Linear [C, C]), conv_shortcut, conv_norm_out, quant_conv / post_quant_conv;
//   BFL (ae.safetensors, flux/modules/autoencoder.py): encoder.down.i.block.j..., decoder.up.<level>.block.j with
//     level = n-1-i (BFL numbers decoder levels finest first, diffusers in execution order), mid.block_1/attn_1/
//     block_2, attention q/k/v/proj_out as 1x1 Conv2d [C, C, 1, 1], nin_shortcut, norm_out, no quant convs.
// The canonical names (what the graphs declare) are the diffusers ones, with the mid-block attention's q/k/v
// fused into one `to_qkv` [3C, C] (one matmul), assembled at load from the three tensors' rows.
import type { VaeConfig } from './config.js';

export type ParamRole = 'conv' | 'linear' | 'vector';

export interface VaeParam {
  /** Canonical (graph) name; for q/k/v: the fused to_qkv name, several params share it. */
  canon: string;
  diffusers: string;
  bfl: string;
  /** Shape in the diffusers file (PyTorch layout: conv [Cout, Cin, k, k], linear [out, in]). */
  shape: number[];
  /** Shape in BFL's file (attention linears are 1x1 convs there). */
  bflShape: number[];
  role: ParamRole;
}

class Walker {
  readonly params: VaeParam[] = [];

  add(diff: string, bfl: string, shape: number[], role: ParamRole, canon = diff, bflShape = shape): void {
    this.params.push({ canon, diffusers: diff, bfl, shape, bflShape, role });
  }

  conv(diff: string, bfl: string, cout: number, cin: number, k: number): void {
    this.add(`${diff}.weight`, `${bfl}.weight`, [cout, cin, k, k], 'conv');
    this.add(`${diff}.bias`, `${bfl}.bias`, [cout], 'vector');
  }

  norm(diff: string, bfl: string, c: number): void {
    this.add(`${diff}.weight`, `${bfl}.weight`, [c], 'vector');
    this.add(`${diff}.bias`, `${bfl}.bias`, [c], 'vector');
  }

  resnet(diff: string, bfl: string, cin: number, cout: number): void {
    this.norm(`${diff}.norm1`, `${bfl}.norm1`, cin);
    this.conv(`${diff}.conv1`, `${bfl}.conv1`, cout, cin, 3);
    this.norm(`${diff}.norm2`, `${bfl}.norm2`, cout);
    this.conv(`${diff}.conv2`, `${bfl}.conv2`, cout, cout, 3);
    if (cin !== cout) this.conv(`${diff}.conv_shortcut`, `${bfl}.nin_shortcut`, cout, cin, 1);
  }

  attention(diff: string, bfl: string, c: number): void {
    this.norm(`${diff}.group_norm`, `${bfl}.norm`, c);
    for (const [d, b] of [['to_q', 'q'], ['to_k', 'k'], ['to_v', 'v']]) {
      this.add(`${diff}.${d}.weight`, `${bfl}.${b}.weight`, [c, c], 'linear', `${diff}.to_qkv.weight`, [c, c, 1, 1]);
      this.add(`${diff}.${d}.bias`, `${bfl}.${b}.bias`, [c], 'vector', `${diff}.to_qkv.bias`);
    }
    this.add(`${diff}.to_out.0.weight`, `${bfl}.proj_out.weight`, [c, c], 'linear', `${diff}.to_out.0.weight`, [c, c, 1, 1]);
    this.add(`${diff}.to_out.0.bias`, `${bfl}.proj_out.bias`, [c], 'vector');
  }

  mid(side: 'encoder' | 'decoder', c: number, attention: boolean): void {
    this.resnet(`${side}.mid_block.resnets.0`, `${side}.mid.block_1`, c, c);
    if (attention) this.attention(`${side}.mid_block.attentions.0`, `${side}.mid.attn_1`, c);
    this.resnet(`${side}.mid_block.resnets.1`, `${side}.mid.block_2`, c, c);
  }
}

/** Every parameter of the config, in execution order (encoder, quant convs, decoder). */
export function vaeParams(cfg: VaeConfig): VaeParam[] {
  const w = new Walker();
  const ch = cfg.blockOutChannels;
  const n = ch.length;
  const L = cfg.layersPerBlock;
  const top = ch[n - 1];
  const lat = cfg.latentChannels;
  if (cfg.hasEncoder) {
    w.conv('encoder.conv_in', 'encoder.conv_in', ch[0], cfg.inChannels, 3);
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < L; j++) {
        const cin = j === 0 ? ch[Math.max(0, i - 1)] : ch[i];
        w.resnet(`encoder.down_blocks.${i}.resnets.${j}`, `encoder.down.${i}.block.${j}`, cin, ch[i]);
      }
      if (i !== n - 1) w.conv(`encoder.down_blocks.${i}.downsamplers.0.conv`, `encoder.down.${i}.downsample.conv`, ch[i], ch[i], 3);
    }
    w.mid('encoder', top, cfg.midAttention);
    w.norm('encoder.conv_norm_out', 'encoder.norm_out', top);
    w.conv('encoder.conv_out', 'encoder.conv_out', 2 * lat, top, 3);
    if (cfg.quantConv) w.conv('quant_conv', 'quant_conv', 2 * lat, 2 * lat, 1);
  }
  if (cfg.postQuantConv) w.conv('post_quant_conv', 'post_quant_conv', lat, lat, 1);
  w.conv('decoder.conv_in', 'decoder.conv_in', top, lat, 3);
  w.mid('decoder', top, cfg.midAttention);
  for (let i = 0; i < n; i++) {
    const level = n - 1 - i;
    const prev = i === 0 ? top : ch[level + 1];
    for (let j = 0; j <= L; j++) {
      w.resnet(`decoder.up_blocks.${i}.resnets.${j}`, `decoder.up.${level}.block.${j}`, j === 0 ? prev : ch[level], ch[level]);
    }
    if (i !== n - 1) w.conv(`decoder.up_blocks.${i}.upsamplers.0.conv`, `decoder.up.${level}.upsample.conv`, ch[level], ch[level], 3);
  }
  w.norm('decoder.conv_norm_out', 'decoder.norm_out', ch[0]);
  w.conv('decoder.conv_out', 'decoder.conv_out', cfg.outChannels, ch[0], 3);
  return w.params;
}
