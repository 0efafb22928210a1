// Float64 CPU reference for the tiny DiT (src/models/tiny-dit/graph.ts), written independently of the WGSL
// kernels and of the host RoPE table code: plain loops over row-major arrays, no intermediate rounding.
import type { TinyDitSetup } from '../../../src/models/tiny-dit/index.js';

export type Weights = Map<string, Float64Array>;

/** y[M, N] = x[M, K] W[N, K]^T + b. */
export function linearRef(x: Float64Array, M: number, K: number, w: Float64Array, N: number, b?: Float64Array): Float64Array {
  const y = new Float64Array(M * N);
  for (let m = 0; m < M; m++) {
    for (let n = 0; n < N; n++) {
      let s = b ? b[n] : 0;
      for (let k = 0; k < K; k++) s += x[m * K + k] * w[n * K + k];
      y[m * N + n] = s;
    }
  }
  return y;
}

export const siluRef = (v: number) => v / (1 + Math.exp(-v));
export const geluTanhRef = (v: number) => 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v ** 3)));

/** LayerNorm without affine over rows of length C. */
export function layerNormRef(x: Float64Array, C: number, eps: number): Float64Array {
  const y = new Float64Array(x.length);
  for (let r = 0; r < x.length / C; r++) {
    let mean = 0;
    for (let c = 0; c < C; c++) mean += x[r * C + c];
    mean /= C;
    let v = 0;
    for (let c = 0; c < C; c++) v += (x[r * C + c] - mean) ** 2;
    const inv = 1 / Math.sqrt(v / C + eps);
    for (let c = 0; c < C; c++) y[r * C + c] = (x[r * C + c] - mean) * inv;
  }
  return y;
}

/** RoPE angle for token (row, col) and rotation pair j: FLUX ids (0, row, col), pairs adjacent (2j, 2j+1). */
export function ropeAngle(ids: readonly number[], axesDim: readonly number[], theta: number, j: number): number {
  let a = 0;
  let jj = j;
  while (jj >= axesDim[a] / 2) {
    jj -= axesDim[a] / 2;
    a++;
  }
  return ids[a] * Math.pow(theta, (-2 * jj) / axesDim[a]);
}

/** Per-head RMSNorm (weight w) then RoPE; x is one head vector of length D. */
function normRope(x: Float64Array, w: Float64Array, eps: number, angles: number[]): Float64Array {
  const D = x.length;
  let ss = 0;
  for (let d = 0; d < D; d++) ss += x[d] * x[d];
  const inv = 1 / Math.sqrt(ss / D + eps);
  const n = x.map((v, d) => v * inv * w[d]);
  const out = new Float64Array(D);
  for (let j = 0; j < D / 2; j++) {
    const c = Math.cos(angles[j]);
    const s = Math.sin(angles[j]);
    out[2 * j] = c * n[2 * j] - s * n[2 * j + 1];
    out[2 * j + 1] = s * n[2 * j] + c * n[2 * j + 1];
  }
  return out;
}

/** Full forward: tokens [B, L, P], cond [B, Cc] -> [B, L, P]. */
export function tinyDitRef(cfg: TinyDitSetup, W: Weights, tokens: Float64Array, cond: Float64Array): Float64Array {
  const { batch: B, hidden: C, heads: H, patchDim: P, condDim: Cc, eps, mlpRatio } = cfg;
  const L = cfg.gridH * cfg.gridW;
  const D = C / H;
  const F = C * mlpRatio;
  const get = (n: string) => {
    const v = W.get(n);
    if (!v) throw new Error(`reference: missing weight ${n}`);
    return v;
  };
  const angles: number[][] = [];
  for (let t = 0; t < L; t++) {
    const ids = [0, Math.floor(t / cfg.gridW), t % cfg.gridW];
    angles.push(Array.from({ length: D / 2 }, (_, j) => ropeAngle(ids, cfg.axesDim, cfg.theta, j)));
  }
  const h = linearRef(tokens, B * L, P, get('img_in.weight'), C, get('img_in.bias'));
  const vec = cond.map(siluRef);
  const modulate = (x: Float64Array, mod: Float64Array, G: number, shift: number, scale: number) => {
    const n = layerNormRef(x, C, eps);
    for (let b = 0; b < B; b++) {
      for (let l = 0; l < L; l++) {
        for (let c = 0; c < C; c++) {
          const i = (b * L + l) * C + c;
          n[i] = n[i] * (1 + mod[b * G * C + scale * C + c]) + mod[b * G * C + shift * C + c];
        }
      }
    }
    return n;
  };
  const gatedAdd = (y: Float64Array, mod: Float64Array, chunk: number) => {
    for (let b = 0; b < B; b++) {
      for (let l = 0; l < L; l++) {
        for (let c = 0; c < C; c++) {
          const i = (b * L + l) * C + c;
          h[i] += mod[b * 6 * C + chunk * C + c] * y[i];
        }
      }
    }
  };
  for (let blk = 0; blk < cfg.depth; blk++) {
    const p = `blocks.${blk}`;
    const mod = linearRef(vec, B, Cc, get(`${p}.mod.weight`), 6 * C, get(`${p}.mod.bias`));
    const n1 = modulate(h, mod, 6, 0, 1);
    const qkv = linearRef(n1, B * L, C, get(`${p}.qkv.weight`), 3 * C, get(`${p}.qkv.bias`));
    const qn = get(`${p}.norm.query_norm.scale`);
    const kn = get(`${p}.norm.key_norm.scale`);
    const o = new Float64Array(B * L * C);
    for (let b = 0; b < B; b++) {
      for (let hd = 0; hd < H; hd++) {
        const head = (which: number, l: number) => qkv.slice((b * L + l) * 3 * C + which * C + hd * D, (b * L + l) * 3 * C + which * C + (hd + 1) * D);
        const qs = Array.from({ length: L }, (_, l) => normRope(head(0, l), qn, eps, angles[l]));
        const ks = Array.from({ length: L }, (_, l) => normRope(head(1, l), kn, eps, angles[l]));
        const vs = Array.from({ length: L }, (_, l) => head(2, l));
        for (let i = 0; i < L; i++) {
          const s = ks.map((k) => k.reduce((acc, kv, d) => acc + kv * qs[i][d], 0) / Math.sqrt(D));
          const mx = Math.max(...s);
          const e = s.map((x) => Math.exp(x - mx));
          const z = e.reduce((a2, b2) => a2 + b2, 0);
          for (let d = 0; d < D; d++) {
            let acc = 0;
            for (let j = 0; j < L; j++) acc += (e[j] / z) * vs[j][d];
            o[(b * L + i) * C + hd * D + d] = acc;
          }
        }
      }
    }
    gatedAdd(linearRef(o, B * L, C, get(`${p}.proj.weight`), C, get(`${p}.proj.bias`)), mod, 2);
    const n2 = modulate(h, mod, 6, 3, 4);
    const m = linearRef(n2, B * L, C, get(`${p}.mlp.0.weight`), F, get(`${p}.mlp.0.bias`)).map(geluTanhRef);
    gatedAdd(linearRef(m, B * L, F, get(`${p}.mlp.2.weight`), C, get(`${p}.mlp.2.bias`)), mod, 5);
  }
  const fmod = linearRef(vec, B, Cc, get('final.mod.weight'), 2 * C, get('final.mod.bias'));
  const nf = modulate(h, fmod, 2, 0, 1);
  return linearRef(nf, B * L, C, get('final.linear.weight'), P, get('final.linear.bias'));
}
