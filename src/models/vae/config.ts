// The AutoencoderKL configuration: what the graphs need to know, read from tensor shapes (config.json only
// cross-checks it, and supplies what shapes cannot say: norm groups, scaling/shift factors).
import type { FamilyConfig } from '../family.js';

export type VaeLayout = 'diffusers' | 'bfl';

export interface VaeConfig extends FamilyConfig {
  family: 'autoencoder-kl';
  layout: VaeLayout;
  /** Image channels in (encoder) and out (decoder): 3. */
  inChannels: number;
  outChannels: number;
  latentChannels: number;
  /** Per resolution level, finest first (diffusers block_out_channels; BFL ch * ch_mult). */
  blockOutChannels: number[];
  /** Resnets per encoder level (the decoder has one more per level). */
  layersPerBlock: number;
  normGroups: number;
  /** 1x1 convs around the latent (SD 1.x/2.x/XL have them; FLUX and SD3 do not). */
  quantConv: boolean;
  postQuantConv: boolean;
  /** Mid-block self-attention (one head over all pixels). */
  midAttention: boolean;
  /** The checkpoint has encoder weights (image to image needs them). */
  hasEncoder: boolean;
  /** Pipeline latents = (z - shiftFactor) * scalingFactor; decode takes z = latents / scalingFactor + shiftFactor. */
  scalingFactor: number;
  shiftFactor: number;
  /** Where scaling/shift came from, for messages. */
  factorsFrom: 'config.json' | 'FLUX.1 defaults (BFL ae.safetensors has no config)';
}

/** FLUX.1's vae/config.json values (BFL's ae.safetensors carries none; its AutoEncoderParams uses these). */
export const FLUX_SCALING_FACTOR = 0.3611;
export const FLUX_SHIFT_FACTOR = 0.1159;
export const GROUP_NORM_EPS = 1e-6;

/** Spatial factor between image and latent: 2 per downsampling level. */
export function vaeScale(cfg: Pick<VaeConfig, 'blockOutChannels'>): number {
  return 2 ** (cfg.blockOutChannels.length - 1);
}
