// Fused flash-style attention: host launch code. Validates shapes, picks the path (tensor-core subgroup
// matrices or the portable tiled kernel), compiles the generated WGSL (cached per variant) and returns one
// KernelCall. Runs at graph-build time only. Design and measured numbers: docs/attention.md.
import { attentionComposed, composedAttentionUnsupported } from './attention-composed.js';
import type { GpuContext } from '../gpu/context.js';
import { type AttentionPath, attentionPath, TENSOR_CORE_ATTENTION_VERIFIED } from '../gpu/variants.js';
import { type AttentionVariant, FLAG_BIAS, FLAG_CAUSAL, FLAG_KVLEN, FLAG_LSE } from './attention-common.wgsl.js';
import { type SubgroupMatrixTiles, subgroupMatrixAttentionWgsl, subgroupMatrixSmemBytes, subgroupMatrixTiles } from './attention-subgroup-matrix.wgsl.js';
import { tiledAttentionWgsl, tiledTiles } from './attention-tiled.wgsl.js';
import { type KernelCall, type TensorView, bindGroup, byteSize, expectShape, paramsBuffer } from '../gpu/kernel.js';

export interface AttentionArgs {
  q: TensorView; // [B, H, Sq, D]  f16 (head-major: the qkv-prep kernel writes this layout)
  k: TensorView; // [B, H, Skv, D] f16
  v: TensorView; // [B, H, Skv, D] f16
  out: TensorView; // [B, Sq, H*D]   f16 (token-major: feeds the output projection directly)
  scale?: number; // default 1/sqrt(D)
  bias?: TensorView; // optional additive f32 [H, Sq, Skv], broadcast over B (T5 relative position bias / masks)
  causal?: boolean; // CLIP text encoder: key j is visible to query i iff j <= i (top-left aligned, like torch is_causal)
  /**
   * Optional [B] u32 (padding): keys >= kvLength[b] are masked; all-masked rows give zeros.
   */
  kvLength?: TensorView;
  /**
   * Optional f32 [B, H, Sq] output: natural-log log-sum-exp of the scaled, biased, masked scores per query row
   * (ln sum_j exp(scale * q.k_j + bias_j)), for merging partial results over KV shards; -inf for rows
   * with no visible key.
   */
  lse?: TensorView;
  path?: 'auto' | 'tiled' | 'subgroup-matrix';
  label?: string;
  /**
   * Tuning of the subgroup-matrix path (benchmarks); defaults are chosen per head dim and Sq. `emulate` (tests only)
   * runs that kernel's algorithm with plain-WGSL stand-ins for the matrix builtins, on any adapter.
   */
  tiles?: Partial<Pick<SubgroupMatrixTiles, 'NSG' | 'BKV' | 'emulate' | 'probe'>>;
}

export interface AttentionShape {
  B: number;
  H: number;
  Sq: number;
  Skv: number;
  D: number;
}

const OP = 'attention';

/**
 * Whether 'auto' may pick the tensor-core kernel: true since `test/kernels/attention.test.ts` passed its
 * subgroup-matrix group on an H100 (2026-11-23, after the workgroup-memory alignment fix). See docs/attention.md.
 */
export { TENSOR_CORE_ATTENTION_VERIFIED };
const MAX_D = 512;

/**
 * Subgroups per workgroup of the tensor-core kernel when the caller does not choose. Measured on H100
 * (docs/attention.md, B=1, H=24, D=128): 8 subgroups (128 query rows) ran 1.6-1.7x faster than 4 at
 * S = 4608 and 16896, but ~3x slower at S = 1536; for D=64 the two were within noise.
 */
function defaultSubgroups(D: number, Sq: number, SG: number, limits: { smem: number; invocations: number }, tiles: AttentionArgs['tiles']): number {
  if (D !== 128 || Sq < 3072) return 4;
  const fits = subgroupMatrixSmemBytes(D, { NSG: 8, BKV: tiles?.BKV ?? 32, SG, emulate: tiles?.emulate }) <= limits.smem;
  return fits && 8 * SG <= limits.invocations ? 8 : 4;
}

/** Validates every tensor against q's shape; returns the dimensions. Errors name the tensor and the fix. */
export function attentionShape(args: AttentionArgs): AttentionShape {
  const { q, k, v, out } = args;
  if (q.shape.length !== 4) throw new Error(`${OP}: 'q' has shape [${q.shape}] but a 4-D [B, H, Sq, D] tensor is required`);
  if (k.shape.length !== 4) throw new Error(`${OP}: 'k' has shape [${k.shape}] but a 4-D [B, H, Skv, D] tensor is required`);
  const [B, H, Sq, D] = q.shape;
  const Skv = k.shape[2];
  for (const [name, n] of Object.entries({ B, H, Sq, Skv, D })) {
    if (!Number.isInteger(n) || n < 1) throw new Error(`${OP}: dimension ${name} = ${n} must be a positive integer (empty attention has no output)`);
  }
  if (D % 4 !== 0 || D > MAX_D) {
    throw new Error(`${OP}: head dim D = ${D} is not supported: D must be a multiple of 4 and at most ${MAX_D} (pad the head dim with zeros)`);
  }
  expectShape(OP, 'q', q, [B, H, Sq, D], 'f16');
  expectShape(OP, 'k', k, [B, H, Skv, D], 'f16');
  expectShape(OP, 'v', v, [B, H, Skv, D], 'f16');
  expectShape(OP, 'out', out, [B, Sq, H * D], 'f16');
  if (args.bias) expectShape(OP, 'bias', args.bias, [H, Sq, Skv], 'f32');
  if (args.kvLength) expectShape(OP, 'kvLength', args.kvLength, [B], 'u32');
  if (args.lse) expectShape(OP, 'lse', args.lse, [B, H, Sq], 'f32');
  if (args.scale !== undefined && !Number.isFinite(args.scale)) throw new Error(`${OP}: scale ${args.scale} must be a finite number`);
  return { B, H, Sq, Skv, D };
}

/** Whether the tensor-core kernel can run on this context for head dim D (and why not). */
export function subgroupMatrixSupport(ctx: GpuContext, D: number): { ok: true } | { ok: false; reason: string } {
  const c = ctx.caps;
  if (!c.tensorCores) return { ok: false, reason: `adapter '${c.adapterName}' has no f16 subgroup-matrix (tensor core) configuration` };
  if (!c.subgroupMatrixConfigs.some((m) => m.componentType === 'f16' && m.resultComponentType === 'f32' && m.M === 16 && m.N === 16 && m.K === 16)) {
    return { ok: false, reason: `adapter '${c.adapterName}' lacks the 16x16x16 f16->f32 subgroup-matrix configuration` };
  }
  if (c.subgroupMinSize !== c.subgroupMaxSize || ![16, 32, 64].includes(c.subgroupMaxSize)) {
    return { ok: false, reason: `subgroup size varies (${c.subgroupMinSize}..${c.subgroupMaxSize}); the kernel needs a fixed size of 16, 32 or 64` };
  }
  if (D !== 64 && D !== 128) return { ok: false, reason: `head dim ${D} (the tensor-core kernel covers 64 and 128)` };
  return { ok: true };
}

/** The kernel `attention()` will use for these arguments ('auto' resolved), for `dit doctor` and benchmarks. */
export function resolveAttentionPath(ctx: GpuContext, args: Pick<AttentionArgs, 'path' | 'tiles'>, D: number): AttentionPath {
  return resolvePath(ctx, args, D);
}

function resolvePath(ctx: GpuContext, args: Pick<AttentionArgs, 'path' | 'tiles'>, D: number): AttentionPath {
  const asked = args.path ?? 'auto';
  if (asked === 'tiled') return 'tiled';
  const support = subgroupMatrixSupport(ctx, D);
  if (asked === 'subgroup-matrix' && args.tiles?.emulate) {
    if (D !== 64 && D !== 128) throw new Error(`${OP}: path 'subgroup-matrix' covers head dims 64 and 128, not ${D}`);
    return 'subgroup-matrix';
  }
  if (asked === 'subgroup-matrix') {
    if (!support.ok) throw new Error(`${OP}: path 'subgroup-matrix' is unavailable: ${support.reason}. Use path 'auto' or 'tiled'.`);
    return 'subgroup-matrix';
  }
  return TENSOR_CORE_ATTENTION_VERIFIED && attentionPath(ctx.caps) === 'subgroup-matrix' && support.ok ? 'subgroup-matrix' : 'tiled';
}

function checkBindingSizes(ctx: GpuContext, args: AttentionArgs): void {
  const limit = ctx.caps.limits.maxStorageBufferBindingSize;
  const tensors: [string, TensorView | undefined][] = [
    ['q', args.q], ['k', args.k], ['v', args.v], ['out', args.out], ['bias', args.bias], ['kvLength', args.kvLength], ['lse', args.lse],
  ];
  for (const [name, t] of tensors) {
    if (!t) continue;
    const bytes = byteSize(t);
    if (bytes > limit) throw new Error(`${OP}: '${name}' is ${bytes} bytes, over the adapter's ${limit}-byte storage binding limit; split the batch or heads into several calls`);
    if (t.offset % ctx.caps.limits.minStorageBufferOffsetAlignment !== 0) {
      throw new Error(`${OP}: '${name}' starts at byte offset ${t.offset}, not a multiple of ${ctx.caps.limits.minStorageBufferOffsetAlignment}`);
    }
    if (t.offset + bytes > t.buffer.size) throw new Error(`${OP}: '${name}' (offset ${t.offset}, ${bytes} bytes) overruns its ${t.buffer.size}-byte buffer`);
  }
}

/** Placeholders for unused optional bindings (separate read and write ones: WebGPU forbids aliasing them). */
function dummyBuffers(ctx: GpuContext): { read: GPUBuffer; write: GPUBuffer } {
  return { read: ctx.sharedBuffer('attention.unused-input'), write: ctx.sharedBuffer('attention.unused-output') };
}

/** Builds the attention call. See AttentionArgs for layouts; `path: 'auto'` uses tensor cores where available. */
export async function attention(ctx: GpuContext, args: AttentionArgs): Promise<KernelCall> {
  const { B, H, Sq, Skv, D } = attentionShape(args);
  checkBindingSizes(ctx, args);
  const path = resolvePath(ctx, args, D);
  const variant: AttentionVariant = { D, hasBias: !!args.bias, causal: !!args.causal, hasKvLength: !!args.kvLength, hasLse: !!args.lse };
  const runtimeFlags =
    (variant.hasBias ? FLAG_BIAS : 0) | (variant.causal ? FLAG_CAUSAL : 0) | (variant.hasKvLength ? FLAG_KVLEN : 0) | (variant.hasLse ? FLAG_LSE : 0);
  const flags = `${variant.hasBias ? 'b' : ''}${variant.causal ? 'c' : ''}${variant.hasKvLength ? 'k' : ''}${variant.hasLse ? 'l' : ''}`;
  const smem = ctx.caps.limits.maxComputeWorkgroupStorageSize;
  let source: string;
  let key: string;
  let BQ: number;
  let loopBKV = 0;
  if (path === 'subgroup-matrix') {
    const SG = args.tiles?.emulate ? 32 : ctx.caps.subgroupMaxSize;
    const t = subgroupMatrixTiles(D, SG, smem, {
      NSG: defaultSubgroups(D, Sq, SG, { smem, invocations: ctx.caps.limits.maxComputeInvocationsPerWorkgroup }, args.tiles),
      ...args.tiles,
    });
    source = subgroupMatrixAttentionWgsl(variant, t);
    const probe = t.probe?.legacyLayout ? ':legacy-layout' : '';
    key = `attention-sm:D${D}:nsg${t.NSG}:bkv${t.BKV}:sg${t.SG}:${flags}${t.emulate ? ':emulated' : ''}${probe}`;
    BQ = 16 * t.NSG;
  } else {
    const t = tiledTiles(D, smem);
    source = tiledAttentionWgsl({ ...variant, runtimeFlags: true }, t);
    key = `attention-tiled:D${D}:bq${t.BQ}:bkv${t.BKV}`;
    BQ = t.BQ;
    loopBKV = t.BKV;
  }
  const qTiles = Math.ceil(Sq / BQ);
  const maxDim = ctx.caps.limits.maxComputeWorkgroupsPerDimension;
  if (qTiles > maxDim || H > maxDim || B > maxDim) {
    throw new Error(`${OP}: grid [${qTiles}, ${H}, ${B}] exceeds ${maxDim} workgroups per dimension; split the sequence or batch`);
  }
  const pipeline = await ctx.pipeline(key, source);
  const scale = args.scale ?? 1 / Math.sqrt(D);
  const label = args.label ?? 'attention';
  const params = paramsBuffer(
    ctx,
    [{ u32: B }, { u32: H }, { u32: Sq }, { u32: Skv }, { f32: scale * Math.LOG2E }, { u32: 0xff800000 }, { u32: D / 4 }, { u32: loopBKV }, { u32: runtimeFlags }],
    `${label}.params`,
  );
  const resources: (TensorView | GPUBuffer)[] = [params, args.q, args.k, args.v, args.out];
  // The tiled kernel declares every binding; absent options get small dummy buffers it never touches.
  const all = path === 'tiled';
  if (args.bias || all) resources.push(args.bias ?? dummyBuffers(ctx).read);
  if (args.kvLength || all) resources.push(args.kvLength ?? dummyBuffers(ctx).read);
  if (args.lse || all) resources.push(args.lse ?? dummyBuffers(ctx).write);
  const qBytes = 2 * B * H * Sq * D;
  const kvBytes = 2 * 2 * B * H * Skv * D;
  return {
    label: `${label}[${path}]`,
    pipeline,
    bindGroup: bindGroup(ctx, pipeline, resources, label),
    workgroups: [qTiles, H, B],
    flops: 4 * B * H * Sq * Skv * D,
    bytes: 2 * qBytes + kvBytes + (args.bias ? 4 * H * Sq * Skv : 0) + (args.lse ? 4 * B * H * Sq : 0),
  };
}

export type AttentionPathChoice = 'auto' | 'tiled' | 'subgroup-matrix' | 'composed';

/**
 * The attention op as the graph uses it: picks the implementation and returns its dispatches. 'auto' takes the
 * fused tensor-core kernel where it applies (tensor cores, D = 64 or 128). On tensor-core adapters, plain attention
 * (no bias, mask, kvLength or lse) that the fused kernel does not cover (e.g. the VAE's single head of D = 512)
 * goes through the composed tensor-core GEMM path (attention-composed.ts) rather than the ~3 TFLOP/s portable
 * kernel; everything else runs the portable fused kernel.
 */
export async function attentionCalls(ctx: GpuContext, args: Omit<AttentionArgs, 'path'> & { path?: AttentionPathChoice }): Promise<KernelCall[]> {
  const { D } = attentionShape(args as AttentionArgs);
  const plain = !args.bias && !args.causal && !args.kvLength && !args.lse;
  const asked = args.path ?? 'auto';
  if (asked === 'composed') {
    if (!plain) throw new Error(`${OP}: path 'composed' supports plain attention only (no bias, causal, kvLength or lse)`);
    return attentionComposed(ctx, { q: args.q, k: args.k, v: args.v, out: args.out, scale: args.scale, label: args.label });
  }
  if (asked === 'auto' && plain && ctx.caps.tensorCores && resolveAttentionPath(ctx, { tiles: args.tiles }, D) !== 'subgroup-matrix' &&
      composedAttentionUnsupported(ctx, args) === null) {
    return attentionComposed(ctx, { q: args.q, k: args.k, v: args.v, out: args.out, scale: args.scale, label: args.label });
  }
  return [await attention(ctx, { ...args, path: asked as AttentionArgs['path'] })];
}
