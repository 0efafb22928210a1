// Where the fused attention kernel's time goes, part by part, on a synthetic loop with its shape (the D = 128 table row:
// 8 subgroups of 16 query rows, key blocks of 32, Q fragments in registers, K/V tiles, score and probability scratch in
// workgroup memory), the way bench/mma-peak.ts decomposes the GEMM. Each stage adds one part to the previous one:
//   mma      per block and subgroup: S = Q·Kᵀ as 2 chains of 8 MMAs (K fragments from the K tile), S stored to the
//            score scratch, 2 P fragments loaded from the probability scratch, O += P·V (16 MMAs, V from the V tile);
//   softmax  + every lane reads its 16 scores, running max and sum over its row (2 lanes per row, shuffles), exp2,
//            16 probabilities written as f16;
//   barriers + the kernel's two workgroup syncs per block (after the scores; before P·V);
//   staging  + 4 16-byte stores per invocation into the K/V tiles (a block's K and V: 2 x 32 x 128 halves);
//   global   + those values loaded from global memory (L2-resident) at the start of the block, as the kernel prefetches.
// Three layouts of the same work (same MMAs and flops per subgroup; --layouts picks, default all):
//   single   the kernel's: subgroup g owns query rows 16g..16g+15 and all 128 output columns; every K and V fragment
//            feeds one MMA (34 fragment loads per 32 MMAs);
//   pairV    subgroups 2p, 2p+1 share rows 32p..32p+31: each computes its own 16 rows' scores as above, but P·V for
//            both row fragments and its half of the output columns, so each V fragment feeds 2 MMAs (28 loads);
//   pairKV   also the scores split by keys: each subgroup computes both row fragments' scores for its half of the
//            block's keys (Q fragments of 32 rows in registers, 16 instead of 8), so each K fragment feeds 2 MMAs too
//            (20 loads). The softmax's row mapping (row = 16 sg + lane / 2) is the same in all three.
// TFLOP/s counts 4 · 16 · 32 · 128 flops per subgroup and block (the attention convention). Output not checked
// (operands are hashed finite values); stored so nothing is dropped. Registers from the diagnostics layer (see
// bench/pipeline-stats.ts) when it runs.
//
// Usage (GPU machine; compile with the bench tsc line of docs/attention.md): node .bench-build/bench/attention-peak.js
//   [--out dir] [--layouts single,pairV,pairKV] [--emit FILE: write the stages' WGSL and stop]
import { mkdirSync, writeFileSync } from 'node:fs';
import { GpuContext } from '../src/gpu/context.js';
import { allocTensor, bindGroup, paramsBuffer, type KernelCall } from '../src/gpu/kernel.js';
import { sgLoad, sgStore, type SubgroupMatrixSyntax } from '../src/gpu/subgroup-matrix-syntax.js';
import { timeCalls } from '../src/gpu/timer.js';
import { markVariant, readDriverStats } from './lib/driver-stats.js';
import { FINITE_F16_MASK, fillWorkgroupWgsl } from './lib/synthetic-wgsl.js';

const STAGES = ['mma', 'softmax', 'barriers', 'staging', 'global'] as const;
type Stage = (typeof STAGES)[number];
const LAYOUTS = ['single', 'pairV', 'pairKV'] as const;
type Layout = (typeof LAYOUTS)[number];
const argv = process.argv.slice(2);
const outDir = argv.includes('--out') ? argv[argv.indexOf('--out') + 1] : 'results/tmp/attention-peak';
const layouts = (argv.includes('--layouts') ? argv[argv.indexOf('--layouts') + 1].split(',') : [...LAYOUTS]) as Layout[];
for (const l of layouts) if (!LAYOUTS.includes(l)) throw new Error(`--layouts: '${l}' is not one of ${LAYOUTS.join(', ')}`);

const LEFT = 'subgroup_matrix_left<f16, 16, 16>';
const RIGHT = 'subgroup_matrix_right<f16, 16, 16>';
const RESULT = 'subgroup_matrix_result<f32, 16, 16>';
const NSG = 8;
// Workgroup array W in vec4<u32> units: K tile (32 keys x 17 = 136 halves), V tile (same), scores (128 rows x 9 =
// 36 f32), probabilities (128 rows x 5 = 40 halves), and slack for the walking offsets below.
const KT = 0;
const VT = 544;
const ST = 1088;
const PT = 2240;
const WSIZE = 3008;

function attentionWgsl(layout: Layout, stage: Stage, SG: number, syntax?: SubgroupMatrixSyntax): string {
  const at = (s: Stage) => STAGES.indexOf(stage) >= STAGES.indexOf(s);
  const threads = NSG * SG;
  const range = (n: number) => Array.from({ length: n }, (_, i) => i);
  // The K/V fragment offsets walk 8 positions (2 vec4 = 16 halves along the head dim), so no load is loop-invariant.
  const walk = '(kb & 7u) * 2u';
  // pairKV: subgroup half h (= sg % 2) computes the pair's two row fragments r against key fragment h; q{r}_{k}
  // holds row fragment r (rows 32 (sg / 2) + 16 r), and one K fragment load feeds both MMAs.
  const scores = layout === 'pairKV' ? [
    ...range(2).map((r) => `    var s${r} = ${RESULT}();`),
    ...range(8).flatMap((k) => [
      `    { let kf = ${sgLoad(RIGHT, '&W', `${KT}u + half * ${16 * 17}u + ${2 * k}u + ${walk}`, true, '17u', syntax)};`,
      ...range(2).map((r) => `      s${r} = subgroupMatrixMultiplyAccumulate(q${r}_${k}, kf, s${r});`),
      '    }',
    ]),
    ...range(2).map((r) => `    ${sgStore('&W', `${ST}u + (pair * 32u + ${16 * r}u) * 9u + half * 4u`, `s${r}`, false, '9u', syntax)};`),
  ] : [
    ...range(2).map((n) => `    var s${n} = ${RESULT}();`),
    ...range(8).flatMap((k) => range(2).map((n) => `    s${n} = subgroupMatrixMultiplyAccumulate(q${k}, ${sgLoad(RIGHT, '&W', `${KT + 16 * n * 17 + 2 * k}u + ${walk}`, true, '17u', syntax)}, s${n});`)),
    ...range(2).map((n) => `    ${sgStore('&W', `${ST}u + sg * ${16 * 9}u + ${4 * n}u`, `s${n}`, false, '9u', syntax)};`),
  ];
  const softmax = at('softmax') ? `    {
      let r = ${ST}u + row * 9u + part * 4u;
      let x0 = bitcast<vec4<f32>>(W[r]); let x1 = bitcast<vec4<f32>>(W[r + 1u]);
      let x2 = bitcast<vec4<f32>>(W[r + 2u]); let x3 = bitcast<vec4<f32>>(W[r + 3u]);
      var mx = max(max(max(x0.x, x0.y), max(x0.z, x0.w)), max(max(x1.x, x1.y), max(x1.z, x1.w)));
      mx = max(mx, max(max(max(x2.x, x2.y), max(x2.z, x2.w)), max(max(x3.x, x3.y), max(x3.z, x3.w))));
      mx = max(mx, subgroupShuffleXor(mx, 1u));
      let mNew = max(m, mx);
      let e0 = exp2(x0 - vec4<f32>(mNew)); let e1 = exp2(x1 - vec4<f32>(mNew));
      let e2 = exp2(x2 - vec4<f32>(mNew)); let e3 = exp2(x3 - vec4<f32>(mNew));
      var sum = dot(e0 + e1 + e2 + e3, vec4<f32>(1.0));
      sum += subgroupShuffleXor(sum, 1u);
      l = l * exp2(m - mNew) + sum;
      m = mNew;
      let p = ${PT}u + row * 5u + part * 2u;
      W[p] = vec4<u32>(pack2x16float(e0.xy), pack2x16float(e0.zw), pack2x16float(e1.xy), pack2x16float(e1.zw));
      W[p + 1u] = vec4<u32>(pack2x16float(e2.xy), pack2x16float(e2.zw), pack2x16float(e3.xy), pack2x16float(e3.zw));
    }` : '';
  // A block's K and V: 2 x 32 x 128 halves = 1024 vec4 over the workgroup's invocations.
  const perThread = 1024 / threads;
  const kvStores = at('staging') ? range(perThread).map((i) => {
    const c = `(lid + ${i * threads}u)`;
    const value = at('global') ? `g${i}` : `vec4<u32>(kb + ${i}u)`;
    // chunk c: tile (K, V) = c / 512, key row = (c % 512) / 16, 16-byte column = c % 16.
    return `    W[select(${KT}u, ${VT}u, ${c} >= 512u) + ((${c} % 512u) / 16u) * 17u + ${c} % 16u] = ${value} & ${FINITE_F16_MASK};`;
  }) : [];
  const gLoads = at('global') ? range(perThread).map((i) => `    g${i} = SRC[(wid.x % 64u) * 32768u + (kb * 1024u + lid + ${i * threads}u) % 32768u];`) : [];
  // pair*: P of both row fragments, V fragments of this subgroup's half of the columns (4 of 8), each feeding 2 MMAs;
  // o{r}_{j} is row fragment r, column fragment 4 half + j.
  const pv = layout === 'single' ? range(2).flatMap((kk) => [
    `    let p${kk} = ${sgLoad(LEFT, '&W', `${PT}u + sg * ${16 * 5}u + ${2 * kk}u`, false, '5u', syntax)};`,
    ...range(8).map((j) => `    o${j} = subgroupMatrixMultiplyAccumulate(p${kk}, ${sgLoad(RIGHT, '&W', `${VT + 16 * kk * 17 + 2 * j}u + ${walk}`, false, '17u', syntax)}, o${j});`),
  ]) : range(2).flatMap((kk) => [
    ...range(2).map((r) => `    let p${r}_${kk} = ${sgLoad(LEFT, '&W', `${PT}u + (pair * 32u + ${16 * r}u) * 5u + ${2 * kk}u`, false, '5u', syntax)};`),
    ...range(4).flatMap((j) => [
      `    { let vf = ${sgLoad(RIGHT, '&W', `${VT + 16 * kk * 17}u + half * 8u + ${2 * j}u + ${walk}`, false, '17u', syntax)};`,
      ...range(2).map((r) => `      o${r}_${j} = subgroupMatrixMultiplyAccumulate(p${r}_${kk}, vf, o${r}_${j});`),
      '    }',
    ]),
  ]);
  const oNames = layout === 'single' ? range(8).map((j) => `o${j}`) : range(2).flatMap((r) => range(4).map((j) => `o${r}_${j}`));
  const qLoads = layout === 'pairKV'
    ? range(2).flatMap((r) => range(8).map((k) => `  let q${r}_${k} = ${sgLoad(LEFT, '&W', `${PT}u + (pair * 32u + ${16 * r}u) * 5u + ${(2 * k) % 4}u`, false, '5u', syntax)};`))
    : range(8).map((k) => `  let q${k} = ${sgLoad(LEFT, '&W', `${PT}u + sg * ${16 * 5}u + ${(2 * k) % 4}u`, false, '5u', syntax)};`);
  const sync = (what: string) => (at('barriers') ? `    workgroupBarrier();  // ${what}` : '');
  return `enable f16;
enable subgroups;
enable chromium_experimental_subgroup_matrix;
diagnostic(off, chromium.subgroup_matrix_uniformity);
struct Params { blocks: u32, pad0: u32, pad1: u32, pad2: u32 }
@group(0) @binding(0) var<storage, read_write> OUT: array<vec4<u32>>;
@group(0) @binding(1) var<uniform> P: Params;
${at('global') ? '@group(0) @binding(2) var<storage, read> SRC: array<vec4<u32>>;' : ''}
var<workgroup> W: array<vec4<u32>, ${WSIZE}>;
@compute @workgroup_size(${threads})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let sg = lid / ${SG}u;
  let lane = lid % ${SG}u;
  let row = sg * 16u + lane / 2u;
  let part = lane % 2u;
  let pair = sg / 2u;
  let half = sg % 2u;
  ${fillWorkgroupWgsl('W', WSIZE, threads)}
${qLoads.join('\n')}
${oNames.map((o) => `  var ${o} = ${RESULT}();`).join('\n')}
  var m = -1e30;
  var l = 0.0;
${range(gLoads.length).map((i) => `  var g${i} = vec4<u32>(0u);`).join('\n')}
  for (var kb = 0u; kb < P.blocks; kb++) {
${gLoads.join('\n')}
${scores.join('\n')}
${sync('the scores are stored; the previous block\'s V tile is read')}
${kvStores.join('\n')}
${softmax}
${sync('the probabilities and the next K/V tiles are stored')}
${pv.join('\n')}
  }
  let base = (wid.x * ${NSG}u + sg) * ${8 * 64 + 1}u;
${oNames.map((o, j) => `  ${sgStore('&OUT', `base + ${64 * j}u`, o, false, '4u', syntax)};`).join('\n')}
  if (lane == 0u) { OUT[base + 512u] = vec4<u32>(bitcast<u32>(m), bitcast<u32>(l), 0u, 0u); }
}
`;
}

if (argv.includes('--emit')) {
  writeFileSync(argv[argv.indexOf('--emit') + 1], layouts.flatMap((l) => STAGES.map((s) => attentionWgsl(l, s, 32))).join('\n=====\n'));
  process.exit(0);
}
mkdirSync(outDir, { recursive: true });
const ctx = await GpuContext.open({ robustness: false });
const SG = ctx.caps.subgroupMaxSize;
interface Row { layout: Layout; stage: Stage; ms: number; tflops: number; registers?: number | boolean }
const rows: Row[] = [];
try {
  const workgroups = 132 * 4;
  const blocks = 1024;
  const src = allocTensor(ctx, [64 * 32768 * 4], 'u32', 'src');
  const out = allocTensor(ctx, [workgroups * NSG * (8 * 64 + 1) * 4], 'u32', 'out');
  for (const layout of layouts) {
    for (const stage of STAGES) {
      const name = `${layout}:${stage}`;
      try {
        markVariant(name);
        const pipeline = await ctx.pipeline(`attention-peak:${name}`, attentionWgsl(layout, stage, SG, ctx.caps.subgroupMatrixSyntax));
        const call: KernelCall = {
          label: name, pipeline, bindGroup: bindGroup(ctx, pipeline, [out, paramsBuffer(ctx, [{ u32: blocks }]), ...(stage === 'global' ? [src] : [])]),
          workgroups: [workgroups, 1, 1], flops: workgroups * NSG * blocks * 4 * 16 * 32 * 128, bytes: 0,
        };
        const tm = await timeCalls(ctx, [call], { warmup: 2, reps: 7, inner: 1, busyMs: 150 });
        rows.push({ layout, stage, ms: tm.medianMs, tflops: call.flops / (tm.medianMs / 1e3) / 1e12 });
        console.log(`${name.padEnd(16)} ${tm.medianMs.toFixed(3)} ms ${rows.at(-1)!.tflops.toFixed(1)} TFLOP/s`);
      } catch (e) {
        console.log(`${name}: FAILED ${(e as Error).message.split('\n')[0]}`);
      }
    }
  }
} finally {
  const stats = readDriverStats();
  for (const r of rows) r.registers = stats.find((s) => s.variant === `${r.layout}:${r.stage}`)?.statistics['Register Count'];
  const md = [
    `# The attention loop part by part (${ctx.caps.adapterName}, ${new Date().toISOString()}, bench/attention-peak.ts)`, '',
    'D = 128, 8 subgroups, key blocks of 32; each stage adds one part to the previous; layouts in the file header.', '',
    '| layout | stage | registers | ms | TFLOP/s |', '|---|---|---:|---:|---:|',
    ...rows.map((r) => `| ${r.layout} | ${r.stage} | ${r.registers ?? ''} | ${r.ms.toFixed(3)} | ${r.tflops.toFixed(1)} |`),
  ];
  mkdirSync(outDir, { recursive: true });
  writeFileSync(`${outDir}/attention-peak.md`, md.join('\n') + '\n');
  writeFileSync(`${outDir}/attention-peak.json`, JSON.stringify({ date: new Date().toISOString(), adapter: ctx.caps.adapterName, rows }, null, 1));
  console.log(md.join('\n'));
  ctx.destroy();
}
