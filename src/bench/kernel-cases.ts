// The shapes the served models actually run, as benchmark cases. One definition feeds both our WGSL benchmark
// and the PyTorch reference script (through the emitted spec), so every row compares the same work.
import type { GpuContext } from '../gpu/context.js';
import { allocTensor, runCalls, type KernelCall, type TensorView } from '../gpu/kernel.js';
import { randomFill } from '../kernels-wgsl/random-fill.js';
import { linear } from '../kernels-wgsl/matmul.js';
import { attentionCalls } from '../kernels-wgsl/attention.js';
import { layerNormModulate, rmsNorm } from '../kernels-wgsl/norm.js';
import { unary } from '../kernels-wgsl/elementwise.js';
import { packConv2dWeight, packedConv2dWeightShape } from '../kernels-wgsl/conv2d.js';
import { conv2dCalls } from '../kernels-wgsl/conv2d-gemm.js';
import { groupNorm } from '../kernels-wgsl/groupnorm.js';

export type KernelOp = 'linear' | 'attention' | 'layernorm_modulate' | 'rmsnorm' | 'gelu_tanh' | 'conv2d' | 'groupnorm_silu';

export interface KernelCaseSpec {
  id: string;
  model: string;
  op: KernelOp;
  /** Op-specific sizes; the PyTorch reference reads the same fields. */
  shape: Record<string, number>;
  /** Useful floating-point operations of one execution. */
  flops: number;
  /** Minimum bytes one execution must move (inputs read once, outputs written once). */
  bytes: number;
}

export interface KernelCase extends KernelCaseSpec {
  build(ctx: GpuContext): Promise<KernelCall[]>;
}

async function randomTensor(ctx: GpuContext, shape: number[], dtype: 'f16' | 'f32', seed: number, std = 1): Promise<{ t: TensorView; init: KernelCall }> {
  const t = allocTensor(ctx, shape, dtype);
  return { t, init: await randomFill(ctx, { out: t, seed, std }) };
}

/** Runs the tensors' initialisation once, returns the calls to time. */
async function prepared(ctx: GpuContext, inits: KernelCall[], calls: KernelCall[]): Promise<KernelCall[]> {
  await runCalls(ctx, inits);
  return calls;
}

function linearCase(model: string, id: string, M: number, K: number, N: number, activation: 'none' | 'gelu_tanh' = 'none'): KernelCase {
  return {
    id, model, op: 'linear', shape: { M, K, N, gelu: activation === 'gelu_tanh' ? 1 : 0 },
    flops: 2 * M * K * N,
    bytes: 2 * (M * K + K * N + M * N),
    async build(ctx) {
      const x = await randomTensor(ctx, [M, K], 'f16', 1);
      const w = await randomTensor(ctx, [N, K], 'f16', 2, 0.02);
      const b = await randomTensor(ctx, [N], 'f16', 3, 0.02);
      const out = allocTensor(ctx, [M, N], 'f16');
      const call = await linear(ctx, { x: x.t, w: w.t, bias: b.t, out, activation, label: id });
      return prepared(ctx, [x.init, w.init, b.init], [call]);
    },
  };
}

/**
 * The gated residual linear of FLUX's blocks (attention proj, MLP down, single-block out): out (f32, the residual
 * stream, updated in place) += gate * (x W^T + b), gate one row per image ([1, 6N] adaLN output, chunk 2). The model
 * profile runs these well below the same GEMM without the epilogue (docs/matmul.md).
 */
function gatedLinearCase(model: string, id: string, M: number, K: number, N: number): KernelCase {
  return {
    id, model, op: 'linear', shape: { M, K, N, gelu: 0, gated: 1 },
    flops: 2 * M * K * N,
    bytes: 2 * (M * K + K * N) + 8 * M * N,
    async build(ctx) {
      const x = await randomTensor(ctx, [M, K], 'f16', 1);
      const w = await randomTensor(ctx, [N, K], 'f16', 2, 0.02);
      const b = await randomTensor(ctx, [N], 'f16', 3, 0.02);
      const mod = await randomTensor(ctx, [1, 6 * N], 'f32', 17, 0.5);
      const res = await randomTensor(ctx, [M, N], 'f32', 18);
      const call = await linear(ctx, { x: x.t, w: w.t, bias: b.t, gate: mod.t, gateChunk: 2, rowsPerBatch: M, residual: res.t, out: res.t, label: id });
      return prepared(ctx, [x.init, w.init, b.init, mod.init, res.init], [call]);
    },
  };
}

function attentionCase(model: string, id: string, S: number, H: number, D: number): KernelCase {
  return {
    id, model, op: 'attention', shape: { B: 1, H, S, D },
    flops: 4 * H * S * S * D,
    bytes: 2 * 4 * H * S * D,
    async build(ctx) {
      const q = await randomTensor(ctx, [1, H, S, D], 'f16', 4);
      const k = await randomTensor(ctx, [1, H, S, D], 'f16', 5);
      const v = await randomTensor(ctx, [1, H, S, D], 'f16', 6);
      const out = allocTensor(ctx, [1, S, H * D], 'f16');
      const calls = await attentionCalls(ctx, { q: q.t, k: k.t, v: v.t, out, label: id });
      return prepared(ctx, [q.init, k.init, v.init], calls);
    },
  };
}

function modulateCase(model: string, id: string, R: number, C: number): KernelCase {
  return {
    id, model, op: 'layernorm_modulate', shape: { R, C },
    flops: 0,
    // f32 residual stream in, f16 out (the engine's precision classes).
    bytes: R * C * (4 + 2),
    async build(ctx) {
      const x = await randomTensor(ctx, [R, C], 'f32', 7);
      const mod = await randomTensor(ctx, [1, 6 * C], 'f16', 8, 0.1);
      const out = allocTensor(ctx, [R, C], 'f16');
      const call = await layerNormModulate(ctx, { x: x.t, out, mod: mod.t, shiftChunk: 0, scaleChunk: 1, rowsPerBatch: R, eps: 1e-6 });
      return prepared(ctx, [x.init, mod.init], [call]);
    },
  };
}

function rmsCase(model: string, id: string, R: number, C: number): KernelCase {
  return {
    id, model, op: 'rmsnorm', shape: { R, C },
    flops: 0,
    bytes: R * C * 4,
    async build(ctx) {
      const x = await randomTensor(ctx, [R, C], 'f16', 9);
      const w = await randomTensor(ctx, [C], 'f16', 10);
      const out = allocTensor(ctx, [R, C], 'f16');
      const call = await rmsNorm(ctx, { x: x.t, out, weight: w.t, eps: 1e-6 });
      return prepared(ctx, [x.init, w.init], [call]);
    },
  };
}

function geluCase(model: string, id: string, R: number, C: number): KernelCase {
  return {
    id, model, op: 'gelu_tanh', shape: { R, C },
    flops: 0,
    bytes: R * C * 4,
    async build(ctx) {
      const x = await randomTensor(ctx, [R, C], 'f16', 11);
      const out = allocTensor(ctx, [R, C], 'f16');
      const call = await unary(ctx, { x: x.t, out, op: 'gelu_tanh' });
      return prepared(ctx, [x.init], [call]);
    },
  };
}

function convCase(model: string, id: string, HW: number, Cin: number, Cout: number): KernelCase {
  return {
    id, model, op: 'conv2d', shape: { B: 1, H: HW, W: HW, Cin, Cout, k: 3 },
    flops: 2 * HW * HW * Cout * Cin * 9,
    bytes: 2 * (HW * HW * (Cin + Cout) + Cout * Cin * 9),
    async build(ctx) {
      const x = await randomTensor(ctx, [1, HW, HW, Cin], 'f16', 12);
      const wRaw = await randomTensor(ctx, [Cout, Cin, 3, 3], 'f16', 13, 0.02);
      const w = allocTensor(ctx, packedConv2dWeightShape([Cout, Cin, 3, 3]), 'f16');
      const pack = await packConv2dWeight(ctx, { src: wRaw.t, dst: w });
      const out = allocTensor(ctx, [1, HW, HW, Cout], 'f16');
      const calls = await conv2dCalls(ctx, { x: x.t, w, out, kernel: 3, padding: 1, label: id });
      return prepared(ctx, [x.init, wRaw.init, pack], calls);
    },
  };
}

function groupNormCase(model: string, id: string, HW: number, C: number): KernelCase {
  return {
    id, model, op: 'groupnorm_silu', shape: { B: 1, H: HW, W: HW, C, groups: 32 },
    flops: 0,
    bytes: HW * HW * C * 4,
    async build(ctx) {
      const x = await randomTensor(ctx, [1, HW, HW, C], 'f16', 14);
      const w = await randomTensor(ctx, [C], 'f16', 15);
      const b = await randomTensor(ctx, [C], 'f16', 16);
      const out = allocTensor(ctx, [1, HW, HW, C], 'f16');
      const calls = await groupNorm(ctx, { x: x.t, out, weight: w.t, bias: b.t, groups: 32, eps: 1e-6, silu: true });
      return prepared(ctx, [x.init, w.init, b.init], calls);
    },
  };
}

/** FLUX.1 (hidden 3072, 24 heads x 128, MLP 12288, 512 text tokens) at one resolution. */
function fluxCases(res: number): KernelCase[] {
  const img = (res / 16) ** 2;
  const L = img + 512;
  const m = `FLUX.1 ${res}²`;
  const p = `flux${res}`;
  return [
    linearCase(m, `${p}.linear.qkv`, img, 3072, 9216),
    linearCase(m, `${p}.linear.proj`, img, 3072, 3072),
    linearCase(m, `${p}.linear.mlp_up_gelu`, L, 3072, 12288, 'gelu_tanh'),
    linearCase(m, `${p}.linear.mlp_down`, img, 12288, 3072),
    linearCase(m, `${p}.linear.single_in`, L, 3072, 21504),
    linearCase(m, `${p}.linear.single_out`, L, 15360, 3072),
    gatedLinearCase(m, `${p}.linear.proj_gated_residual`, img, 3072, 3072),
    gatedLinearCase(m, `${p}.linear.single_out_gated_residual`, L, 15360, 3072),
    // The double blocks' adaLN modulation: one row per image against [6 * 3072, 3072] (the skinny-linear kernel).
    linearCase(m, `${p}.linear.modulation`, 1, 3072, 18432),
    attentionCase(m, `${p}.attention`, L, 24, 128),
    modulateCase(m, `${p}.layernorm_modulate`, L, 3072),
    rmsCase(m, `${p}.rmsnorm_qk`, L * 24, 128),
    geluCase(m, `${p}.gelu_tanh`, L, 12288),
  ];
}

/** SD3-medium (hidden 1536, 24 heads x 64, MLP 6144) at 1024²: 4096 image + 333 text tokens. */
function sd3Cases(): KernelCase[] {
  const img = 4096;
  const L = img + 333;
  const m = 'SD3-medium 1024²';
  return [
    linearCase(m, 'sd3_1024.linear.q', img, 1536, 1536),
    linearCase(m, 'sd3_1024.linear.mlp_up_gelu', img, 1536, 6144, 'gelu_tanh'),
    linearCase(m, 'sd3_1024.linear.mlp_down', img, 6144, 1536),
    attentionCase(m, 'sd3_1024.attention', L, 24, 64),
    modulateCase(m, 'sd3_1024.layernorm_modulate', L, 1536),
  ];
}

/** The VAE decoder's convolutions at a 1024² output (latent 128²). */
function vaeCases(): KernelCase[] {
  const m = 'VAE decode 1024²';
  return [
    convCase(m, 'vae1024.conv3x3_512_at128', 128, 512, 512),
    convCase(m, 'vae1024.conv3x3_512_at256', 256, 512, 512),
    convCase(m, 'vae1024.conv3x3_256_at512', 512, 256, 256),
    convCase(m, 'vae1024.conv3x3_128_at1024', 1024, 128, 128),
    groupNormCase(m, 'vae1024.groupnorm_silu_128_at1024', 1024, 128),
  ];
}

/** Tiny shapes that exercise every case's code path in seconds on lavapipe (CI smoke, harness tests). */
function quickCases(): KernelCase[] {
  const m = 'quick';
  return [
    linearCase(m, 'quick.linear', 96, 64, 80),
    linearCase(m, 'quick.linear_gelu', 96, 64, 80, 'gelu_tanh'),
    gatedLinearCase(m, 'quick.linear_gated_residual', 96, 64, 80),
    linearCase(m, 'quick.linear_modulation', 1, 64, 96),
    attentionCase(m, 'quick.attention', 70, 2, 64),
    modulateCase(m, 'quick.layernorm_modulate', 40, 96),
    rmsCase(m, 'quick.rmsnorm', 64, 64),
    geluCase(m, 'quick.gelu_tanh', 40, 96),
    convCase(m, 'quick.conv3x3', 12, 16, 8),
    groupNormCase(m, 'quick.groupnorm_silu', 8, 64),
  ];
}

export type Suite = 'full' | 'quick' | 'flux' | 'sd3' | 'vae';

export function kernelCases(suite: Suite): KernelCase[] {
  switch (suite) {
    case 'quick':
      return quickCases();
    case 'flux':
      return [512, 1024, 2048].flatMap(fluxCases);
    case 'sd3':
      return sd3Cases();
    case 'vae':
      return vaeCases();
    case 'full':
      return [...[512, 1024, 2048].flatMap(fluxCases), ...sd3Cases(), ...vaeCases()];
  }
}

export function caseSpecs(cases: KernelCase[]): KernelCaseSpec[] {
  return cases.map(({ id, model, op, shape, flops, bytes }) => ({ id, model, op, shape, flops, bytes }));
}
