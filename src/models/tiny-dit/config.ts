// The tiny DiT's configuration (the test-only family: docs/architecture.md's worked example of adding a family).
import type { FamilyConfig } from '../family.js';

export interface TinyDitConfig extends FamilyConfig {
  family: 'tiny-dit';
  layout: 'tiny';
  /** Input/output channels per token (a patchified latent). */
  patchDim: number;
  condDim: number;
  hidden: number;
  heads: number;
  depth: number;
  mlpRatio: number;
  /** RoPE axes (sum = head dim), FLUX-style. */
  axesDim: number[];
  theta: number;
  eps: number;
}

/** The sizes one graph is built for. */
export interface TinyDitShape {
  batch: number;
  gridH: number;
  gridW: number;
}

export type TinyDitSetup = TinyDitConfig & TinyDitShape;

export const TINY_DIT_DEFAULT: TinyDitSetup = {
  family: 'tiny-dit', layout: 'tiny',
  batch: 2, gridH: 3, gridW: 5, patchDim: 10, condDim: 24, hidden: 48, heads: 3, depth: 2, mlpRatio: 4,
  axesDim: [4, 6, 6], theta: 10000, eps: 1e-6,
};

/** The config.json a tiny-dit checkpoint carries (RoPE and norm constants are not in any tensor shape). */
export function tinyDitConfigJson(c: TinyDitConfig): Record<string, unknown> {
  return { _class_name: 'TinyDit', axes_dim: c.axesDim, theta: c.theta, eps: c.eps };
}
