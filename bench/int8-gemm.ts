// The W8A8 linear (issue 13's optional int8 path) beside the f16 linear at the FLUX shapes, same process, same
// inputs: f16 linear() (the tile table's choice), the activation quantizer alone, the int8 GEMM alone (default
// int8 tiling and a few others), and quantizer + GEMM (what a graph's int8 linear costs). Also the int8 kernel with
// only its MMAs left ('mma-only' ablation: the ceiling of 16x16x32 i8 cooperative matrices, as docs/matmul.md
// measured 400 TFLOP/s for f16). Every non-ablated output is checked on 12x12 sampled elements against a float64
// dot product of the unquantized f16 inputs (the int8 error is quantization, ~1%; a wrong offset is ~100%).
// Writes int8-gemm.json and torch-int8-spec.json for bench/reference/int8_gemm_ref.py (torch._int_mm and F.linear).
//
// --sweep: the int8 tile sweep (docs/int8.md, "Int8 tile table"). A grid of int8 tilings (sweepGrid(): tile shape,
// subgroup layout, K step, stages, tile-order group; only those the int8 kernel accepts and that fit the adapter's
// workgroup memory) is screened on three shapes (mlp_up_1024, mlp_down_1024, proj_512), then the best few and the
// built-in rule's tilings run on every FLUX shape (the ten full ones and the double blocks' 1024/512-row ones),
// split-K 2/3 at K >= 12288 with M <= 1536; every timed output is checked (sampled rel. error < 0.05, else the
// row is marked wrong and never chosen). Within --budget SECONDS (default 240; the screen stops at 45%, the finals
// at 85%). Writes int8-gemm.json (every row), int8-tile-table.json (for DIT_MATMUL_I8_TILE_TABLE) and
// matmul-i8-tile-table.ts (a drop-in for src/kernels-wgsl/matmul-i8-tile-table.ts: this device's entry replaced,
// the other devices' entries kept), int8-sweep.md; then checks linearI8Calls() with the new table at every shape.
// --sweep --quick: a dry run of that flow on an adapter without int8 tensor cores (lavapipe): two toy shapes, two
// small tilings run through the CPU emulation of the i8 subgroup-matrix builtins (minutes of shader compiles;
// timings meaningless; the table it writes says EMULATED and must not be committed).
//
// Build and run (GPU machine, after `source .gpu/env.sh`):
//   node node_modules/typescript/bin/tsc --outDir results/tmp/bench-build --rootDir . --module nodenext \
//     --moduleResolution nodenext --target es2022 --lib es2023 --types node,@webgpu/types --skipLibCheck bench/int8-gemm.ts
//   node results/tmp/bench-build/bench/int8-gemm.js --out DIR [--shapes mlp_up_1024,... | --small-m | --sweep [--budget S] [--quick]]
//   node results/tmp/bench-build/bench/int8-gemm.js --grid   (prints the sweep grid for a 32-wide subgroup, 48 KiB; no GPU)
import { mkdirSync, writeFileSync } from 'node:fs';
import { GpuContext } from '../src/gpu/context.js';
import { runCalls, type KernelCall } from '../src/gpu/kernel.js';
import { timeCalls } from '../src/gpu/timer.js';
import { int8MatmulUnavailable } from '../src/gpu/variants.js';
import {
  builtinI8Tiling, defaultI8Tiling, defaultSgTiling, I8_TILE_TABLE_ENV, int8Tiling, linearCalls, linearI8Calls, type SgAblation, type SgTiling,
} from '../src/kernels-wgsl/matmul.js';
import { I8_LINEAR_SPEC } from '../src/kernels-wgsl/matmul-epilogue.wgsl.js';
import { int8TilingProblem, sgLoopNameParts, sgTileShape, sgTilingProblem, sgWantsVecOut, sgWorkgroupBytes } from '../src/kernels-wgsl/matmul-subgroup-matrix.wgsl.js';
import { I8_TILE_TABLE } from '../src/kernels-wgsl/matmul-i8-tile-table.js';
import type { TableTiling, TileTable, TileTableShape } from '../src/kernels-wgsl/matmul-tile-table.js';
import { emulateSubgroupMatrixI8 } from '../src/kernels-wgsl/matmul-emulate.js';
import { freeLinearOperands, linearOperandsI8, type LinearOperandsI8 } from './lib/linear-operands.js';
import { tileTableModule, withDeviceEntry } from './lib/tile-table-file.js';

interface Shape { name: string; M: number; K: number; N: number }
const PAIRS: [string, number, number][] = [['proj', 3072, 3072], ['qkv', 3072, 9216], ['mlp_up', 3072, 12288], ['mlp_down', 12288, 3072], ['single_out', 15360, 3072]];
const ALL: Shape[] = [4608, 1536].flatMap((M) => PAIRS.map(([n, K, N]) => ({ name: `${n}_${M === 4608 ? 1024 : 512}`, M, K, N })));
// --small-m: the double blocks' per-stream GEMMs (img 1024 rows at 512², txt 512 rows at both sizes), where 128-row
// tiles leave the GPU under-filled: f16 and int8 with split-K and 64-row tiles.
const SMALL_M: Shape[] = [1024, 512].flatMap((M) => PAIRS.slice(0, 4).map(([n, K, N]) => ({ name: `${n}_m${M}`, M, K, N })));
// --sweep: all of them; screened on three.
const SWEEP_SHAPES: Shape[] = [...ALL, ...SMALL_M];
const SCREEN_NAMES = ['mlp_up_1024', 'mlp_down_1024', 'proj_512'];

// ---- arguments (checked before anything else: misuse fails at once, without a GPU) ----
const USAGE = 'usage: node results/tmp/bench-build/bench/int8-gemm.js [--out DIR] [--shapes NAME,... | --small-m | --sweep [--budget SECONDS] [--quick] | --grid]\n'
  + `  shapes: ${ALL.map((s) => s.name).join(', ')}`;
const VALUE_FLAGS = ['--out', '--shapes', '--budget'];
const BOOL_FLAGS = ['--small-m', '--sweep', '--quick', '--grid', '--help'];

function usageError(msg: string): never {
  console.error(`int8-gemm: ${msg}\n${USAGE}`);
  process.exit(2);
}

const argv = process.argv.slice(2);
const opts = new Map<string, string | true>();
for (let i = 0; i < argv.length; i++) {
  const a = argv[i];
  if (VALUE_FLAGS.includes(a)) {
    const v = argv[i + 1];
    if (v === undefined || v.startsWith('--')) usageError(`${a} needs a value`);
    opts.set(a, v);
    i++;
  } else if (BOOL_FLAGS.includes(a)) opts.set(a, true);
  else usageError(`unknown argument '${a}'`);
}
if (opts.has('--help')) {
  console.log(USAGE);
  process.exit(0);
}
const flag = (name: string) => opts.get(name) as string | undefined;
const sweepMode = opts.has('--sweep');
const smallM = opts.has('--small-m');
const only = flag('--shapes')?.split(',');
if ([sweepMode, smallM, !!only, opts.has('--grid')].filter(Boolean).length > 1) {
  usageError('--sweep, --small-m, --shapes and --grid are separate modes (the sweep times its own shape list); give one');
}
const unknownShapes = only?.filter((n) => !ALL.some((s) => s.name === n)) ?? [];
if (unknownShapes.length) usageError(`--shapes: unknown shape(s) ${unknownShapes.join(', ')}`);
if (opts.has('--budget') && !sweepMode) usageError('--budget applies to --sweep only');
if (opts.has('--quick') && !sweepMode) usageError('--quick applies to --sweep only (an emulated dry run of the sweep)');
const quick = opts.has('--quick');
const budgetS = Number(flag('--budget') ?? 240);
if (!(Number.isFinite(budgetS) && budgetS > 0)) usageError(`--budget must be a positive number of seconds, got '${flag('--budget')}'`);
const outDir = flag('--out') ?? 'results/tmp/int8-gemm';
const SHAPES = smallM ? SMALL_M : only ? ALL.filter((s) => only.includes(s.name)) : ALL;

interface Row {
  shape: string; M: number; K: number; N: number; what: string;
  /** --sweep: which phase, and the tiling timed. */
  phase?: 'screen' | 'final' | 'split' | 'verify'; tiling?: SgTiling;
  ms?: number; tflops?: number; relErr?: number; wrong?: boolean; error?: string;
}

/** Same settings for every timed row (the f16 and int8 comparisons of earlier sessions): median of 10 after a 150 ms busy period. */
const timing = (flops: number) => (quick ? { warmup: 1, reps: 2, inner: 1, busyMs: 0 } : { warmup: 3, reps: 10, inner: flops > 5e11 ? 2 : 4, busyMs: 150 });
const MAX_REL_ERR = 0.05; // per-row int8 quantization costs 1.0-1.4% here; a wrong offset ~100%

/** One shape's inputs (bench/lib/linear-operands.ts): f16 x and w, their int8 forms with row scales, the output, the check. */
type ShapeData = LinearOperandsI8 & { s: Shape };

async function prepareShape(ctx: GpuContext, s: Shape): Promise<ShapeData> {
  return { s, ...(await linearOperandsI8(ctx, s.M, s.K, s.N)) };
}

/**
 * Checks (optionally) and times `calls` into `row`: NaN-poisoned output, sampled rel. error < MAX_REL_ERR (else
 * the row is marked wrong, not timed), then timeCalls. Errors (compile, validation) land in row.error.
 */
async function measure(ctx: GpuContext, d: ShapeData, row: Row, calls: () => Promise<KernelCall[]>, opts: { check?: boolean; countFlops?: boolean } = {}): Promise<Row> {
  const { s } = d;
  const flops = 2 * s.M * s.N * s.K;
  try {
    const cs = await calls();
    if (opts.check) {
      ctx.fill(d.out.buffer, 0x7e007e00);
      await runCalls(ctx, cs);
      row.relErr = await d.check.relErr(d.out);
      if (!(row.relErr < MAX_REL_ERR)) {
        row.wrong = true;
        throw new Error(`wrong output: sampled rel. L2 error ${row.relErr} vs the unquantized float64 product`);
      }
    }
    const tm = await timeCalls(ctx, cs, timing(flops));
    row.ms = tm.medianMs;
    if (opts.countFlops !== false) row.tflops = flops / (tm.medianMs / 1e3) / 1e12;
  } catch (e) {
    row.error = String((e as Error).message).split('\n').slice(0, 3).join(' ').slice(0, 400);
  }
  return row;
}

const fmtRow = (r: Row, width = 40) => `${r.shape.padEnd(16)} ${r.what.padEnd(width)} ${r.error ? `${r.wrong ? 'WRONG' : 'ERROR'} ${r.error.slice(0, 200)}`
  : `${r.ms!.toFixed(3)} ms${r.tflops ? ` ${r.tflops.toFixed(1)} TFLOP/s` : ''}${r.relErr !== undefined ? ` err ${r.relErr.toExponential(2)}` : ''}`}`;

// ---- the sweep grid ----

/** A tiling's short name: tile, subgroups x fragments, K step (int8), stages, group, split-K. */
function nameOf(t: Omit<SgTiling, 'subgroupSize'>): string {
  const { BM, BN } = sgTileShape({ ...t, subgroupSize: 1 });
  let s = `${BM}x${BN} ${t.sgM}x${t.sgN}sg ${t.fragM}x${t.fragN}fr bk${t.bk} ${t.stages ?? 2}st gM${t.groupM}`;
  if ((t.pad ?? 16) !== 16) s += ` pad${t.pad}`;
  if ((t.splitK ?? 1) > 1) s += ` splitK${t.splitK}`;
  // 16-byte output stores: the launcher's default (<= 8 fragments per subgroup) unless the tiling says otherwise.
  if (sgWantsVecOut(t)) s += ' vo';
  return s + sgLoopNameParts(t);
}

/** Workgroup memory of an int8 tiling (bytes; the launcher's own arithmetic). */
const i8Bytes = (t: SgTiling) => sgWorkgroupBytes(t, 'nk', 1);

/**
 * The int8 tilings to sweep, most promising first (a screen cut by the budget loses the tail): the built-in rule's
 * two tilings, then the tile shapes (128x128 as 2x4 subgroups of 4x2 fragments and 4x2 of 2x4; 256x128 as 4x2 of
 * 4x4 and 4x4 of 4x2 (16 subgroups); 128x256 as 2x4 of 4x4; 64x128 as 2x4 of 2x2 and 2x2 of 2x4) x K step 64..192
 * int8 x 1 or 2 stages, tile-order group 8, then the same with group 16. Only tilings the int8 kernel accepts and
 * that fit `maxBytes` of workgroup memory and `maxThreads` invocations.
 */
function sweepGrid(sg: number, maxBytes: number, maxThreads: number): SgTiling[] {
  const base = defaultI8Tiling(sg);
  type Tile = [sgM: number, sgN: number, fragM: number, fragN: number];
  const big: Tile[] = [[2, 4, 4, 2], [4, 2, 4, 4], [2, 4, 4, 4], [4, 2, 2, 4], [4, 4, 4, 2]];
  const small: Tile[] = [[2, 4, 2, 2], [2, 2, 2, 4]];
  const BKS = [128, 96, 160, 64, 192];
  const mk = ([sgM, sgN, fragM, fragN]: Tile, bk: number, stages: 1 | 2, groupM: number): SgTiling =>
    ({ ...base, sgM, sgN, fragM, fragN, bk, stages, groupM });
  const configs = (tiles: Tile[], groupM: number) => tiles.flatMap((tile) =>
    [1, 2].flatMap((st) => BKS.map((bk) => mk(tile, bk, st as 1 | 2, groupM))));
  const all = [
    builtinI8Tiling(sg, 1, 1), builtinI8Tiling(sg, 4096, 9216),
    // 16-byte output stores forced on for the 4x4-fragment tiles (off by default there).
    { ...builtinI8Tiling(sg, 4096, 9216), vecOut: true }, mk([2, 4, 4, 4], 96, 1, 8), { ...mk([2, 4, 4, 4], 96, 1, 8), vecOut: true },
    ...configs(big, 8), ...configs(small, 8), ...configs(big, 16), ...configs(small, 16),
    // Main-loop forms that lost on the H200 (ninth session, docs/matmul.md), kept for other devices.
    { ...mk([2, 4, 4, 2], 128, 1, 8), branchFree: true }, { ...mk([4, 4, 4, 2], 64, 1, 8), branchFree: true },
    { ...mk([2, 4, 4, 2], 128, 1, 8), rollK: true }, { ...mk([2, 4, 4, 2], 128, 1, 8), prefetch: false }, { ...mk([2, 4, 4, 2], 128, 1, 8), prefetchDepth: 2 as const },
  ];
  const seen = new Set<string>();
  return all.filter((t) => {
    const key = nameOf(t);
    if (seen.has(key)) return false;
    seen.add(key);
    return !sgTilingProblem(t) && !int8TilingProblem(I8_LINEAR_SPEC, t) && i8Bytes(t) <= maxBytes && sgTileShape(t).threads <= maxThreads;
  });
}

// ---- the sweep ----

const round = (x: number) => Math.round(x * 10) / 10;
const geo = (xs: (number | undefined)[]) => (xs.length && xs.every((x) => x !== undefined && x > 0)
  ? Math.exp(xs.reduce((acc: number, x) => acc + Math.log(x as number), 0) / xs.length) : 0);
const strip = (t: SgTiling): TableTiling => {
  const { subgroupSize: _sg, ...rest } = t;
  return rest;
};

async function sweep(ctx: GpuContext): Promise<void> {
  const t0 = performance.now();
  const elapsed = () => (performance.now() - t0) / 1000;
  const budget = (fraction: number) => elapsed() < budgetS * fraction;
  const caps = ctx.caps;
  const sg = caps.subgroupMaxSize;
  // --quick (emulated dry run): toy shapes, two small tilings (the emulation runs every lane's fragment math).
  const emulate = !!int8MatmulUnavailable(caps);
  const transform = emulate ? { name: 'emulate-i8', fn: emulateSubgroupMatrixI8 } : undefined;
  const shapesAll: Shape[] = quick ? [{ name: 'quick-a', M: 40, K: 96, N: 64 }, { name: 'quick-b', M: 37, K: 128, N: 29 }] : SWEEP_SHAPES;
  const screen = quick ? [shapesAll[0]] : SCREEN_NAMES.map((n) => SWEEP_SHAPES.find((s) => s.name === n)!);
  const splitShapes = quick ? [shapesAll[1]] : SWEEP_SHAPES.filter((x) => x.K >= 12288 && x.M <= 1536);
  const small: SgTiling = { ...defaultI8Tiling(emulate ? 8 : sg), sgM: 2, sgN: 2, fragM: 1, fragN: 1, bk: 32, groupM: 4 };
  const grid = quick ? [small, { ...small, bk: 64 }]
    : sweepGrid(sg, caps.limits.maxComputeWorkgroupStorageSize, caps.limits.maxComputeInvocationsPerWorkgroup);
  const info = {
    mode: quick ? 'sweep --quick' : 'sweep', emulated: emulate, adapter: caps.adapterName, vendor: caps.vendor, architecture: caps.architecture, subgroup: sg, robustness: false,
    maxWorkgroupBytes: caps.limits.maxComputeWorkgroupStorageSize, budgetS, date: new Date().toISOString(),
  };
  console.log(JSON.stringify(info));
  console.log(`${grid.length} int8 tilings in the grid; ${shapesAll.length} shapes; screened on ${screen.map((s) => s.name).join(', ')}; budget ${budgetS} s`);
  for (const t of grid) console.log(`  ${nameOf(t).padEnd(40)} ${i8Bytes(t)} bytes`);
  const rows: Row[] = [];
  const gridInfo = grid.map((t) => ({ name: nameOf(t), bytes: i8Bytes(t), tiling: t }));
  const dump = () => writeFileSync(`${outDir}/int8-gemm.json`, JSON.stringify({ ...info, elapsedS: elapsed(), grid: gridInfo, rows }, null, 1));
  writeFileSync(`${outDir}/torch-int8-spec.json`, JSON.stringify(shapesAll.map((s) => ({ id: s.name, M: s.M, K: s.K, N: s.N }))));

  const data = new Map<string, ShapeData>();
  const shapeData = async (s: Shape) => {
    let d = data.get(s.name);
    if (!d) data.set(s.name, (d = await prepareShape(ctx, s)));
    return d;
  };
  async function evaluate(phase: NonNullable<Row['phase']>, s: Shape, tiling: SgTiling | undefined, what?: string): Promise<Row> {
    const d = await shapeData(s);
    const row: Row = { phase, shape: s.name, M: s.M, K: s.K, N: s.N, what: what ?? nameOf(tiling!), ...(tiling ? { tiling } : {}) };
    rows.push(row);
    const args = { xq: d.xq, xScale: d.xs, wq: d.wq, wScale: d.ws, out: d.out };
    await measure(ctx, d, row, () => linearI8Calls(ctx, args, tiling ? { tiling, transform } : undefined), { check: true });
    console.log(`[${elapsed().toFixed(0).padStart(4)}s] ${phase.padEnd(6)} ${fmtRow(row, 44)}`);
    return row;
  }

  // 1. Screen: every grid tiling on the three screening shapes (a tiling that fails once is out).
  const screened: { t: SgTiling; tf: (number | undefined)[] }[] = [];
  for (const t of grid) {
    if (!budget(0.45)) {
      console.log(`screen stopped at ${elapsed().toFixed(0)} s (budget): ${grid.length - screened.length} tilings not screened`);
      break;
    }
    const tf: (number | undefined)[] = [];
    for (const s of screen) {
      const r = await evaluate('screen', s, t);
      tf.push(r.tflops);
      if (r.error) break;
    }
    screened.push({ t, tf });
  }
  dump();

  // 2. Finals: the built-in rule's tilings (for the record) + the best 4 by geometric mean + the best per screening
  //    shape, on every shape (screening shapes first, then the large-M ones: they matter most for a step).
  const ok = screened.filter((v) => v.tf.length === screen.length && geo(v.tf) > 0);
  const finalists = new Map<string, SgTiling>();
  const add = (t: SgTiling) => finalists.set(nameOf(t), t);
  // (Not in the emulated dry run: the built-in tilings would take the emulation hours.)
  const builtins = quick ? [] : [...new Set(shapesAll.map((s) => nameOf(builtinI8Tiling(sg, s.M, s.N))))];
  if (!quick) for (const s of shapesAll) add(builtinI8Tiling(sg, s.M, s.N));
  [...ok].sort((a, b) => geo(b.tf) - geo(a.tf)).slice(0, 4).forEach((v) => add(v.t));
  screen.forEach((_, i) => {
    const best = [...ok].sort((a, b) => b.tf[i]! - a.tf[i]!)[0];
    if (best) add(best.t);
  });
  console.log(`finalists (${finalists.size}): ${[...finalists.keys()].join(' | ')}`);
  const finalRows = new Map<string, Map<string, Row>>(shapesAll.map((s) => [s.name, new Map()]));
  const order = [...screen, ...shapesAll.filter((s) => !screen.includes(s)).sort((a, b) => b.M - a.M)];
  for (const s of order) {
    for (const [name, t] of finalists) {
      if (!budget(0.85)) break;
      finalRows.get(s.name)!.set(name, await evaluate('final', s, t));
    }
  }
  dump();

  // 3. Split-K 2 and 3 of the best two finalists where K is long and M small.
  const ranked = (m: Map<string, Row>) => [...m.values()].filter((r) => r.tflops && !r.error).sort((a, b) => b.tflops! - a.tflops!);
  const splitRows = new Map<string, Row>();
  for (const s of splitShapes) {
    for (const best of ranked(finalRows.get(s.name)!).slice(0, quick ? 1 : 2)) {
      for (const k of quick ? [2] : [2, 3]) {
        if (!budget(0.92)) break;
        const r = await evaluate('split', s, { ...best.tiling!, splitK: k });
        const prev = splitRows.get(s.name);
        if (r.tflops && !r.error && (!prev || r.tflops > prev.tflops!)) splitRows.set(s.name, r);
      }
    }
  }
  dump();

  // 4. The table entry for this device: per shape the fastest checked tiling (a split one when it beat it), the
  //    built-in rule's TFLOP/s beside it; default = best geometric mean over every shape.
  const shapes: TileTableShape[] = [];
  for (const s of shapesAll) {
    const best = ranked(finalRows.get(s.name)!)[0];
    if (!best?.tiling) continue;
    const e: TileTableShape = { M: s.M, N: s.N, K: s.K, tiling: strip(best.tiling), tflops: round(best.tflops!) };
    const builtin = finalRows.get(s.name)!.get(nameOf(builtinI8Tiling(sg, s.M, s.N)));
    if (builtin?.tflops && !builtin.error) e.defaultTflops = round(builtin.tflops);
    const sp = splitRows.get(s.name);
    if (sp?.tflops && sp.tiling && sp.tflops > best.tflops!) e.split = { tiling: strip(sp.tiling), tflops: round(sp.tflops) };
    shapes.push(e);
  }
  // Default: the best geometric mean over the shapes every finalist ran on (all of them, unless the budget cut the finals).
  const fullShapes = shapesAll.filter((s) => finalRows.get(s.name)!.size === finalists.size);
  let entryDefault: TableTiling | undefined;
  let bestGeo = 0;
  for (const [name, t] of finalists) {
    const g = geo(fullShapes.map((s) => {
      const r = finalRows.get(s.name)!.get(name)!;
      return r.error ? undefined : r.tflops;
    }));
    if (g > bestGeo) [bestGeo, entryDefault] = [g, strip(t)];
  }
  const table = withDeviceEntry(I8_TILE_TABLE, {
    device: { vendor: caps.vendor, ...(caps.architecture ? { architecture: caps.architecture } : {}) },
    subgroupSize: sg,
    measured: info.date,
    source: `bench/int8-gemm.ts --sweep on '${caps.adapterName}'${emulate ? ' (EMULATED dry run: do not commit)' : ''}, robustness off, budget ${budgetS} s, ${screened.length} of ${grid.length} tilings screened, `
      + `${finalists.size} finalists on ${shapes.length} shapes; defaultTflops = the built-in rule (builtinI8Tiling)`,
    ...(entryDefault ? { default: entryDefault } : {}),
    shapes,
  });
  const jsonPath = `${outDir}/int8-tile-table.json`;
  writeFileSync(jsonPath, JSON.stringify(table, null, 1));
  writeFileSync(`${outDir}/matmul-i8-tile-table.ts`, tableModule(table));
  console.log(`wrote ${jsonPath} and matmul-i8-tile-table.ts (${shapes.length} shapes; default ${entryDefault ? nameOf(entryDefault) : 'none'}, geomean ${bestGeo.toFixed(1)} TFLOP/s over ${fullShapes.length} shapes)`);
  dump();

  // 5. Verify: linearI8Calls() without a tiling takes the new table (DIT_MATMUL_I8_TILE_TABLE), checked and timed.
  //    (Emulated dry run: linearI8Calls() takes the portable kernel there; this only exercises the flow.)
  process.env[I8_TILE_TABLE_ENV] = jsonPath;
  for (const s of shapesAll) {
    if (elapsed() > budgetS * 1.02) break;
    const picked = nameOf(int8Tiling(caps, s.M, s.N, s.K));
    const want = shapes.find((e) => e.M === s.M && e.N === s.N && e.K === s.K);
    const wantName = want ? nameOf(want.split?.tiling ?? want.tiling) : undefined;
    await evaluate('verify', s, undefined, `linearI8Calls() [${picked}]${wantName && wantName !== picked ? ` NOT the table's ${wantName}` : ''}`);
  }
  delete process.env[I8_TILE_TABLE_ENV];
  dump();
  writeFileSync(`${outDir}/int8-sweep.md`, sweepMarkdown(info, shapes, builtins, rows));
  console.log(`done in ${elapsed().toFixed(0)} s; wrote ${outDir}/int8-gemm.json, int8-tile-table.json, matmul-i8-tile-table.ts, int8-sweep.md`);
  for (const d of data.values()) freeLinearOperands(d);
}

/** The drop-in src/kernels-wgsl/matmul-i8-tile-table.ts for `table`. */
function tableModule(table: TileTable): string {
  return tileTableModule(table, { path: 'src/kernels-wgsl/matmul-i8-tile-table.ts', constName: 'I8_TILE_TABLE', doc: 'The committed int8 table, written by bench/int8-gemm.ts --sweep.', tool: 'int8-gemm' });
}

function sweepMarkdown(info: object, shapes: TileTableShape[], builtins: string[], rows: Row[]): string {
  const lines = [JSON.stringify(info), '', `Built-in rule's tilings: ${builtins.join(', ')}`, '', '## Chosen per shape (int8 TFLOP/s = 2MNK / time)', '',
    '| M K N | chosen | TFLOP/s | built-in rule TFLOP/s | gain | split-K |', '|---|---|---:|---:|---:|---|'];
  for (const s of shapes) {
    const gain = s.defaultTflops ? (s.tflops! / s.defaultTflops).toFixed(2) : '-';
    lines.push(`| ${s.M} ${s.K} ${s.N} | ${nameOf(s.tiling)} | ${s.tflops} | ${s.defaultTflops ?? '-'} | ${gain} | ${s.split ? `${nameOf(s.split.tiling)} ${s.split.tflops}` : '-'} |`);
  }
  lines.push('', '## Every measurement', '', '| phase | shape | tiling | ms | TFLOP/s | sampled rel err |', '|---|---|---|---:|---:|---:|');
  for (const r of rows) {
    lines.push(`| ${r.phase} | ${r.shape} | ${r.what} | ${r.ms?.toFixed(3) ?? '-'} | ${r.tflops?.toFixed(1) ?? (r.error ? `${r.wrong ? 'WRONG' : 'error'}: ${r.error.slice(0, 80)}` : '-')} | ${r.relErr?.toExponential(1) ?? '-'} |`);
  }
  return `${lines.join('\n')}\n`;
}

// ---- the comparison (default mode, --shapes, --small-m) ----

async function compare(ctx: GpuContext): Promise<void> {
  const sg = ctx.caps.subgroupMaxSize;
  const base = defaultI8Tiling(sg);
  const tilings: [string, SgTiling][] = [
    ['int8 128x128 bk128 (default)', base],
    ['int8 128x128 bk64', { ...base, bk: 64 }],
    ['int8 256x128 4x4fr bk96', { ...base, fragN: 4, sgN: 2, sgM: 4, bk: 96 }],
    ['int8 128x256 4x4fr bk96', { ...base, fragN: 4, bk: 96 }],
    ['int8 256x128 16sg bk64', { ...base, sgM: 4, sgN: 4, bk: 64 }],
  ];
  const rows: Row[] = [];
  const dump = () => writeFileSync(`${outDir}/int8-gemm.json`, JSON.stringify({ adapter: ctx.caps.adapterName, date: new Date().toISOString(), rows }, null, 1));
  writeFileSync(`${outDir}/torch-int8-spec.json`, JSON.stringify(SHAPES.map((s) => ({ id: s.name, M: s.M, K: s.K, N: s.N }))));

  for (const s of SHAPES) {
    const d = await prepareShape(ctx, s);
    const { x, w, out, xq, xs, wq, ws, quantX } = d;
    const run = async (what: string, calls: () => Promise<KernelCall[]>, opts: { check?: boolean; countFlops?: boolean } = {}) => {
      const row: Row = { shape: s.name, M: s.M, K: s.K, N: s.N, what };
      rows.push(row);
      await measure(ctx, d, row, calls, opts);
      console.log(fmtRow(row));
      dump();
    };
    await run('f16 linear (tile table)', () => linearCalls(ctx, { x, w, out }), { check: true });
    if (smallM) {
      const f = defaultSgTiling(sg, ctx.caps.limits.maxComputeWorkgroupStorageSize);
      const f16Variants: [string, SgTiling][] = [
        ['f16 default', f], ['f16 split-K 2', { ...f, splitK: 2 }], ['f16 split-K 3', { ...f, splitK: 3 }],
        ['f16 64x128 (2x4 sg of 2x2)', { ...f, fragM: 2, fragN: 2, sgM: 2, sgN: 4 }],
      ];
      for (const [name, t] of f16Variants) await run(name, () => linearCalls(ctx, { x, w, out }, { tiling: t }), { check: true });
    }
    await run('quantize activations (int8)', async () => [quantX], { countFlops: false });
    const i8 = (t: SgTiling, ablate?: SgAblation) => () => linearI8Calls(ctx, { xq, xScale: xs, wq, wScale: ws, out }, { tiling: t, ablate });
    const chosen = int8Tiling(ctx.caps, s.M, s.N, s.K);
    const perShape: [string, SgTiling][] = smallM
      ? [['int8 default', base], ['int8 split-K 2', { ...base, splitK: 2 }], ['int8 split-K 3', { ...base, splitK: 3 }],
        ['int8 64x128 (2x4 sg of 2x2)', { ...base, fragM: 2, fragN: 2 }], ['int8 64x128 split-K 2', { ...base, fragM: 2, fragN: 2, splitK: 2 }],
        ['int8 chosen (int8Tiling)', chosen]]
      : [...tilings, ['int8 default, split-K 3', { ...base, splitK: 3 }], ['int8 chosen (int8Tiling)', chosen]];
    for (const [name, t] of perShape) await run(name, i8(t), { check: true });
    await run('quantize + int8 GEMM (chosen)', async () => [quantX, ...(await i8(chosen)())], { check: true });
    if (s.name === 'mlp_up_1024' && !smallM) {
      for (const ab of ['mma-only', 'no-barrier', 'no-stage'] as const) await run(`int8 default [${ab}]`, i8(base, ab));
    }
    freeLinearOperands(d);
  }
  dump();
}

async function main() {
  if (opts.has('--grid')) {
    const grid = sweepGrid(32, 49152, 1024);
    console.log(`${grid.length} int8 tilings (subgroup size 32, 48 KiB of workgroup memory, 1024 invocations):`);
    for (const t of grid) console.log(`  ${nameOf(t).padEnd(40)} ${i8Bytes(t)} bytes, ${sgTileShape(t).threads} invocations`);
    return;
  }
  mkdirSync(outDir, { recursive: true });
  const ctx = await GpuContext.open({ robustness: false });
  const why = int8MatmulUnavailable(ctx.caps);
  console.log(JSON.stringify({ adapter: ctx.caps.adapterName, int8TensorCores: why ?? 'yes', date: new Date().toISOString() }));
  if (why && !quick) throw new Error(`int8-gemm: ${why}`);
  if (sweepMode) await sweep(ctx);
  else await compare(ctx);
  ctx.destroy();
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
