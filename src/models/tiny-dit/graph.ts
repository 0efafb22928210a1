// The tiny DiT's graph: a small DiT that exercises every op a FLUX/SD3 block needs (the test-only family).
//
//   h    = tokens @ img_in^T + b                      (f32 residual stream [B, L, C])
//   vec  = silu(cond)                                 (f16 [B, Cc])
//   per block i:
//     mod  = vec @ mod^T + b                          (f32 [B, 6C]: shift1, scale1, gate1, shift2, scale2, gate2)
//     n1   = LN(h) * (1 + scale1) + shift1            (f16)
//     qkv  = n1 @ qkv^T + b                           (f16 [B, L, 3C], laid out (3, H, D))
//     q,k,v = RoPE(RMSNorm_D(q) * qn), RoPE(RMSNorm_D(k) * kn), v   ([B, H, L, D] f16)
//     o    = softmax(q k^T / sqrt(D)) v               (f16 [B, L, C])
//     h    = h + gate1 * (o @ proj^T + b)             (in place on the residual stream)
//     n2   = LN(h) * (1 + scale2) + shift2
//     h    = h + gate2 * (gelu_tanh(n2 @ fc1^T + b) @ fc2^T + b)
//   out  = (LN(h) * (1 + fscale) + fshift) @ final^T + b   (f32 [B, L, P]); fshift/fscale from vec @ final_mod^T
// RoPE ids are FLUX's image ids (0, row, col) over a gridH x gridW token grid.
import type { DType } from '../../gpu/kernel.js';
import { Graph } from '../../graph/graph.js';
import { attention, qkvPrep } from '../../graph/ops/attention.js';
import { silu } from '../../graph/ops/elementwise.js';
import { linear } from '../../graph/ops/matmul.js';
import { layerNormModulate } from '../../graph/ops/norm.js';
import type { Tensor } from '../../graph/tensor.js';
import { fluxPositionIds, fluxRopeTable } from '../flux/rope.js';
import { TINY_DIT_DEFAULT, type TinyDitConfig, type TinyDitSetup } from './config.js';

export interface WeightSpec {
  shape: number[];
  dtype: DType;
  /** Fan-in, for initialisation scales. */
  fanIn: number;
}

/** Every weight the model reads, by checkpoint-style name. */
export function tinyDitWeights(cfg: TinyDitConfig): Map<string, WeightSpec> {
  const { hidden: C, patchDim: P, condDim: Cc, mlpRatio } = cfg;
  const D = C / cfg.heads;
  const F = C * mlpRatio;
  const w = new Map<string, WeightSpec>();
  const lin = (name: string, n: number, k: number) => {
    w.set(`${name}.weight`, { shape: [n, k], dtype: 'f16', fanIn: k });
    w.set(`${name}.bias`, { shape: [n], dtype: 'f32', fanIn: k });
  };
  lin('img_in', C, P);
  for (let i = 0; i < cfg.depth; i++) {
    const b = `blocks.${i}`;
    lin(`${b}.mod`, 6 * C, Cc);
    lin(`${b}.qkv`, 3 * C, C);
    w.set(`${b}.norm.query_norm.scale`, { shape: [D], dtype: 'f16', fanIn: 0 });
    w.set(`${b}.norm.key_norm.scale`, { shape: [D], dtype: 'f16', fanIn: 0 });
    lin(`${b}.proj`, C, C);
    lin(`${b}.mlp.0`, F, C);
    lin(`${b}.mlp.2`, C, F);
  }
  lin('final.mod', 2 * C, Cc);
  lin('final.linear', P, C);
  return w;
}

export function checkTinyDitConfig(cfg: TinyDitConfig): void {
  for (const [k, v] of Object.entries({ hidden: cfg.hidden, heads: cfg.heads, depth: cfg.depth, patchDim: cfg.patchDim, condDim: cfg.condDim })) {
    if (!Number.isInteger(v) || v < 1) throw new Error(`tiny-dit: ${k} = ${v} must be a positive integer`);
  }
  const D = cfg.hidden / cfg.heads;
  if (!Number.isInteger(D)) throw new Error(`tiny-dit: hidden ${cfg.hidden} is not a multiple of heads ${cfg.heads}`);
  const sum = cfg.axesDim.reduce((a, b) => a + b, 0);
  if (sum !== D) throw new Error(`tiny-dit: RoPE axesDim [${cfg.axesDim}] sums to ${sum} but the head dim is ${D}`);
}

/** Builds the forward graph: inputs 'tokens' [B, L, P] f16 and 'cond' [B, Cc] f16, output 'out' [B, L, P] f32. */
export function buildTinyDit(cfg: TinyDitSetup = TINY_DIT_DEFAULT): Graph {
  checkTinyDitConfig(cfg);
  const { batch: B, heads: H, patchDim: P, condDim: Cc, eps } = cfg;
  const L = cfg.gridH * cfg.gridW;
  const specs = tinyDitWeights(cfg);
  const g = new Graph('tiny-dit');
  const W = (name: string): Tensor => {
    const s = specs.get(name);
    if (!s) throw new Error(`tiny-dit: no weight '${name}'`);
    return g.weight(name, s.shape, s.dtype);
  };
  const tokens = g.input('tokens', [B, L, P], 'f16');
  const cond = g.input('cond', [B, Cc], 'f16');
  const table = fluxRopeTable(fluxPositionIds(0, cfg.gridH, cfg.gridW), cfg.axesDim, cfg.theta);
  const rope = { cos: g.constant('rope.cos', table.cos, [L, table.pairs]), sin: g.constant('rope.sin', table.sin, [L, table.pairs]) };

  let h = linear(g, tokens, W('img_in.weight'), { bias: W('img_in.bias'), dtype: 'f32', name: 'img_in' });
  const vec = silu(g, cond, { name: 'vec' });
  for (let i = 0; i < cfg.depth; i++) {
    h = g.scope(`blocks.${i}`, () => {
      const b = `blocks.${i}`;
      const mod = linear(g, vec, W(`${b}.mod.weight`), { bias: W(`${b}.mod.bias`), dtype: 'f32', name: 'mod' });
      const n1 = layerNormModulate(g, h, mod, { shiftChunk: 0, scaleChunk: 1, eps, name: 'norm1' });
      const qkv = linear(g, n1, W(`${b}.qkv.weight`), { bias: W(`${b}.qkv.bias`), name: 'qkv' });
      const { q, k, v } = qkvPrep(g, qkv, {
        heads: H, qNorm: W(`${b}.norm.query_norm.scale`), kNorm: W(`${b}.norm.key_norm.scale`), rope, eps, name: 'qkv_prep',
      });
      const { out: o } = attention(g, q, k, v, { name: 'attn' });
      let r = linear(g, o, W(`${b}.proj.weight`), { bias: W(`${b}.proj.bias`), residual: h, gate: { mod, chunk: 2 }, name: 'proj' });
      const n2 = layerNormModulate(g, r, mod, { shiftChunk: 3, scaleChunk: 4, eps, name: 'norm2' });
      const m = linear(g, n2, W(`${b}.mlp.0.weight`), { bias: W(`${b}.mlp.0.bias`), activation: 'gelu_tanh', name: 'fc1' });
      r = linear(g, m, W(`${b}.mlp.2.weight`), { bias: W(`${b}.mlp.2.bias`), residual: r, gate: { mod, chunk: 5 }, name: 'fc2' });
      return r;
    });
  }
  const out = g.scope('final', () => {
    const fmod = linear(g, vec, W('final.mod.weight'), { bias: W('final.mod.bias'), dtype: 'f32', name: 'mod' });
    const nf = layerNormModulate(g, h, fmod, { shiftChunk: 0, scaleChunk: 1, eps, name: 'norm' });
    return linear(g, nf, W('final.linear.weight'), { bias: W('final.linear.bias'), dtype: 'f32', name: 'linear' });
  });
  g.output('out', out);
  return g;
}
