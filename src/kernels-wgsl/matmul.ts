// Host launch code for matmul / linear with fused epilogues. Validates shapes (errors name the tensor and the
// required shape), picks the path (subgroup-matrix tensor cores where the adapter has them, else the portable
// tiled kernel), compiles the WGSL (cached by spec) and returns one KernelCall. Runs at graph-build time.
import type { GpuCaps, GpuContext } from '../gpu/context.js';
import { int8MatmulUnavailable, matmulPath, tensorCoreMatmulUnavailable } from '../gpu/variants.js';
import { bindGroup, byteSize, grid1d, numel, paramsBuffer, type KernelCall, type TensorView } from '../gpu/kernel.js';
import { epilogueFlags, I8_LINEAR_SPEC, paramsList, specKey, type Access, type Activation, type BLayout, type GemmParams, type GemmSpec } from './matmul-epilogue.wgsl.js';
import { TILED, tiledMatmulWgsl } from './matmul-tiled.wgsl.js';
import { TILED_I8, tiledI8MatmulWgsl } from './matmul-i8-tiled.wgsl.js';
import {
  int8TilingProblem, sgTileShape, sgTilingProblem, sgWantsVecOut, sgWorkgroupBytes, splitKReduceWgsl, subgroupMatrixMatmulWgsl, type BLoader, type SgAblation, type SgTiling,
} from './matmul-subgroup-matrix.wgsl.js';
import { envTableLoader, matchDeviceEntry, type DeviceCaps } from './device-table.js';
import { GEMV_COLS, GEMV_MAX_ROWS, gemvWgsl } from './matmul-gemv.wgsl.js';
import { TILE_TABLE, type TableTiling, type TileTable, type TileTableEntry } from './matmul-tile-table.js';
import { I8_TILE_TABLE } from './matmul-i8-tile-table.js';

export type { Activation } from './matmul-epilogue.wgsl.js';
export type { BLoader, SgAblation, SgTiling } from './matmul-subgroup-matrix.wgsl.js';
export type { TileTable, TileTableEntry } from './matmul-tile-table.js';

/**
 * 'auto': the skinny-linear kernel for M <= GEMV_MAX_ROWS f16 rows against [N, K] f16 weights (any adapter), else
 * tensor cores where available, else the portable tiled kernel. 'gemv' forces the skinny kernel (refused with the
 * reason where it cannot run).
 */
export type MatmulPathChoice = 'auto' | 'tiled' | 'subgroup-matrix' | 'gemv';

export interface LinearArgs {
  /** [..., K] rows flattened to M; f16 (f32 allowed on the tiled path). */
  x: TensorView;
  /** [N, K], PyTorch nn.Linear layout (out_features, in_features); f16 (f32 allowed on the tiled path). */
  w: TensorView;
  /** [..., N], same leading dims as x; f16 or f32. */
  out: TensorView;
  /** [N], f16 or f32. */
  bias?: TensorView;
  /** Applied to (x W^T + bias). */
  activation?: Activation;
  /** [..., N], same dtype as out: out = residual + g * act(...). May be the same tensor as out (in-place). */
  residual?: TensorView;
  /** [B, G*N]: per-batch gate vectors packed in chunks (FLUX/SD3 adaLN output). */
  gate?: TensorView;
  /** Which chunk: row r of x uses gate[floor(r / rowsPerBatch), gateChunk*N + n]. */
  gateChunk?: number;
  /** Tokens per batch element (required with gate). */
  rowsPerBatch?: number;
  /** auto: subgroup-matrix when ctx.caps.tensorCores. */
  path?: MatmulPathChoice;
  label?: string;
}

/** General batched matmul: out[b] = alpha * a[b] (M,K) x op(b[b]); transposeB means b is [.., N, K]. */
export interface MatmulArgs {
  a: TensorView;
  b: TensorView;
  out: TensorView;
  transposeB?: boolean;
  alpha?: number;
  path?: MatmulPathChoice;
  label?: string;
}

/** Internal description of one GEMM launch, shared by linear() and matmul(). */
interface GemmLaunch {
  op: string;
  label: string;
  batch: number;
  M: number;
  N: number;
  K: number;
  a: TensorView;
  b: TensorView;
  out: TensorView;
  bLayout: BLayout;
  bBatched: boolean;
  bias?: TensorView;
  gate?: TensorView;
  residual?: TensorView;
  activation: Activation;
  alpha: number;
  rowsPerBatch: number;
  gateStride: number;
  gateOffset: number;
  path: MatmulPathChoice;
  /** Tensor-core tiling override (benchmarks, tests); null = the tile table, else defaultSgTiling. */
  tuning: GemmTuning | null;
  /** linearCalls: split-K tilings (two dispatches) allowed. */
  allowSplit: boolean;
  /**
   * W8A8 (linearI8Calls): a and b are int8 rows packed in u32 words ([M, K/4], [N, K/4]; K here counts int8
   * elements, a multiple of 16), scaled per row by xScale [M] and wScale [N] (bindings 7 and 8).
   */
  int8?: { xScale: TensorView; wScale: TensorView };
}

/**
 * Default tensor-core tiling: the fastest measured one that fits the adapter's workgroup memory. On H100
 * (docs/matmul.md, 2026-11-23) a 128x128 tile, 8 subgroups of 64x32, K step 64, one smem stage (45 KiB) ran
 * 150-155 TFLOP/s at the FLUX shapes, vs 117-127 for the double-buffered K-step-32 tiling (48 KiB), which is
 * the fallback; a 64x64 tile (24 KiB) is the last resort for adapters with 32 KiB. With vec4<u32> staging arrays
 * (vecSmem) the same tiling ran 147-239 TFLOP/s instead of 120-158 on the H200 (2026-11-30, fourth session).
 */
export function defaultSgTiling(subgroupSize: number, maxWorkgroupBytes = 49152, vecSmem = true): SgTiling {
  const base: SgTiling = { sgM: 2, sgN: 4, fragM: 4, fragN: 2, bk: 64, staging: 'staged', stages: 1, groupM: 8, subgroupSize, vecSmem };
  const candidates: SgTiling[] = [
    base,
    { ...base, bk: 32, stages: 2 },
    { ...base, sgM: 2, sgN: 2, fragM: 2, fragN: 2, bk: 32, stages: 2 },
  ];
  return candidates.find((t) => sgWorkgroupBytes(t, 'kn') <= maxWorkgroupBytes && sgWorkgroupBytes(t, 'nk') <= maxWorkgroupBytes)
    ?? candidates[candidates.length - 1];
}

/** Environment variable naming a tile-table JSON that replaces the committed one ('off': no table). */
export const TILE_TABLE_ENV = 'DIT_MATMUL_TILE_TABLE';

const TILE_TABLE_HINT = 'give the matmul-tile-table.json written by bench/matmul-tune.ts';

/** Checks a parsed tile-table file (f16 or int8 table: same format); errors start with `what` and end with `hint`. */
function validateTileTable(parsed: unknown, what: string, hint: string): TileTable {
  const t = parsed as Partial<TileTable>;
  if (!t || t.version !== 1 || !Array.isArray(t.entries)) {
    throw new Error(`${what}: not a tile table (needs {"version": 1, "entries": [...]}); ${hint}`);
  }
  t.entries.forEach((e, i) => {
    if (!e || typeof e.device?.vendor !== 'string' || typeof e.subgroupSize !== 'number' || !(e.shapes === undefined || Array.isArray(e.shapes))) {
      throw new Error(`${what}: entry ${i} is not a tile-table entry (needs {"device": {"vendor": ...}, "subgroupSize": N, "shapes": [...]}); ${hint}`);
    }
  });
  return t as TileTable;
}

/** The table in force: $DIT_MATMUL_TILE_TABLE's file when set (read once per path), else the committed one. */
export const activeTileTable: () => TileTable | null = envTableLoader<TileTable>({
  env: TILE_TABLE_ENV,
  committed: TILE_TABLE,
  noun: 'a tile table',
  hint: TILE_TABLE_HINT,
  validate: (parsed, what) => validateTileTable(parsed, what, TILE_TABLE_HINT),
});

/** Environment variable naming an int8 tile-table JSON that replaces the committed one ('off': the built-in rule). */
export const I8_TILE_TABLE_ENV = 'DIT_MATMUL_I8_TILE_TABLE';

const I8_TILE_TABLE_HINT = "give the int8-tile-table.json written by bench/int8-gemm.ts --sweep (or 'off' for the built-in int8 rule)";

/** The int8 table in force (linearI8Calls): $DIT_MATMUL_I8_TILE_TABLE's file when set, else the committed one. */
export const activeI8TileTable: () => TileTable | null = envTableLoader<TileTable>({
  env: I8_TILE_TABLE_ENV,
  committed: I8_TILE_TABLE,
  noun: 'an int8 tile table',
  hint: I8_TILE_TABLE_HINT,
  validate: (parsed, what) => validateTileTable(parsed, what, I8_TILE_TABLE_HINT),
});

/** The table entry for this adapter: vendor must match; architecture / description, when given, must too; most specific wins. */
export function tileTableEntry(caps: DeviceCaps, table: TileTable | null = activeTileTable()): TileTableEntry | null {
  return matchDeviceEntry(table?.entries, caps);
}

/** Shapes within this log2 distance (|dlog2 M| + |dlog2 N| + |dlog2 K|) of a measured shape take its tiling. */
export const TABLE_SHAPE_RADIUS = 2;

/** How a table's tilings are checked against the kernel they are for: element size in workgroup memory, extra checks. */
interface TableKernel {
  elemBytes: number;
  problem?: (t: SgTiling) => string | null;
}

const F16_TABLE_KERNEL: TableKernel = { elemBytes: 2 };
// The int8 kernel's own requirements (staged, vec4 arrays, bk a multiple of 32, ...) on the spec linearI8Calls builds.
const I8_TABLE_KERNEL: TableKernel = { elemBytes: 1, problem: (t) => int8TilingProblem(I8_LINEAR_SPEC, t) };

/**
 * The tiling a tile table gives for an [M, K] x [N, K]^T GEMM on this adapter, or null (no entry, or the entry's
 * tiling does not fit this device's limits or the kernel). Nearest measured shape within TABLE_SHAPE_RADIUS, else
 * the entry's default. With allowSplit, a shape's split-K winner is returned (callers that can run two dispatches).
 * Serves the f16 table (tableTiling) and the int8 one (int8Tiling).
 */
function lookupTableTiling(table: TileTable | null, kernel: TableKernel, caps: GpuCaps, M: number, N: number, K: number, allowSplit: boolean): SgTiling | null {
  const e = tileTableEntry(caps, table);
  if (!e) return null;
  let pick: TableTiling | undefined;
  let bestD = Infinity;
  for (const s of e.shapes ?? []) {
    const d = Math.abs(Math.log2(M / s.M)) + Math.abs(Math.log2(N / s.N)) + Math.abs(Math.log2(K / s.K));
    if (d < bestD && d <= TABLE_SHAPE_RADIUS) {
      bestD = d;
      pick = allowSplit && s.split ? s.split.tiling : s.tiling;
    }
  }
  pick ??= e.default;
  if (!pick) return null;
  const t: SgTiling = { ...pick, subgroupSize: e.subgroupSize };
  if (!allowSplit && (t.splitK ?? 1) > 1) return null;
  const { threads } = sgTileShape(t);
  if (sgTilingProblem(t) || kernel.problem?.(t) || threads > caps.limits.maxComputeInvocationsPerWorkgroup) return null;
  const lim = caps.limits.maxComputeWorkgroupStorageSize;
  if (sgWorkgroupBytes(t, 'nk', kernel.elemBytes) > lim) return null;
  return t;
}

/**
 * The tiling the f16 tile table gives for an [M, K] x [N, K]^T GEMM on this adapter, or null (see
 * lookupTableTiling). With allowSplit, a shape's split-K winner is returned (callers that can run two dispatches).
 */
export function tableTiling(caps: GpuCaps, M: number, N: number, K: number, allowSplit = false, table: TileTable | null = activeTileTable()): SgTiling | null {
  return lookupTableTiling(table, F16_TABLE_KERNEL, caps, M, N, K, allowSplit);
}

const fmt = (s: readonly number[]) => `[${s.join(', ')}]`;

function fail(op: string, msg: string): never {
  throw new Error(`${op}: ${msg}`);
}

function checkDtype(op: string, name: string, t: TensorView, allowed: readonly string[]): void {
  if (!allowed.includes(t.dtype)) fail(op, `'${name}' is ${t.dtype} but must be ${allowed.join(' or ')}`);
}

function checkShape(op: string, name: string, t: TensorView, want: readonly number[], why: string): void {
  const ok = t.shape.length === want.length && t.shape.every((d, i) => d === want[i]);
  if (!ok) fail(op, `'${name}' has shape ${fmt(t.shape)} but ${fmt(want)} is required (${why})`);
}

function sameRange(a: TensorView, b: TensorView): boolean {
  return a.buffer === b.buffer && a.offset === b.offset && byteSize(a) === byteSize(b);
}

function overlaps(a: TensorView, b: TensorView): boolean {
  return a.buffer === b.buffer && a.offset < b.offset + byteSize(b) && b.offset < a.offset + byteSize(a);
}

export async function linear(ctx: GpuContext, args: LinearArgs): Promise<KernelCall> {
  return single(await linearImpl(ctx, args, null, false));
}

/**
 * linear() that may return two dispatches: a split-K GEMM into an f32 workspace, then a reduce pass that applies
 * the epilogue, when the tile table (or the tuning) says split-K wins at this shape. Graph ops can return the
 * list as is (graph launch callbacks accept KernelCall[]).
 */
export async function linearCalls(ctx: GpuContext, args: LinearArgs, tuning?: GemmTuning): Promise<KernelCall[]> {
  return linearImpl(ctx, tuning ? { ...args, path: 'subgroup-matrix' } : args, tuning ?? null, true);
}

function single(calls: KernelCall[]): KernelCall {
  if (calls.length !== 1) throw new Error(`${calls[0]?.label ?? 'matmul'}: a split-K tiling needs two dispatches; use linearCalls()`);
  return calls[0];
}

/** Tensor-core path options for benchmarks and tests (not for model code). */
export interface GemmTuning {
  tiling: SgTiling;
  /**
   * Rewrites the generated WGSL before compiling, with a name for the pipeline cache key. Tests use it to run
   * the subgroup-matrix kernel on adapters without subgroup matrices, with the builtins replaced by a
   * per-invocation emulation (so the capability check is skipped when it is set).
   */
  transform?: { name: string; fn: (wgsl: string) => string };
  /** Timing decomposition only (bench/matmul-tune.ts --ablate): leaves a part of the main loop out; output WRONG. */
  ablate?: SgAblation;
  /**
   * Replaces the B tile's global->register load (staged [N, K] B only), e.g. dequantizing 8-bit weights while
   * staging. The weight's dtype check is skipped (its shape must still be [N, K]); `extra` tensors are bound at
   * @binding(7), (8), ... in order, for the loader's own declarations (scales, ...).
   */
  bLoader?: BLoader;
  extra?: TensorView[];
  /**
   * With bLoader: bytes of w's buffer (from w's offset) to bind as B, e.g. a packed weight stream smaller than an f16
   * [N, K] tensor; a positive multiple of 4. Default: w's own size (its shape and dtype).
   */
  bBytes?: number;
}

/** linear() on the subgroup-matrix path with an explicit tiling: bench/matmul-tune.ts times the alternatives. */
export async function linearWithTiling(ctx: GpuContext, args: LinearArgs, tuning: GemmTuning): Promise<KernelCall> {
  return single(await linearImpl(ctx, { ...args, path: 'subgroup-matrix' }, tuning, false));
}

/** matmul() on the subgroup-matrix path with an explicit tiling. */
export async function matmulWithTiling(ctx: GpuContext, args: MatmulArgs, tuning: GemmTuning): Promise<KernelCall> {
  return single(await matmulImpl(ctx, { ...args, path: 'subgroup-matrix' }, tuning));
}

function linearImpl(ctx: GpuContext, args: LinearArgs, tuning: GemmTuning | null, allowSplit: boolean): Promise<KernelCall[]> {
  const op = `linear${args.label ? ` '${args.label}'` : ''}`;
  const { x, w, out } = args;
  if (x.shape.length < 1) fail(op, `'x' must have at least one dimension [..., K], got ${fmt(x.shape)}`);
  if (w.shape.length !== 2) fail(op, `'w' must be 2-D [N, K] (nn.Linear layout [out_features, in_features]), got ${fmt(w.shape)}`);
  const K = x.shape[x.shape.length - 1];
  const [N, wK] = w.shape;
  if (wK !== K) {
    fail(op, `'w' has shape ${fmt(w.shape)} but x's last dimension is K=${K}: w must be [N, ${K}] ` +
      `(nn.Linear layout [out_features, in_features]; transpose it if it is [in, out])`);
  }
  const lead = x.shape.slice(0, -1);
  const M = numel(lead);
  checkShape(op, 'out', out, [...lead, N], "x's leading dims followed by N = w.shape[0]");
  checkDtype(op, 'x', x, ['f16', 'f32']);
  if (!tuning?.bLoader) checkDtype(op, 'w', w, ['f16', 'f32']); // a B loader reads its own format
  checkDtype(op, 'out', out, ['f16', 'f32']);
  const { gateStride, gateOffset, rowsPerBatch } = epilogueOperands(op, args, M, N);
  return launchGemm(ctx, {
    op, label: args.label ?? 'linear', batch: 1, M, N, K, a: x, b: w, out, bLayout: 'nk', bBatched: false,
    bias: args.bias, gate: args.gate, residual: args.residual, activation: args.activation ?? 'none', alpha: 1,
    rowsPerBatch, gateStride, gateOffset, path: args.path ?? 'auto', tuning, allowSplit,
  });
}

/** W8A8 linear: int8 activations and weights, each with one f32 scale per row (kernels-wgsl/quantize-i8.ts). */
export interface LinearI8Args extends Omit<LinearArgs, 'x' | 'w'> {
  /** [..., Kw] u32: the activations quantized by quantizeRowsI8 (Kw = int8RowWords(K): K rounded up to 16 int8, 4 per word). */
  xq: TensorView;
  /** [M] f32: the activations' row scales (M = rows of xq). */
  xScale: TensorView;
  /** [N, Kw] u32: the weight [N, K] quantized the same way (one scale per output feature). */
  wq: TensorView;
  /** [N] f32. */
  wScale: TensorView;
}

/** Options for benchmarks and tests: an explicit tensor-core tiling (K quantities in int8), an emulation transform, an ablation. */
export type GemmI8Tuning = Pick<GemmTuning, 'tiling' | 'transform' | 'ablate'>;

/**
 * out = residual + gate * act(SX[m] * SW[n] * sum_k xq[m, k] wq[n, k] + bias): the int8 tensor-core kernel
 * (16x16x32 i8 subgroup matrices) where the adapter has them, else the portable dot4I8Packed kernel. One dispatch
 * (returned as a list like linearCalls).
 */
export async function linearI8Calls(ctx: GpuContext, args: LinearI8Args, tuning?: GemmI8Tuning): Promise<KernelCall[]> {
  const op = `linear_i8${args.label ? ` '${args.label}'` : ''}`;
  const { xq, wq, out } = args;
  if (xq.shape.length < 1) fail(op, `'xq' must be [..., Kw], got ${fmt(xq.shape)}`);
  if (wq.shape.length !== 2) fail(op, `'wq' must be 2-D [N, Kw] (the quantized [out_features, in_features] weight), got ${fmt(wq.shape)}`);
  checkDtype(op, 'xq', xq, ['u32']);
  checkDtype(op, 'wq', wq, ['u32']);
  const Kw = xq.shape[xq.shape.length - 1];
  const [N, wKw] = wq.shape;
  if (wKw !== Kw) fail(op, `'wq' has ${wKw} words per row but 'xq' has ${Kw}: both must be quantized from the same K`);
  if (Kw % 4 !== 0) fail(op, `rows of ${Kw} words are not a whole number of 16-int8 chunks (quantize with quantizeRowsI8)`);
  const lead = xq.shape.slice(0, -1);
  const M = numel(lead);
  checkShape(op, 'out', out, [...lead, N], "xq's leading dims followed by N = wq.shape[0]");
  checkDtype(op, 'out', out, ['f16', 'f32']);
  checkShape(op, 'xScale', args.xScale, [M], 'one f32 per activation row');
  checkShape(op, 'wScale', args.wScale, [N], 'one f32 per weight row');
  checkDtype(op, 'xScale', args.xScale, ['f32']);
  checkDtype(op, 'wScale', args.wScale, ['f32']);
  const { gateStride, gateOffset, rowsPerBatch } = epilogueOperands(op, args, M, N);
  return launchGemm(ctx, {
    op, label: args.label ?? 'linear_i8', batch: 1, M, N, K: Kw * 4, a: xq, b: wq, out, bLayout: 'nk', bBatched: false,
    bias: args.bias, gate: args.gate, residual: args.residual, activation: args.activation ?? 'none', alpha: 1,
    rowsPerBatch, gateStride, gateOffset, path: tuning ? 'subgroup-matrix' : args.path ?? 'auto',
    // No tiling given: launchGemm takes int8Tiling's (the int8 tile table, else the built-in rule).
    tuning: tuning ?? null,
    allowSplit: true, int8: { xScale: args.xScale, wScale: args.wScale },
  });
}

/**
 * The int8 tensor-core tiling for an [M, K] x [N, K]^T GEMM (K in int8 elements): the int8 tile table's choice for
 * this adapter (src/kernels-wgsl/matmul-i8-tile-table.ts, or $DIT_MATMUL_I8_TILE_TABLE; same entry matching and
 * nearest-shape rule as the f16 table, split-K entries included: linearI8Calls may return two dispatches), else
 * the built-in rule (builtinI8Tiling) when no entry matches or its tiling does not fit the adapter.
 */
export function int8Tiling(caps: GpuCaps, M: number, N: number, K: number, table: TileTable | null = activeI8TileTable()): SgTiling {
  return lookupTableTiling(table, I8_TABLE_KERNEL, caps, M, N, K, true) ?? builtinI8Tiling(caps.subgroupMaxSize, M, N);
}

/**
 * The built-in int8 rule (no table entry). Measured on the H200 (bench/int8-gemm.ts, 2026-11-30, fifth session;
 * docs/int8.md): the default wins 7 of the 10 FLUX shapes; 256x128 tiles of 64x64 per warp at K step 96 win the
 * wide ones at M = 4608 (qkv 362 vs 339, mlp up 348 vs 337 TFLOP/s). Split-K (3 slices), which helps the f16
 * kernel at the long-K shapes of 512², did not help int8 there (mlp down 322 vs 337, single-block out 354 vs 354)
 * and is not chosen.
 */
export function builtinI8Tiling(subgroupSize: number, M: number, N: number): SgTiling {
  const base = defaultI8Tiling(subgroupSize);
  if (M >= 4096 && N >= 9216) return { ...base, sgM: 4, sgN: 2, fragM: 4, fragN: 4, bk: 96 };
  return base;
}

/**
 * The int8 tensor-core tiling: the f16 default's geometry in bytes (128x128 tile, 8 subgroups of 64x32, 128 int8
 * = 128 bytes of K per step, 16-byte row padding, vec4 staging): 36 KiB of workgroup memory.
 */
export function defaultI8Tiling(subgroupSize: number): SgTiling {
  return { sgM: 2, sgN: 4, fragM: 4, fragN: 2, bk: 128, staging: 'staged', stages: 1, groupM: 8, subgroupSize, vecSmem: true, pad: 16 };
}

/** Checks bias / residual / gate against out [..., N] with M rows; returns the gate's addressing. */
function epilogueOperands(op: string, args: Pick<LinearArgs, 'bias' | 'residual' | 'gate' | 'gateChunk' | 'rowsPerBatch' | 'out'>, M: number, N: number): { gateStride: number; gateOffset: number; rowsPerBatch: number } {
  const { out } = args;
  if (args.bias) {
    checkShape(op, 'bias', args.bias, [N], 'one value per output feature');
    checkDtype(op, 'bias', args.bias, ['f16', 'f32']);
  }
  if (args.residual) {
    checkShape(op, 'residual', args.residual, out.shape, 'same shape as out');
    if (args.residual.dtype !== out.dtype) fail(op, `'residual' is ${args.residual.dtype} but must match out's dtype ${out.dtype}`);
  }
  let gateStride = 0;
  let gateOffset = 0;
  let rowsPerBatch = 1;
  if (args.gate) {
    const g = args.gate;
    checkDtype(op, 'gate', g, ['f16', 'f32']);
    if (args.rowsPerBatch === undefined || !Number.isInteger(args.rowsPerBatch) || args.rowsPerBatch < 1) {
      fail(op, `'rowsPerBatch' (tokens per batch element, a positive integer) is required with 'gate', got ${args.rowsPerBatch}`);
    }
    rowsPerBatch = args.rowsPerBatch;
    if (g.shape.length !== 2 || g.shape[1] % N !== 0 || g.shape[1] === 0) {
      fail(op, `'gate' has shape ${fmt(g.shape)} but [B, G*${N}] is required (G chunks of N=${N} per batch row)`);
    }
    const B = M / rowsPerBatch;
    if (!Number.isInteger(B) || g.shape[0] !== B) {
      fail(op, `'gate' has ${g.shape[0]} batch rows but x has M=${M} rows at rowsPerBatch=${rowsPerBatch} ` +
        `(needs gate.shape[0] * rowsPerBatch == M)`);
    }
    const G = g.shape[1] / N;
    const chunk = args.gateChunk ?? 0;
    if (!Number.isInteger(chunk) || chunk < 0 || chunk >= G) fail(op, `'gateChunk' must be an integer in [0, ${G}), got ${chunk}`);
    gateStride = g.shape[1];
    gateOffset = chunk * N;
  } else if (args.gateChunk !== undefined) {
    fail(op, `'gateChunk' was given without 'gate'`);
  }
  return { gateStride, gateOffset, rowsPerBatch };
}

export async function matmul(ctx: GpuContext, args: MatmulArgs): Promise<KernelCall> {
  return single(await matmulImpl(ctx, args, null));
}

function matmulImpl(ctx: GpuContext, args: MatmulArgs, tuning: GemmTuning | null): Promise<KernelCall[]> {
  const op = `matmul${args.label ? ` '${args.label}'` : ''}`;
  const { a, b, out } = args;
  if (a.shape.length < 2) fail(op, `'a' must be [..., M, K] (at least 2-D), got ${fmt(a.shape)}`);
  if (b.shape.length < 2) fail(op, `'b' must be [..., ${args.transposeB ? 'N, K' : 'K, N'}] (at least 2-D), got ${fmt(b.shape)}`);
  const batchDims = a.shape.slice(0, -2);
  const [M, K] = a.shape.slice(-2);
  const bBatchDims = b.shape.slice(0, -2);
  const bBatched = bBatchDims.length > 0;
  if (bBatched && fmt(bBatchDims) !== fmt(batchDims)) {
    fail(op, `'b' has batch dims ${fmt(bBatchDims)} but a has ${fmt(batchDims)}: they must match, or b must be 2-D (shared)`);
  }
  const [b0, b1] = b.shape.slice(-2);
  const bK = args.transposeB ? b1 : b0;
  const N = args.transposeB ? b0 : b1;
  if (bK !== K) {
    fail(op, `'b' has shape ${fmt(b.shape)} but a's K=${K}: b must be [..., ${args.transposeB ? `N, ${K}` : `${K}, N`}]` +
      `${args.transposeB ? ' (transposeB)' : ' (pass transposeB if b is [N, K])'}`);
  }
  checkShape(op, 'out', out, [...batchDims, M, N], "a's batch dims, then M and N");
  checkDtype(op, 'a', a, ['f16', 'f32']);
  checkDtype(op, 'b', b, ['f16', 'f32']);
  checkDtype(op, 'out', out, ['f16', 'f32']);
  return launchGemm(ctx, {
    op, label: args.label ?? 'matmul', batch: numel(batchDims), M, N, K, a, b, out,
    bLayout: args.transposeB ? 'nk' : 'kn', bBatched, activation: 'none', alpha: args.alpha ?? 1,
    rowsPerBatch: 1, gateStride: 0, gateOffset: 0, path: args.path ?? 'auto', tuning, allowSplit: false,
  });
}

/** Why the skinny-linear (GEMV) kernel cannot run this launch, or null. */
function gemvUnsupported(g: GemmLaunch): string | null {
  if (g.int8) return 'int8 operands';
  if (g.M > GEMV_MAX_ROWS) return `M = ${g.M} rows (it serves at most ${GEMV_MAX_ROWS})`;
  if (g.batch !== 1 || g.bBatched) return 'a batched matmul';
  if (g.bLayout !== 'nk') return "B laid out [K, N] (it reads nn.Linear weights, [N, K])";
  if (g.a.dtype !== 'f16' || g.b.dtype !== 'f16') return `${g.a.dtype} x ${g.b.dtype} operands (it needs f16 x f16)`;
  if (g.tuning) return 'a tensor-core tuning was given';
  if (g.K % 8 !== 0) return `K = ${g.K} is not a multiple of 8 (it reads 8 halves at a time)`;
  return null;
}

/**
 * The kernel for a launch: the skinny-linear kernel where it can run (and 'auto' or 'gemv' asked), else the adapter's
 * path from gpu/variants.ts (what `dit doctor` reports), where only f32 inputs override it.
 */
function choosePath(ctx: GpuContext, g: GemmLaunch): 'tiled' | 'subgroup-matrix' | 'gemv' {
  if (g.path === 'gemv') {
    const why = gemvUnsupported(g);
    if (why) fail(g.op, `path 'gemv' cannot run this call: ${why}; use path 'auto'`);
    return 'gemv';
  }
  if (g.path === 'auto' && !gemvUnsupported(g)) return 'gemv';
  if (g.int8) {
    if (g.path === 'tiled') return 'tiled';
    const why = int8MatmulUnavailable(ctx.caps);
    if (g.path === 'subgroup-matrix' && why && !g.tuning?.transform) fail(g.op, `path 'subgroup-matrix' is unavailable for int8: ${why}; use path 'auto' or 'tiled'`);
    return why && !(g.path === 'subgroup-matrix' && g.tuning?.transform) ? 'tiled' : 'subgroup-matrix';
  }
  const f16In = g.a.dtype === 'f16' && (g.b.dtype === 'f16' || !!g.tuning?.bLoader);
  if (g.path === 'tiled') return 'tiled';
  if (g.path === 'subgroup-matrix') {
    if (g.tuning?.transform) return 'subgroup-matrix'; // emulated: no hardware needed
    const why = tensorCoreMatmulUnavailable(ctx.caps);
    if (why) fail(g.op, `path 'subgroup-matrix' is unavailable: ${why}; use path 'auto' or 'tiled'`);
    if (!f16In) fail(g.op, `path 'subgroup-matrix' needs f16 inputs (got ${g.a.dtype} x ${g.b.dtype}); use 'tiled' for f32`);
    return 'subgroup-matrix';
  }
  return matmulPath(ctx.caps) === 'subgroup-matrix' && f16In ? 'subgroup-matrix' : 'tiled';
}

/** 16 bytes bound in place of an absent bias/gate/residual (the epilogue flags keep it unread). */
function dummyBuffer(ctx: GpuContext): GPUBuffer {
  return ctx.sharedBuffer('matmul:unused-binding');
}

async function launchGemm(ctx: GpuContext, g: GemmLaunch): Promise<KernelCall[]> {
  const { op, out } = g;
  if ([g.M, g.N, g.K, g.batch].some((d) => d === 0)) fail(op, `empty problem (M=${g.M}, N=${g.N}, K=${g.K}, batch=${g.batch})`);
  const align = ctx.caps.limits.minStorageBufferOffsetAlignment;
  const maxBind = ctx.caps.limits.maxStorageBufferBindingSize;
  // W8A8: the row scales are bindings 7 and 8.
  const extra = g.int8 ? [g.int8.xScale, g.int8.wScale] : g.tuning?.extra ?? [];
  // B as bound: w itself, or (B loader with bBytes) that many bytes of w's buffer seen as u32 words.
  const bBytes = g.tuning?.bLoader ? g.tuning.bBytes : undefined;
  if (bBytes !== undefined) {
    if (!(Number.isInteger(bBytes) && bBytes > 0 && bBytes % 4 === 0)) fail(op, `'bBytes' must be a positive multiple of 4 (bytes of B to bind), got ${bBytes}`);
    if (g.b.offset + bBytes > g.b.buffer.size) {
      fail(op, `'bBytes' ${bBytes} from w's offset ${g.b.offset} runs past w's buffer (${g.b.buffer.size} bytes)`);
    }
  }
  const bView: TensorView = bBytes !== undefined ? { buffer: g.b.buffer, offset: g.b.offset, shape: [bBytes / 4], dtype: 'u32' } : g.b;
  const named: [string, TensorView | undefined][] = [['a/x', g.a], ['b/w', bView], ['out', out], ['bias', g.bias], ['gate', g.gate], ['residual', g.residual],
    ...extra.map((t, i): [string, TensorView] => [`extra[${i}]`, t])];
  for (const [name, t] of named) {
    if (!t) continue;
    if (t.offset % align !== 0) fail(op, `'${name}' has byte offset ${t.offset}, not a multiple of ${align} (minStorageBufferOffsetAlignment)`);
    if (byteSize(t) > maxBind) fail(op, `'${name}' is ${byteSize(t)} bytes, over maxStorageBufferBindingSize ${maxBind}: split the op`);
  }
  // WebGPU forbids binding one buffer read-only and read-write in one dispatch (even disjoint ranges), so
  // inputs that share out's buffer are bound read_write. Overlapping ranges would race: refuse them, except the
  // residual being exactly out (each element is read then written by the same invocation).
  const inplace = !!g.residual && sameRange(g.residual, out);
  for (const [name, t] of named) {
    if (!t || name === 'out' || (name === 'residual' && inplace)) continue;
    if (overlaps(t, out)) fail(op, `'${name}' overlaps 'out' in the same buffer; only residual may alias out, and only exactly (same offset and shape)`);
  }
  if (extra.some((t) => t.buffer === out.buffer)) fail(op, "B-loader 'extra' tensors must not live in out's buffer (they are bound read-only)");
  const access = (t: TensorView): Access => (t.buffer === out.buffer ? 'read_write' : 'read');

  const path = choosePath(ctx, g);
  // Absent bias/gate/residual take out's dtype so that epilogue variants share one pipeline.
  const spec: GemmSpec = {
    aType: g.a.dtype,
    bType: g.tuning?.bLoader ? 'f16' : g.b.dtype,
    outType: out.dtype,
    bLayout: g.bLayout,
    aAccess: access(g.a),
    bAccess: access(g.b),
    biasType: g.bias?.dtype ?? out.dtype,
    gateType: g.gate?.dtype ?? out.dtype,
    biasAccess: g.bias ? access(g.bias) : 'read',
    gateAccess: g.gate ? access(g.gate) : 'read',
    resAccess: g.residual && !inplace ? access(g.residual) : 'read',
  };
  const flags = epilogueFlags({
    bias: !!g.bias, activation: g.activation, gate: !!g.gate,
    residual: g.residual ? (inplace ? 'inplace' : 'separate') : 'none',
  });
  const dummy = dummyBuffer(ctx);
  const epilogueResources = [g.bias ?? dummy, g.gate ?? dummy, g.residual && !inplace ? g.residual : dummy];
  const bytes = [g.a, bView, out, g.bias, g.gate, inplace ? undefined : g.residual].reduce((s, t) => s + (t ? byteSize(t) : 0), 0)
    + (inplace ? byteSize(out) : 0);
  const maxDim = ctx.caps.limits.maxComputeWorkgroupsPerDimension;
  const checkGrid = (wg: [number, number, number]) => {
    if (wg.some((d) => d > maxDim)) fail(op, `grid ${fmt(wg)} exceeds maxComputeWorkgroupsPerDimension ${maxDim}`);
    return wg;
  };

  if (path === 'gemv') {
    // A and B bound as vec4<u32> (8 halves): K % 8 == 0 and view offsets are 256-byte aligned.
    const gspec: GemmSpec = { ...spec, vecA: true, vecB: true };
    const pipeline = await ctx.pipeline(`matmul-gemv:M${g.M}:${specKey(gspec)}`, gemvWgsl(gspec, g.M));
    const tilesN = Math.ceil(g.N / GEMV_COLS);
    const pbuf = paramsBuffer(ctx, paramsList(gemmParams(g, 1, tilesN, flags, 8)), `${g.label}:params`);
    return [{
      label: `${g.label} [gemv]`,
      pipeline,
      bindGroup: bindGroup(ctx, pipeline, [pbuf, g.a, g.b, out, ...epilogueResources], g.label),
      workgroups: checkGrid([tilesN, 1, 1]),
      flops: 2 * g.M * g.N * g.K,
      bytes,
    }];
  }

  if (path === 'tiled' && g.int8) {
    const pipeline = await ctx.pipeline(`matmul-i8-tiled:${specKey(spec)}`, tiledI8MatmulWgsl(spec));
    const tilesM = Math.ceil(g.M / TILED_I8.BM);
    const tilesN = Math.ceil(g.N / TILED_I8.BN);
    // The portable kernel counts K in u32 words.
    const p = { ...gemmParams(g, tilesM, tilesN, flags, TILED_I8.BKW), K: g.K / 4, kSplit: g.K / 4 };
    const pbuf = paramsBuffer(ctx, paramsList(p), `${g.label}:params`);
    return [{
      label: `${g.label} [tiled int8]`,
      pipeline,
      bindGroup: bindGroup(ctx, pipeline, [pbuf, g.a, g.b, out, ...epilogueResources, ...extra], g.label),
      workgroups: checkGrid([tilesN, tilesM, 1]),
      flops: 2 * g.M * g.N * g.K,
      bytes,
    }];
  }

  if (path === 'tiled') {
    const pipeline = await ctx.pipeline(`matmul-tiled:${specKey(spec)}`, tiledMatmulWgsl(spec));
    const tilesM = Math.ceil(g.M / TILED.BM);
    const tilesN = Math.ceil(g.N / TILED.BN);
    const pbuf = paramsBuffer(ctx, paramsList(gemmParams(g, tilesM, tilesN, flags, TILED.BK)), `${g.label}:params`);
    return [{
      label: `${g.label} [tiled]`,
      pipeline,
      bindGroup: bindGroup(ctx, pipeline, [pbuf, g.a, g.b, out, ...epilogueResources], g.label),
      workgroups: checkGrid([tilesN, tilesM, g.batch]),
      flops: 2 * g.batch * g.M * g.N * g.K,
      bytes,
    }];
  }

  // Tensor cores: explicit tuning, else the per-device tile table (plain [N, K] weights, batch 1), else the default.
  // int8 (linearI8Calls): the int8 tile table, else the built-in int8 rule (int8Tiling).
  const fromTable = g.tuning?.tiling ? null
    : g.int8 ? int8Tiling(ctx.caps, g.M, g.N, g.K)
      : g.bLayout === 'nk' && g.batch === 1 ? tableTiling(ctx.caps, g.M, g.N, g.K, g.allowSplit) : null;
  let tiling = g.tuning?.tiling ?? fromTable
    ?? (g.int8 ? defaultI8Tiling(ctx.caps.subgroupMaxSize) : defaultSgTiling(ctx.caps.subgroupMaxSize, ctx.caps.limits.maxComputeWorkgroupStorageSize));
  // Vector-typed arrays for subgroupMatrixLoad/Store came with Tint's template spelling (Dawn d2749d8): an older
  // Dawn ('bool-argument') gets f16 staging arrays, or the default if the tiling then outgrows workgroup memory.
  if (tiling.vecSmem && ctx.caps.subgroupMatrixSyntax === 'bool-argument') {
    tiling = { ...tiling, vecSmem: false };
    if (sgWorkgroupBytes(tiling, g.bLayout) > ctx.caps.limits.maxComputeWorkgroupStorageSize) {
      tiling = defaultSgTiling(ctx.caps.subgroupMaxSize, ctx.caps.limits.maxComputeWorkgroupStorageSize, false);
    }
  }
  const problem = sgTilingProblem(tiling);
  if (problem) fail(op, `tensor-core tiling ${JSON.stringify(tiling)}: ${problem}`);
  const shape0 = sgTileShape(tiling);
  if (shape0.threads > ctx.caps.limits.maxComputeInvocationsPerWorkgroup) {
    fail(op, `tensor-core tiling needs ${shape0.threads} invocations per workgroup, over the adapter's ${ctx.caps.limits.maxComputeInvocationsPerWorkgroup}`);
  }
  // Unguarded fragment loads straight from storage need whole tiles: fall back to staging (zero-filled edges).
  const wholeB = g.N % shape0.BN === 0 && g.K % tiling.bk === 0;
  if (tiling.staging === 'direct' && !(wholeB && g.M % shape0.BM === 0)) tiling = { ...tiling, staging: 'staged' };
  if (tiling.staging === 'stageA' && !wholeB) tiling = { ...tiling, staging: 'staged' };
  if (g.tuning?.bLoader && tiling.staging !== 'staged') tiling = { ...tiling, staging: 'staged' }; // the loader is part of B staging
  const asked = g.tuning?.tiling ?? fromTable;
  if (asked && tiling.staging !== asked.staging && sgWorkgroupBytes(tiling, g.bLayout) > ctx.caps.limits.maxComputeWorkgroupStorageSize) {
    // A tiling meant for whole tiles (e.g. stageA at K step 64 with 2 stages), from the table or a tuner, can
    // outgrow workgroup memory once it falls back to staging both operands at a ragged shape: the built-in
    // default serves those shapes instead (seen on the H200: 80 KiB for stageA bk64 x2 at 100x40x75).
    tiling = defaultSgTiling(ctx.caps.subgroupMaxSize, ctx.caps.limits.maxComputeWorkgroupStorageSize, !!tiling.vecSmem);
  }
  let splits = tiling.splitK ?? 1;
  let kSplit = g.K;
  if (splits > 1) {
    if (!g.allowSplit) fail(op, `split-K tiling (splitK=${splits}) needs two dispatches; use linearCalls()`);
    if (g.batch !== 1) fail(op, `split-K needs batch 1 (got ${g.batch})`);
    kSplit = Math.ceil(Math.ceil(g.K / splits) / tiling.bk) * tiling.bk;
    splits = Math.ceil(g.K / kSplit);
    // K too short to split, or (only from the tile table: an explicit split is refused below) an f32 workspace
    // [splits, M, N] over the binding limit (a big M): the plain kernel (same pipeline key as without splitK).
    if (splits <= 1 || (!g.tuning?.tiling && splits * g.M * g.N * 4 > maxBind)) {
      splits = 1;
      const { splitK: _unused, ...rest } = tiling;
      tiling = rest;
      kSplit = g.K;
    }
  }
  const smem = sgWorkgroupBytes(tiling, g.bLayout, g.int8 ? 1 : 2);
  if (smem > ctx.caps.limits.maxComputeWorkgroupStorageSize) {
    fail(op, `tensor-core tiling needs ${smem} bytes of workgroup memory, over the adapter's ${ctx.caps.limits.maxComputeWorkgroupStorageSize}`);
  }
  const { BM, BN } = sgTileShape(tiling);
  const tilesM = Math.ceil(g.M / BM);
  const tilesN = Math.ceil(g.N / BN);
  const [gx, gy] = grid1d(tilesM * tilesN, maxDim);
  const flops = 2 * g.batch * g.M * g.N * g.K;

  const gemmSpec: GemmSpec = splits > 1
    // Split-K partials: f32 workspace as OUT, no epilogue (applied by the reduce pass); dummies bound read-only.
    ? { ...spec, outType: 'f32', biasType: 'f32', gateType: 'f32', aAccess: 'read', bAccess: 'read', biasAccess: 'read', gateAccess: 'read', resAccess: 'read' }
    : { ...spec };
  // 16-byte loads need every 8-half chunk aligned: K (a, and b in [N,K]) or N (b in [K,N]) a multiple of 8.
  // 'direct' loads fragments (f16 bindings); 'stageA' loads B fragments; a B loader reads B itself.
  gemmSpec.vecA = tiling.staging !== 'direct' && g.K % 8 === 0;
  gemmSpec.vecB = tiling.staging === 'staged' && !g.tuning?.bLoader && (g.bLayout === 'nk' ? g.K % 8 === 0 : g.N % 8 === 0);
  // 16-byte output stores through the vecSmem epilogue (store_out8): whole 8-column chunks need N % 8 == 0 (also
  // keeps each batch's output offset a multiple of 8). Split-K partials go through the reduce pass instead.
  gemmSpec.vecOut = sgWantsVecOut(tiling)
    && splits === 1 && !!tiling.vecSmem && tiling.staging !== 'direct' && g.N % 8 === 0 && (out.dtype === 'f16' || out.dtype === 'f32');
  const bLoader = g.tuning?.bLoader;
  const ablate = g.tuning?.ablate;
  if (g.int8) {
    const bad = int8TilingProblem(gemmSpec, tiling);
    if (bad) fail(op, `int8 tiling ${JSON.stringify(tiling)}: ${bad}`);
  }
  let source = subgroupMatrixMatmulWgsl(gemmSpec, tiling, { bLoader, ablate, syntax: ctx.caps.subgroupMatrixSyntax, int8: !!g.int8 });
  // The split-K kernel's WGSL does not depend on the number of splits (a uniform): one pipeline for all of them.
  const keyTiling = splits > 1 ? { ...tiling, splitK: 'n' } : tiling;
  let key = `matmul-sgm${g.int8 ? '-i8' : ''}:${JSON.stringify(keyTiling)}:${specKey(gemmSpec)}${bLoader ? `:bl=${bLoader.name}` : ''}${ablate ? `:ablate=${ablate}` : ''}`;
  const transform = g.tuning?.transform;
  if (transform) {
    source = transform.fn(source);
    key += `:${transform.name}`;
  }
  const pipeline = await ctx.pipeline(key, source);
  // loopK = 16 = fragment edge (the CPU emulation in tests uses it).
  const params = gemmParams(g, tilesM, tilesN, flags, 16);
  if (splits === 1) {
    const pbuf = paramsBuffer(ctx, paramsList(params), `${g.label}:params`);
    return [{
      label: `${g.label} [subgroup-matrix]`,
      pipeline,
      bindGroup: bindGroup(ctx, pipeline, [pbuf, g.a, bView, out, ...epilogueResources, ...extra], g.label),
      workgroups: checkGrid([gx, gy, g.batch]),
      flops,
      bytes,
    }];
  }
  // Split-K: [splits, M, N] f32 partials in a workspace shared by all split-K GEMMs of this context (dispatches
  // run in order, each GEMM's reduce finishes reading before the next GEMM writes), then the reduce + epilogue.
  const wsBytes = splits * g.M * g.N * 4;
  if (wsBytes > maxBind) fail(op, `split-K workspace of ${wsBytes} bytes is over maxStorageBufferBindingSize ${maxBind}: use fewer splits`);
  const ws = ctx.sharedBuffer('matmul:split-k-workspace', wsBytes);
  const wsView: TensorView = { buffer: ws, offset: 0, shape: [splits, g.M, g.N], dtype: 'f32' };
  const p1 = paramsBuffer(ctx, paramsList({ ...params, alpha: 1, flags: 0, batchOut: g.M * g.N, kSplit }), `${g.label}:splitk-params`);
  const redSpec: GemmSpec = { ...spec, aType: 'f32', bType: 'f32', aAccess: 'read', bAccess: 'read' };
  const redPipeline = await ctx.pipeline(`matmul-splitk-reduce:${specKey(redSpec)}`, splitKReduceWgsl(redSpec));
  const p2 = paramsBuffer(ctx, paramsList({ ...params, splits }), `${g.label}:reduce-params`);
  const [rx, ry] = grid1d(Math.ceil((g.M * g.N) / 256), maxDim);
  return [
    {
      label: `${g.label} [subgroup-matrix split-K ${splits}]`,
      pipeline,
      bindGroup: bindGroup(ctx, pipeline, [p1, g.a, bView, wsView, dummy, dummy, dummy, ...extra], `${g.label}:splitk`),
      workgroups: checkGrid([gx, gy, splits]),
      flops,
      bytes: bytes + wsBytes,
    },
    {
      label: `${g.label} [split-K reduce]`,
      pipeline: redPipeline,
      bindGroup: bindGroup(ctx, redPipeline, [p2, wsView, dummy, out, ...epilogueResources], `${g.label}:reduce`),
      workgroups: checkGrid([rx, ry, 1]),
      flops: 0,
      bytes: wsBytes + byteSize(out),
    },
  ];
}

function gemmParams(g: GemmLaunch, tilesM: number, tilesN: number, flags: number, loopK: number): GemmParams {
  return {
    M: g.M, N: g.N, K: g.K,
    batchA: g.M * g.K,
    batchB: g.bBatched ? g.N * g.K : 0,
    batchOut: g.M * g.N,
    rowsPerBatch: g.rowsPerBatch, gateStride: g.gateStride, gateOffset: g.gateOffset,
    tilesM, tilesN, alpha: g.alpha, flags,
    // The tensor-core kernel ignores epiStride.
    loopK, epiStride: TILED.threads,
  };
}
