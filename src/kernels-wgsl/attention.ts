// Fused flash-style attention: host launch code. Validates shapes, picks the path (tensor-core subgroup
// matrices or the portable tiled kernel), compiles the generated WGSL (cached per variant) and returns one
// KernelCall. Runs at graph-build time only. Design and measured numbers: docs/attention.md.
import { attentionComposed, composedAttentionUnsupported } from './attention-composed.js';
import type { GpuContext } from '../gpu/context.js';
import { type AttentionPath, attentionPath, TENSOR_CORE_ATTENTION_VERIFIED } from '../gpu/variants.js';
import { type AttentionVariant, FLAG_BIAS, FLAG_CAUSAL, FLAG_KVLEN, FLAG_LSE } from './attention-common.wgsl.js';
import {
  type SubgroupMatrixTiles, type SubgroupMatrixTuning, splitCombineWgsl, subgroupMatrixAttentionWgsl, subgroupMatrixSmemBytes, subgroupMatrixTiles,
} from './attention-subgroup-matrix.wgsl.js';
import { tableAttentionTiles } from './attention-table.js';
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
   * Tuning of the subgroup-matrix path (benchmarks, tests). Without tuning fields the per-device table
   * (attention-table.ts) decides, else the built-in defaults. `emulate` (tests only) runs that kernel's algorithm
   * with plain-WGSL stand-ins for the matrix builtins, on any adapter. `splits` > 1 needs attentionFused() or
   * attentionCalls() (two dispatches).
   */
  tiles?: Partial<Pick<SubgroupMatrixTiles, 'NSG' | 'BKV' | 'kvLoad' | 'reduce' | 'splits' | 'vecKv' | 'vecScratch' | 'prefetch' | 'interleave' | 'vecOut' | 'pairRows' | 'emulate' | 'probe'>>;
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

const TUNING_KEYS = ['NSG', 'BKV', 'kvLoad', 'reduce', 'splits', 'vecKv', 'vecScratch', 'prefetch', 'interleave', 'vecOut', 'pairRows'] as const;

/** Why kvLoad 'direct' / 'direct-k' cannot run this shape (it loads whole 16-row Q windows and BKV-row K/V blocks in place), or null. */
function directUnsupported(s: AttentionShape, v: AttentionVariant, BKV: number): string | null {
  if (v.hasKvLength) return 'kvLength is given';
  if (s.Sq < 16) return `Sq = ${s.Sq} < 16`;
  if (s.Skv < BKV) return `Skv = ${s.Skv} < the key block ${BKV}`;
  return null;
}

interface SmPlan {
  tiles: SubgroupMatrixTiles;
  /** Keys per split-KV chunk (0: no split). */
  kvChunk: number;
  source: 'explicit' | 'table' | 'default';
}

/**
 * The tensor-core kernel's tiles for this call: explicit tuning fields win (and must be valid for the shape), else
 * the per-device table's row (adapted to the shape: 'direct' falls back to 'staged', 'shuffle' to 'smem' without
 * subgroups, prefetch is dropped where the row does not stage vec4 K/V, splits are capped by the key blocks; the
 * defaults when it does not fit), else the built-in defaults.
 */
function planSubgroupMatrix(ctx: GpuContext, s: AttentionShape, v: AttentionVariant, asked: AttentionArgs['tiles'], allowSplit: boolean): SmPlan {
  const SG = asked?.emulate ? 32 : ctx.caps.subgroupMaxSize;
  const smem = ctx.caps.limits.maxComputeWorkgroupStorageSize;
  const invocations = ctx.caps.limits.maxComputeInvocationsPerWorkgroup;
  const explicit = TUNING_KEYS.some((k) => asked?.[k] !== undefined);
  const splitPlan = (t: SubgroupMatrixTiles): number => {
    const want = Math.min(t.splits ?? 1, Math.ceil(s.Skv / t.BKV));
    if (want <= 1) return 0;
    const chunk = Math.ceil(Math.ceil(s.Skv / want) / t.BKV) * t.BKV;
    return Math.ceil(s.Skv / chunk) > 1 ? chunk : 0;
  };
  const finish = (t: SubgroupMatrixTiles, source: SmPlan['source']): SmPlan => {
    // Vector-typed staging arrays need Tint's template spelling (Dawn d2749d8); an older Dawn stages f16 (and
    // without vecKv there is no prefetch).
    if ((t.vecKv || t.vecScratch) && ctx.caps.subgroupMatrixSyntax === 'bool-argument') t = { ...t, vecKv: false, vecScratch: false, prefetch: false };
    if (t.NSG * t.SG > invocations) throw new Error(`${OP}: ${t.NSG} subgroups of ${t.SG} exceed the adapter's ${invocations} invocations per workgroup`);
    if (t.reduce === 'shuffle' && !ctx.caps.subgroups) throw new Error(`${OP}: reduce 'shuffle' needs the adapter's subgroups feature (use 'smem')`);
    if (t.kvLoad !== 'staged') {
      const why = directUnsupported(s, v, t.BKV);
      if (why) throw new Error(`${OP}: kvLoad '${t.kvLoad}' cannot run this call (${why}); use 'staged'`);
    }
    const kvChunk = splitPlan(t);
    if (kvChunk) {
      if (!allowSplit) throw new Error(`${OP}: split-KV (splits ${t.splits}) needs two dispatches: call attentionFused() or attentionCalls()`);
      const splits = Math.ceil(s.Skv / kvChunk);
      const bytes = splits * s.B * s.Sq * s.H * s.D * 2;
      if (bytes > ctx.caps.limits.maxStorageBufferBindingSize) throw new Error(`${OP}: split-KV partial output (${bytes} bytes) exceeds the storage binding limit; use fewer splits`);
      if (s.B * splits > ctx.caps.limits.maxComputeWorkgroupsPerDimension) throw new Error(`${OP}: B x splits = ${s.B * splits} workgroups exceed the grid limit; use fewer splits`);
      t = { ...t, splits };
    } else {
      t = { ...t, splits: 1 };
    }
    return { tiles: t, kvChunk, source };
  };
  const defaults = (): Partial<SubgroupMatrixTiles> => ({
    NSG: defaultSubgroups(s.D, s.Sq, SG, { smem, invocations }, asked),
    emulate: asked?.emulate,
    probe: asked?.probe,
  });
  if (explicit) return finish(subgroupMatrixTiles(s.D, SG, smem, { ...defaults(), ...asked }), 'explicit');
  const row: SubgroupMatrixTuning | null = asked?.emulate || asked?.probe ? null : tableAttentionTiles(ctx.caps, s.D, s.Sq);
  if (row) {
    const adapted: Partial<SubgroupMatrixTiles> = { ...row };
    if (adapted.kvLoad !== undefined && adapted.kvLoad !== 'staged' && directUnsupported(s, v, adapted.BKV ?? 32)) adapted.kvLoad = 'staged';
    if (adapted.reduce === 'shuffle' && !ctx.caps.subgroups) adapted.reduce = 'smem';
    // prefetch pipelines the staged vec4 K/V loads: dropped where the row no longer stages (or has no vecKv).
    if (adapted.prefetch && ((adapted.kvLoad ?? 'staged') !== 'staged' || !adapted.vecKv)) delete adapted.prefetch;
    if (!allowSplit) adapted.splits = 1;
    try {
      return finish(subgroupMatrixTiles(s.D, SG, smem, adapted), 'table');
    } catch {
      // The row does not fit this call (e.g. its 'direct' block needs more workgroup memory once staged): defaults.
    }
  }
  return finish(subgroupMatrixTiles(s.D, SG, smem, { ...defaults(), ...asked }), 'default');
}

/**
 * Which tiles `attention()` / `attentionFused()` would use for these arguments (benchmarks print it; 'auto' and
 * 'tiled' paths give null when the tensor-core kernel is not used).
 */
export function attentionTilesFor(ctx: GpuContext, args: AttentionArgs, allowSplit = true): (SubgroupMatrixTiles & { source: SmPlan['source'] }) | null {
  const shape = attentionShape(args);
  if (resolvePath(ctx, args, shape.D) !== 'subgroup-matrix') return null;
  const p = planSubgroupMatrix(ctx, shape, variantOf(shape.D, args), args.tiles, allowSplit);
  return { ...p.tiles, source: p.source };
}

function variantOf(D: number, args: AttentionArgs): AttentionVariant {
  return { D, hasBias: !!args.bias, causal: !!args.causal, hasKvLength: !!args.kvLength, hasLse: !!args.lse };
}

/** Builds the attention call (one dispatch: a table's split-KV row is not used here). See AttentionArgs for layouts. */
export async function attention(ctx: GpuContext, args: AttentionArgs): Promise<KernelCall> {
  const calls = await buildAttention(ctx, args, false);
  return calls[0];
}

/**
 * The fused attention kernel as one or two dispatches: two when split-KV is chosen (partial results, then the
 * combine kernel). `path: 'auto'` uses tensor cores where available.
 */
export async function attentionFused(ctx: GpuContext, args: AttentionArgs): Promise<KernelCall[]> {
  return buildAttention(ctx, args, true);
}

async function buildAttention(ctx: GpuContext, args: AttentionArgs, allowSplit: boolean): Promise<KernelCall[]> {
  const shape = attentionShape(args);
  const { B, H, Sq, Skv, D } = shape;
  checkBindingSizes(ctx, args);
  const path = resolvePath(ctx, args, D);
  const variant = variantOf(D, args);
  const runtimeFlags =
    (variant.hasBias ? FLAG_BIAS : 0) | (variant.causal ? FLAG_CAUSAL : 0) | (variant.hasKvLength ? FLAG_KVLEN : 0) | (variant.hasLse ? FLAG_LSE : 0);
  const flags = `${variant.hasBias ? 'b' : ''}${variant.causal ? 'c' : ''}${variant.hasKvLength ? 'k' : ''}${variant.hasLse ? 'l' : ''}`;
  const smem = ctx.caps.limits.maxComputeWorkgroupStorageSize;
  let source: string;
  let key: string;
  let BQ: number;
  let loopBKV = 0;
  let kvChunk = 0;
  let splits = 1;
  if (path === 'subgroup-matrix') {
    const plan = planSubgroupMatrix(ctx, shape, variant, args.tiles, allowSplit);
    const t = plan.tiles;
    kvChunk = plan.kvChunk;
    splits = t.splits ?? 1;
    source = subgroupMatrixAttentionWgsl(splits > 1 ? { ...variant, hasLse: true } : variant, t, ctx.caps.subgroupMatrixSyntax);
    const probe = t.probe?.legacyLayout ? ':legacy-layout' : '';
    key = `attention-sm:D${D}:nsg${t.NSG}:bkv${t.BKV}:sg${t.SG}:${t.kvLoad}:${t.reduce}:s${splits}:${flags}${t.vecKv ? ':veckv' : ''}${t.vecScratch ? ':vecsc' : ''}${t.prefetch ? ':prefetch' : ''}${t.interleave ? ':interleave' : ''}${t.vecOut ? ':vecout' : ''}${t.pairRows ? `:pair${t.pairRows}` : ''}${t.emulate ? ':emulated' : ''}${probe}`;
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
  if (qTiles > maxDim || H > maxDim || B * splits > maxDim) {
    throw new Error(`${OP}: grid [${qTiles}, ${H}, ${B * splits}] exceeds ${maxDim} workgroups per dimension; split the sequence or batch`);
  }
  const pipeline = await ctx.pipeline(key, source);
  const scale = args.scale ?? 1 / Math.sqrt(D);
  const label = args.label ?? 'attention';
  const params = paramsBuffer(
    ctx,
    [{ u32: B }, { u32: H }, { u32: Sq }, { u32: Skv }, { f32: scale * Math.LOG2E }, { u32: 0xff800000 }, { u32: D / 4 }, { u32: loopBKV }, { u32: runtimeFlags }, { u32: kvChunk }],
    `${label}.params`,
  );
  // Split-KV: partial outputs [splits, B, Sq, H*D] f16 and log2-sum-exp [splits, B, H, Sq], shared by every
  // attention op on the device (dispatches on one queue run in order; each combine reads them before the next op).
  const part = splits > 1 ? ctx.sharedBuffer('attention-split:part', splits * B * Sq * H * D * 2) : null;
  const plse = splits > 1 ? ctx.sharedBuffer('attention-split:lse', splits * B * H * Sq * 4) : null;
  const resources: (TensorView | GPUBuffer)[] = [params, args.q, args.k, args.v, part ?? args.out];
  // The tiled kernel declares every binding; absent options get small dummy buffers it never touches.
  const all = path === 'tiled';
  if (args.bias || all) resources.push(args.bias ?? dummyBuffers(ctx).read);
  if (args.kvLength || all) resources.push(args.kvLength ?? dummyBuffers(ctx).read);
  if (plse) resources.push(plse);
  else if (args.lse || all) resources.push(args.lse ?? dummyBuffers(ctx).write);
  const qBytes = 2 * B * H * Sq * D;
  const kvBytes = 2 * 2 * B * H * Skv * D;
  const main: KernelCall = {
    label: `${label}[${path}]`,
    pipeline,
    bindGroup: bindGroup(ctx, pipeline, resources, label),
    workgroups: [qTiles, H, B * splits],
    flops: 4 * B * H * Sq * Skv * D,
    bytes: 2 * qBytes + kvBytes + (args.bias ? 4 * H * Sq * Skv : 0) + (args.lse ? 4 * B * H * Sq : 0),
  };
  if (!part || !plse) return [main];
  const combinePipeline = await ctx.pipeline(`attention-combine:D${D}:s${splits}:${args.lse ? 'l' : ''}`, splitCombineWgsl(D, splits, !!args.lse));
  const groups = Math.ceil((B * Sq * H * D) / 4 / 256);
  const nx = Math.min(groups, maxDim);
  const cparams = paramsBuffer(ctx, [{ u32: B }, { u32: H }, { u32: Sq }, { u32: nx }, { u32: 0xff800000 }, { u32: 0 }, { u32: 0 }, { u32: 0 }], `${label}.combine.params`);
  const cres: (TensorView | GPUBuffer)[] = [cparams, part, plse, args.out];
  if (args.lse) cres.push(args.lse);
  return [main, {
    label: `${label}[split-combine]`,
    pipeline: combinePipeline,
    bindGroup: bindGroup(ctx, combinePipeline, cres, `${label}.combine`),
    workgroups: [nx, Math.ceil(groups / nx), 1],
    flops: 0,
    bytes: splits * B * Sq * H * (D * 2 + 4) + 2 * B * Sq * H * D,
  }];
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
  return attentionFused(ctx, { ...args, path: asked as AttentionArgs['path'] });
}
