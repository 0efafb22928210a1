// Autotunes the tensor-core linear kernel on this device and writes the per-device tile table.
//
// Shapes: the FLUX.1 linears at 1024^2 (M = 4608 = 4096 image + 512 text tokens) and at 512^2 (M = 1536), with
// K/N = 3072/3072 (attention proj), 3072/9216 (qkv), 3072/12288 (MLP up), 12288/3072 (MLP down), 15360/3072
// (single-block proj_out). Every variant's output is checked on 12x12 sampled elements against a float64 dot
// product of the same f16 inputs (NaN-poisoned output first); a variant over MAX_REL_ERR is never chosen.
//
// Search, within a time budget (MATMUL_TUNE_BUDGET_S, default 150 s, or --budget S):
//   1. screen: every variant of the grid (variants() below, most promising first) on three screening shapes with
//      few timing samples (stops at SCREEN_FRACTION of the budget);
//   2. finals: the best variants of the screen (by geometric mean and per screening shape) + the built-in default
//      on every shape with full samples, plus split-K variants at the M = 1536 shapes;
//   3. table: per shape the fastest checked variant; the entry default = best geometric mean over all shapes;
//      written as matmul-tile-table.json (for DIT_MATMUL_TILE_TABLE) and matmul-tile-table.ts (a drop-in for
//      src/kernels-wgsl/matmul-tile-table.ts, with the committed entries of other devices kept);
//   4. verify: linear() with the new table through DIT_MATMUL_TILE_TABLE at every shape, checked and timed.
// Partial results are written after every phase, so a cut run still leaves a table.
// Also writes torch-spec.json for bench/reference/kernels_ref.py (PyTorch F.linear, same shapes, same run).
//
// Build and run (GPU machine, after `source .gpu/env.sh`; scripts/gpu-speed.sh does this):
//   node node_modules/typescript/bin/tsc --outDir results/tmp/bench-build --rootDir . --module nodenext \
//     --moduleResolution nodenext --target es2022 --lib es2023 --types node,@webgpu/types --skipLibCheck bench/matmul-tune.ts
//   node results/tmp/bench-build/bench/matmul-tune.js --out DIR [--quick] [--robustness] [--budget S]
// --quick: toy shapes and 3 variants run through the CPU emulation of the subgroup-matrix builtins on adapters
// without them (lavapipe): a dry run of the whole flow (timings meaningless, minutes of shader compiles).
import { mkdirSync, writeFileSync } from 'node:fs';
import { GpuContext } from '../src/gpu/context.js';
import { timeCalls } from '../src/gpu/timer.js';
import { runCalls, type KernelCall } from '../src/gpu/kernel.js';
import {
  defaultSgTiling, linear, linearCalls, linearWithTiling, TILE_TABLE_ENV, type GemmTuning, type LinearArgs, type SgAblation, type SgTiling,
} from '../src/kernels-wgsl/matmul.js';
import { F16_LINEAR_SPEC } from '../src/kernels-wgsl/matmul-epilogue.wgsl.js';
import { sgLoopNameParts, sgTileShape, sgTilingProblem, sgWantsVecOut, sgWorkgroupBytes, subgroupMatrixMatmulWgsl } from '../src/kernels-wgsl/matmul-subgroup-matrix.wgsl.js';
import { TILE_TABLE, type TableTiling, type TileTable, type TileTableEntry, type TileTableShape } from '../src/kernels-wgsl/matmul-tile-table.js';
import { emulateSubgroupMatrix } from '../src/kernels-wgsl/matmul-emulate.js';
import { linearOperands, type LinearOperands } from './lib/linear-operands.js';
import { tileTableModule, withDeviceEntry } from './lib/tile-table-file.js';

const argv = process.argv.slice(2);
const flag = (name: string) => (argv.includes(name) ? argv[argv.indexOf(name) + 1] : undefined);
const outDir = flag('--out') ?? 'results/tmp/matmul-tune';
const quick = argv.includes('--quick');
const robustness = argv.includes('--robustness');
// --ablate PARTS: first time the default tiling (f16 and vec4 staging arrays) with parts of its main loop left out
// (SgAblation; outputs wrong, not checked), 'none' (as is) and 'k4x' (as is at 4x K), to split its time into MMA,
// fragment loads, staging, barriers and epilogue (docs/matmul.md). PARTS: comma list, default all.
// --ablate-only: stop after that. (One process per part is safer: an ablated kernel that fails to build or run
// loses that part only; on the H200 'no-global' once took the sweep with it, before its bindings were kept.)
const ABLATE_PARTS = ['none', 'no-global', 'no-stage', 'no-barrier', 'mma-only', 'k4x'] as const;
const ablateArg = argv.includes('--ablate') ? (flag('--ablate')?.startsWith('--') ? undefined : flag('--ablate')) ?? ABLATE_PARTS.join(',') : '';
const ablateParts = ablateArg ? ablateArg.split(',') : [];
for (const p of ablateParts) if (!(ABLATE_PARTS as readonly string[]).includes(p)) throw new Error(`matmul-tune: --ablate ${p}: parts are ${ABLATE_PARTS.join(', ')}`);
const ablateOnly = argv.includes('--ablate-only');
const budgetS = Number(flag('--budget') ?? process.env.MATMUL_TUNE_BUDGET_S ?? 150);
if (!(budgetS > 0)) throw new Error(`matmul-tune: budget must be a positive number of seconds (--budget or MATMUL_TUNE_BUDGET_S), got ${budgetS}`);
const SCREEN_FRACTION = 0.55;
const MAX_REL_ERR = 5e-3; // f16 output rounding gives ~2e-4
mkdirSync(outDir, { recursive: true });

interface Shape { name: string; M: number; K: number; N: number }
const FLUX_KN: [string, number, number][] = [
  ['proj', 3072, 3072], ['qkv', 3072, 9216], ['mlp_up', 3072, 12288], ['mlp_down', 12288, 3072], ['single_out', 15360, 3072],
];
const SHAPES: Shape[] = quick
  ? [{ name: 'quick-a', M: 96, K: 64, N: 128 }, { name: 'quick-b', M: 40, K: 96, N: 64 }]
  : [4608, 1536].flatMap((M) => FLUX_KN.map(([n, K, N]) => ({ name: `flux${M === 4608 ? 1024 : 512}.${n}`, M, K, N })));
const SCREEN = quick ? [SHAPES[0]] : [SHAPES[2], SHAPES[3], SHAPES[5]]; // 4608 mlp_up, 4608 mlp_down, 1536 proj

/** A tiling's short name: tile, subgroups x fragments, staging, K step, stages, and non-default extras. */
function nameOf(t: SgTiling): string {
  const { BM, BN } = sgTileShape(t);
  let s = `${BM}x${BN} ${t.sgM}x${t.sgN}sg ${t.fragM}x${t.fragN}fr ${t.staging} bk${t.bk} ${t.stages ?? 2}st`;
  if ((t.pad ?? 8) !== 8) s += ` pad${t.pad}`;
  if (t.groupM !== 8) s += ` gM${t.groupM}`;
  if ((t.splitK ?? 1) > 1) s += ` splitK${t.splitK}`;
  if (t.vecSmem) s += ' vec';
  // 16-byte output stores: the launcher's default (<= 8 fragments per subgroup) unless the tiling says otherwise.
  if (t.vecSmem && t.staging !== 'direct' && sgWantsVecOut(t)) s += ' vo';
  return s + sgLoopNameParts(t);
}

/**
 * The variant grid, most promising first (a cut screen loses the tail). Axes: workgroup tile 64x128..256x128,
 * 4/8/16 subgroups, 2x2..4x4 fragments per subgroup, staging (both operands through workgroup memory, or only A
 * with B fragments from storage), K step 32/64/128, 1 or 2 smem stages, row padding, tile-order swizzle. Filtered
 * by the adapter's workgroup memory and invocation limits.
 */
function variants(ctx: GpuContext): SgTiling[] {
  const sg = ctx.caps.subgroupMaxSize;
  const lim = ctx.caps.limits.maxComputeWorkgroupStorageSize;
  const maxThreads = ctx.caps.limits.maxComputeInvocationsPerWorkgroup;
  if (quick) {
    // Emulated on CPU: tiny tilings (the emulation runs every lane's fragment math), three axes exercised.
    const b: SgTiling = { sgM: 1, sgN: 2, fragM: 1, fragN: 1, bk: 16, staging: 'staged', groupM: 2, subgroupSize: sg };
    return [b, { ...b, staging: 'stageA', bk: 32, pad: 16 }];
  }
  type Tile = [number, number, number, number]; // sgM, sgN, fragM, fragN
  const tiles: Record<string, Tile> = {
    A: [2, 4, 4, 2], // 128x128, 8 warps of 64x32 (the default's)
    E: [2, 4, 4, 4], // 128x256, 8 warps of 64x64
    F: [4, 2, 4, 4], // 256x128, 8 warps of 64x64
    B: [4, 2, 2, 4], // 128x128, 8 warps of 32x64
    G: [2, 8, 4, 2], // 128x256, 16 warps of 64x32
    H: [4, 4, 4, 2], // 256x128, 16 warps of 64x32
    D: [4, 4, 2, 2], // 128x128, 16 warps of 32x32
    C: [2, 2, 4, 4], // 128x128, 4 warps of 64x64
    K: [2, 4, 2, 2], // 64x128, 8 warps (small shapes: more tiles)
    L: [4, 2, 2, 2], // 128x64, 8 warps
    J: [2, 2, 2, 4], // 64x128, 4 warps
  };
  type Cfg = Pick<SgTiling, 'staging' | 'bk' | 'stages'>;
  const cfgs: Record<string, Cfg> = {
    s64x1: { staging: 'staged', bk: 64, stages: 1 },
    s80x1: { staging: 'staged', bk: 80, stages: 1 },
    s48x1: { staging: 'staged', bk: 48, stages: 1 },
    a64x2: { staging: 'stageA', bk: 64, stages: 2 },
    a64x1: { staging: 'stageA', bk: 64, stages: 1 },
    a128x1: { staging: 'stageA', bk: 128, stages: 1 },
    s32x2: { staging: 'staged', bk: 32, stages: 2 },
    a32x2: { staging: 'stageA', bk: 32, stages: 2 },
    s32x1: { staging: 'staged', bk: 32, stages: 1 },
  };
  const mk = (tile: string, cfg: string, extra: Partial<SgTiling> = {}): SgTiling => {
    const [sgM, sgN, fragM, fragN] = tiles[tile];
    return { sgM, sgN, fragM, fragN, groupM: 8, subgroupSize: sg, ...cfgs[cfg], ...extra };
  };
  // Hand-ordered head (expected best first), then the rest of the tile x config grid. vec4<u32> staging arrays
  // (one 16-byte store per staged chunk; the epilogue reuses the array, so no separate scratch) lead: on the H200
  // (2026-11-30, fourth session) they took the default tiling from 153 to 206 TFLOP/s; freed of the 8 KiB
  // scratch, K step 80 at 128x128 and K step 48 at 128x256 / 256x128 fit too.
  const vec = { vecSmem: true };
  const head: SgTiling[] = [
    defaultSgTiling(sg, lim), // vec4 arrays
    // 16-byte output stores forced on for the 4x4-fragment tiles (off by default there) and off for a 4x2 one.
    mk('E', 's48x1', { ...vec, vecOut: true }), mk('F', 's48x1', { ...vec, vecOut: true }), mk('A', 's80x1', { ...vec, vecOut: false }),
    mk('A', 's80x1', vec), mk('E', 's48x1', vec), mk('F', 's48x1', vec), mk('B', 's80x1', vec), mk('B', 's64x1', vec),
    mk('G', 's48x1', vec), mk('H', 's48x1', vec), mk('C', 's64x1', vec), mk('A', 's64x1', { ...vec, groupM: 16 }),
    mk('E', 's32x1', vec), mk('F', 's32x1', vec), mk('K', 's64x1', vec), mk('L', 's64x1', vec), mk('K', 's80x1', vec),
    defaultSgTiling(sg, lim, false), // the f16-array kernel of the earlier runs, for reference
    mk('H', 's32x1', vec), mk('A', 's32x2', vec), mk('G', 's32x1', vec), mk('D', 's32x1', vec), mk('C', 's32x2', vec),
    mk('A', 'a64x2'), mk('E', 'a64x2'), mk('E', 'a64x1'), mk('F', 'a64x1'), mk('A', 'a128x1'), mk('G', 'a64x1'),
    mk('H', 'a64x1'), mk('E', 's32x1'), mk('F', 's32x1'), mk('B', 'a64x2'), mk('D', 's32x1'), mk('G', 's32x1'),
    mk('A', 's64x1', { pad: 16 }), mk('A', 's64x1', { groupM: 16 }), mk('A', 'a64x2', { groupM: 4 }),
    // Main-loop forms that lost on the H200 (ninth session, docs/matmul.md "Where the GEMM loses"), kept for other
    // devices: straight-line K loop, rolled K sub-steps, no register prefetch, prefetch two K steps ahead.
    mk('A', 's64x1', { ...vec, branchFree: true }), mk('H', 's32x1', { ...vec, branchFree: true }), mk('A', 's64x1', { ...vec, rollK: true }),
    mk('A', 's64x1', { ...vec, prefetch: false }), mk('A', 's64x1', { ...vec, prefetchDepth: 2 }), mk('A', 's64x1', { ...vec, rollK: true, rollKStep: 2 }),
  ];
  const all: SgTiling[] = [...head];
  for (const tile of Object.keys(tiles)) for (const cfg of Object.keys(cfgs)) all.push(mk(tile, cfg));
  const seen = new Set<string>();
  return all.filter((t) => {
    const key = nameOf(t);
    if (seen.has(key)) return false;
    seen.add(key);
    return !sgTilingProblem(t) && sgWorkgroupBytes(t, 'nk') <= lim && sgTileShape(t).threads <= maxThreads;
  });
}

type ShapeData = LinearOperands & { s: Shape };

interface Row {
  phase: 'screen' | 'final' | 'split' | 'verify' | 'portable' | 'ablate';
  shape: string; M: number; K: number; N: number;
  variant: string; tiling?: SgTiling;
  ms?: number; tflops?: number; relErr?: number; error?: string;
}

const t0 = performance.now();
const elapsed = () => (performance.now() - t0) / 1000;

async function main() {
  const ctx = await GpuContext.open({ robustness });
  const caps = ctx.caps;
  const emulate = !caps.tensorCores;
  if (emulate && !quick) {
    throw new Error(`matmul-tune: adapter '${caps.adapterName}' has no f16 subgroup matrices; run with --quick for an emulated dry run, or on a GPU`);
  }
  const info = {
    adapter: caps.adapterName, vendor: caps.vendor, architecture: caps.architecture, robustness,
    tensorCores: caps.tensorCores, emulated: emulate, subgroup: caps.subgroupMaxSize,
    maxWorkgroupBytes: caps.limits.maxComputeWorkgroupStorageSize, budgetS, date: new Date().toISOString(),
  };
  console.log(JSON.stringify(info));
  const transform = emulate ? { name: 'emulated', fn: emulateSubgroupMatrix } : undefined;
  const rows: Row[] = [];
  // MATMUL_TUNE_MAX_VARIANTS caps the grid (its head is kept): dry runs, or a re-run with little GPU time.
  const maxVariants = Number(process.env.MATMUL_TUNE_MAX_VARIANTS ?? Infinity);
  const vs = variants(ctx).slice(0, maxVariants > 0 ? maxVariants : undefined);
  console.log(`${vs.length} variants in the grid; ${SHAPES.length} shapes; budget ${budgetS} s`);
  writeFileSync(`${outDir}/default-kernel.wgsl`, subgroupMatrixMatmulWgsl(F16_LINEAR_SPEC, defaultSgTiling(caps.subgroupMaxSize, caps.limits.maxComputeWorkgroupStorageSize), { syntax: caps.subgroupMatrixSyntax }));
  // Same shapes for the PyTorch reference (F.linear, f16), written first so a cut run still has it.
  writeFileSync(`${outDir}/torch-spec.json`, JSON.stringify(SHAPES.map((s) => ({ id: s.name, op: 'linear', shape: { M: s.M, K: s.K, N: s.N } }))));

  const data = new Map<Shape, ShapeData>();
  async function shapeData(s: Shape): Promise<ShapeData> {
    let d = data.get(s);
    if (d) return d;
    d = { s, ...(await linearOperands(ctx, s.M, s.K, s.N)) };
    data.set(s, d);
    return d;
  }

  const dump = () => {
    writeFileSync(`${outDir}/matmul-tune.json`, JSON.stringify({ ...info, elapsedS: elapsed(), rows }, null, 1));
  };

  /** Builds, checks and times one variant at one shape. tiling undefined = linear() as is (table / default / portable). */
  async function evaluate(phase: Row['phase'], s: Shape, tiling: SgTiling | undefined, timing: { reps: number; warmup: number }, label?: string, ablate?: SgAblation): Promise<Row> {
    const d = await shapeData(s);
    const row: Row = { phase, shape: s.name, M: s.M, K: s.K, N: s.N, variant: label ?? (tiling ? nameOf(tiling) + (ablate ? ` [${ablate}]` : '') : 'linear()'), tiling };
    rows.push(row);
    try {
      const args: LinearArgs = { x: d.x, w: d.w, out: d.out };
      let calls: KernelCall[];
      if (phase === 'portable') calls = [await linear(ctx, { ...args, path: 'tiled' })];
      else if (tiling) {
        const tuning: GemmTuning = { tiling, transform, ablate };
        calls = (tiling.splitK ?? 1) > 1 ? await linearCalls(ctx, args, tuning) : [await linearWithTiling(ctx, args, tuning)];
      } else calls = [await linear(ctx, args)]; // what graph ops run (single dispatch: split-K entries are not used)
      ctx.fill(d.out.buffer, 0x7e007e00);
      await runCalls(ctx, calls);
      row.relErr = ablate ? NaN : await d.check.relErr(d.out); // an ablated kernel's output is wrong by design
      if (!ablate && !(row.relErr <= MAX_REL_ERR)) throw new Error(`wrong output: sampled rel. L2 error ${row.relErr} > ${MAX_REL_ERR}`);
      const flops = 2 * s.M * s.N * s.K;
      const inner = quick ? 1 : flops > 5e11 ? 2 : 4;
      // busyMs: the compile and the float64 check above leave the GPU idle; bring its clocks back first (timer.ts).
      const tm = await timeCalls(ctx, calls, { warmup: timing.warmup, reps: timing.reps, inner, busyMs: quick ? 0 : 150 });
      row.ms = tm.medianMs;
      row.tflops = flops / (tm.medianMs / 1000) / 1e12;
    } catch (e) {
      row.error = String((e as Error).message).split('\n').slice(0, 3).join(' ').slice(0, 600);
    }
    console.log(`[${elapsed().toFixed(0).padStart(4)}s] ${phase.padEnd(7)} ${s.name.padEnd(18)} ${row.variant.padEnd(48)} ` +
      (row.error ? `ERROR ${row.error.slice(0, 160)}` : `${row.ms!.toFixed(3)} ms ${row.tflops!.toFixed(1)} TFLOP/s err ${row.relErr!.toExponential(1)}`));
    return row;
  }

  const screenTiming = quick ? { reps: 2, warmup: 1 } : { reps: 5, warmup: 2 };
  const finalTiming = quick ? { reps: 3, warmup: 1 } : { reps: 10, warmup: 3 };
  const budget = (fraction: number) => elapsed() < budgetS * fraction;

  // 0. Ablations (timing decomposition of the default tiling; --ablate).
  if (ablateParts.length) {
    const base = defaultSgTiling(caps.subgroupMaxSize, caps.limits.maxComputeWorkgroupStorageSize);
    const s0 = SCREEN[0];
    const long: Shape = { name: `${s0.name}.k4x`, M: s0.M, K: s0.K * 4, N: s0.N };
    // f16 staging arrays, then vec4 ones (the default since the fourth session: defaultSgTiling's base has them).
    for (const t of quick ? [base] : [{ ...base, vecSmem: false }, { ...base, vecSmem: true }]) {
      for (const p of ablateParts) {
        if (p === 'k4x') await evaluate('ablate', long, t, screenTiming);
        else await evaluate('ablate', s0, t, screenTiming, undefined, p === 'none' ? undefined : p as SgAblation);
      }
    }
    dump();
    if (ablateOnly) {
      writeFileSync(`${outDir}/matmul-tune.md`, markdown(info, rows, []));
      ctx.destroy();
      return;
    }
  }

  // 1. Screen.
  const screened: { t: SgTiling; tf: (number | undefined)[] }[] = [];
  for (const t of vs) {
    if (!budget(SCREEN_FRACTION)) {
      console.log(`screen stopped at ${elapsed().toFixed(0)} s (budget): ${vs.length - screened.length} variants not screened`);
      break;
    }
    const tf: (number | undefined)[] = [];
    for (const s of SCREEN) {
      const r = await evaluate('screen', s, t, screenTiming);
      tf.push(r.tflops);
      if (r.error) break; // a variant that fails once is out
    }
    screened.push({ t, tf });
  }
  dump();
  const geo = (xs: (number | undefined)[]) => (xs.every((x) => x !== undefined && x > 0)
    ? Math.exp(xs.reduce((acc: number, x) => acc + Math.log(x as number), 0) / xs.length) : 0);
  const ok = screened.filter((v) => v.tf.length === SCREEN.length && geo(v.tf) > 0);
  const byGeo = [...ok].sort((a, b) => geo(b.tf) - geo(a.tf));
  const finalists = new Map<string, SgTiling>();
  const add = (t: SgTiling) => finalists.set(nameOf(t), t);
  // The built-in default always reaches the finals (the table records the gain over it); not in the emulated dry
  // run, where every extra pipeline costs minutes of lavapipe compile.
  if (!quick) add(defaultSgTiling(caps.subgroupMaxSize, caps.limits.maxComputeWorkgroupStorageSize));
  byGeo.slice(0, quick ? 2 : 5).forEach((v) => add(v.t));
  SCREEN.forEach((_, i) => [...ok].sort((a, b) => b.tf[i]! - a.tf[i]!).slice(0, 2).forEach((v) => add(v.t)));
  console.log(`finalists: ${[...finalists.keys()].join(' | ')}`);

  // 2. Finals on every shape (largest first: they matter most for the step time), then split-K at small M.
  const finalRows = new Map<string, Map<string, Row>>(); // shape -> variant -> row
  for (const s of SHAPES) finalRows.set(s.name, new Map());
  for (const s of SHAPES) {
    for (const [name, t] of finalists) {
      if (!budget(0.92)) break;
      finalRows.get(s.name)!.set(name, await evaluate('final', s, t, finalTiming));
    }
  }
  dump();
  const splitRows = new Map<string, Row>(); // shape -> best split row
  const bestOf = (m: Map<string, Row>) => [...m.values()].filter((r) => r.tflops).sort((a, b) => b.tflops! - a.tflops!)[0];
  for (const s of SHAPES.filter((x) => x.M <= 2048).slice(0, quick ? 1 : undefined)) {
    const best = bestOf(finalRows.get(s.name)!);
    if (!best?.tiling) continue;
    for (const k of quick ? [2] : [2, 3]) {
      if (!budget(0.95)) break;
      const r = await evaluate('split', s, { ...best.tiling, splitK: k }, finalTiming);
      if (r.tflops && (!splitRows.get(s.name) || r.tflops > splitRows.get(s.name)!.tflops!)) splitRows.set(s.name, r);
    }
  }

  // 3. The table entry for this device.
  const defName = nameOf(defaultSgTiling(caps.subgroupMaxSize, caps.limits.maxComputeWorkgroupStorageSize));
  const strip = (t: SgTiling): TableTiling => {
    const { subgroupSize: _sg, ...rest } = t;
    return rest;
  };
  const shapes: TileTableShape[] = [];
  for (const s of SHAPES) {
    const best = bestOf(finalRows.get(s.name)!);
    if (!best?.tiling) continue;
    const e: TileTableShape = { M: s.M, N: s.N, K: s.K, tiling: strip(best.tiling), tflops: round(best.tflops!) };
    const dr = finalRows.get(s.name)!.get(defName);
    if (dr?.tflops) e.defaultTflops = round(dr.tflops);
    const sp = splitRows.get(s.name);
    if (sp?.tflops && sp.tiling && sp.tflops > best.tflops!) e.split = { tiling: strip(sp.tiling), tflops: round(sp.tflops) };
    shapes.push(e);
  }
  let entryDefault: TableTiling | undefined;
  let bestGeo = 0;
  for (const [name, t] of finalists) {
    const tf = SHAPES.map((s) => finalRows.get(s.name)!.get(name)?.tflops);
    const g = geo(tf);
    if (g > bestGeo) [bestGeo, entryDefault] = [g, strip(t)];
  }
  const entry: TileTableEntry = {
    device: { vendor: caps.vendor, ...(caps.architecture ? { architecture: caps.architecture } : {}) },
    subgroupSize: caps.subgroupMaxSize,
    measured: info.date,
    source: `bench/matmul-tune.ts on '${caps.adapterName}'${emulate ? ' (EMULATED dry run: do not commit)' : ''}, robustness ${robustness ? 'on' : 'off'}, budget ${budgetS} s`,
    ...(entryDefault ? { default: entryDefault } : {}),
    shapes,
  };
  const table = withDeviceEntry(TILE_TABLE, entry);
  const jsonPath = `${outDir}/matmul-tile-table.json`;
  writeFileSync(jsonPath, JSON.stringify(table, null, 1));
  writeFileSync(`${outDir}/matmul-tile-table.ts`, tableModule(table));
  console.log(`wrote ${jsonPath} and matmul-tile-table.ts (${shapes.length} shapes)`);

  // 4. Verify: linear() picks the new table's tiling through the environment override; checked and timed.
  // (On an emulated dry run linear() takes the portable path: this only exercises the flow.)
  process.env[TILE_TABLE_ENV] = jsonPath;
  for (const s of SHAPES) {
    if (elapsed() > budgetS * 1.02) break;
    await evaluate('verify', s, undefined, finalTiming, 'linear() with the new table');
  }
  dump();
  writeFileSync(`${outDir}/matmul-tune.md`, markdown(info, rows, shapes));
  console.log(`done in ${elapsed().toFixed(0)} s; wrote ${outDir}/matmul-tune.{json,md}`);
  ctx.destroy();
}

const round = (x: number) => Math.round(x * 10) / 10;

/** The drop-in src/kernels-wgsl/matmul-tile-table.ts for `table`. */
function tableModule(table: TileTable): string {
  return tileTableModule(table, { path: 'src/kernels-wgsl/matmul-tile-table.ts', constName: 'TILE_TABLE', doc: 'The committed table, written by bench/matmul-tune.ts.', tool: 'matmul-tune' });
}

function markdown(info: object, rows: Row[], shapes: TileTableShape[]): string {
  const lines = [JSON.stringify(info), '', '## Chosen per shape', '', '| shape M K N | chosen | TFLOP/s | default TFLOP/s | gain | split-K |', '|---|---|---:|---:|---:|---|'];
  for (const s of shapes) {
    const gain = s.defaultTflops ? (s.tflops! / s.defaultTflops).toFixed(2) : '-';
    lines.push(`| ${s.M} ${s.K} ${s.N} | ${nameOf({ ...s.tiling, subgroupSize: 0 })} | ${s.tflops} | ${s.defaultTflops ?? '-'} | ${gain} | ${s.split ? `${nameOf({ ...s.split.tiling, subgroupSize: 0 })} ${s.split.tflops}` : '-'} |`);
  }
  lines.push('', '## Every measurement', '', '| phase | shape | variant | ms | TFLOP/s | sampled rel err |', '|---|---|---|---:|---:|---:|');
  for (const r of rows) {
    lines.push(`| ${r.phase} | ${r.shape} | ${r.variant} | ${r.ms?.toFixed(3) ?? '-'} | ${r.tflops?.toFixed(1) ?? (r.error ? `error: ${r.error.slice(0, 80)}` : '-')} | ${r.relErr?.toExponential(1) ?? '-'} |`);
  }
  return `${lines.join('\n')}\n`;
}

await main();
