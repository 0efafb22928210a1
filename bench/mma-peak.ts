// The tensor-core rate Dawn's subgroup matrices reach on this device, without memory traffic: each subgroup holds
// fragM left and fragN right fragments and fragM x fragN accumulators and runs `iters` rounds of fragM x fragN
// independent MMAs (the GEMM kernel's inner loop with its loads taken out). Swept over the fragment config (f16
// 16x16x16 and 16x8x16, int8 16x16x32 and 16x8x32: what the H200 lists), the accumulators per subgroup and the
// subgroups per workgroup (warps per SM). Under the diagnostics layer (see bench/pipeline-stats.ts) the registers
// per invocation are joined from the driver. The modes below add the GEMM's other parts one at a time (fragment loads,
// barriers, staging stores, global loads), to see what each costs. Output is not checked (operands are hashed finite
// values in workgroup memory); it is stored so that no MMA can be dropped.
//
// Usage (GPU machine; compile with the bench tsc line of docs/attention.md): node .bench-build/bench/mma-peak.js [--out dir]
import { mkdirSync, writeFileSync } from 'node:fs';
import { GpuContext } from '../src/gpu/context.js';
import { allocTensor, bindGroup, paramsBuffer, type KernelCall, type TensorView } from '../src/gpu/kernel.js';
import { sgLoad, sgStore, type SubgroupMatrixSyntax } from '../src/gpu/subgroup-matrix-syntax.js';
import { timeCalls } from '../src/gpu/timer.js';
import { markVariant, readDriverStats } from './lib/driver-stats.js';
import { FINITE_F16_MASK, fillWorkgroupWgsl } from './lib/synthetic-wgsl.js';

interface Config { name: string; left: string; right: string; result: string; cols: number; opsPerMma: number }
const CONFIGS: Record<string, Config> = {
  f16x16: { name: 'f16 16x16x16', left: 'subgroup_matrix_left<f16, 16, 16>', right: 'subgroup_matrix_right<f16, 16, 16>', result: 'subgroup_matrix_result<f32, 16, 16>', cols: 16, opsPerMma: 2 * 16 * 16 * 16 },
  f16x8: { name: 'f16 16x8x16', left: 'subgroup_matrix_left<f16, 16, 16>', right: 'subgroup_matrix_right<f16, 8, 16>', result: 'subgroup_matrix_result<f32, 8, 16>', cols: 8, opsPerMma: 2 * 16 * 8 * 16 },
  i8x16: { name: 'int8 16x16x32', left: 'subgroup_matrix_left<i8, 32, 16>', right: 'subgroup_matrix_right<i8, 16, 32>', result: 'subgroup_matrix_result<i32, 16, 16>', cols: 16, opsPerMma: 2 * 16 * 16 * 32 },
  i8x8: { name: 'int8 16x8x32', left: 'subgroup_matrix_left<i8, 32, 16>', right: 'subgroup_matrix_right<i8, 8, 32>', result: 'subgroup_matrix_result<i32, 8, 16>', cols: 8, opsPerMma: 2 * 16 * 8 * 32 },
};

const argv = process.argv.slice(2);
const outDir = argv.includes('--out') ? argv[argv.indexOf('--out') + 1] : 'results/tmp/mma-peak';
mkdirSync(outDir, { recursive: true });

// 'reg': operands loaded once, only MMAs in the loop. 'smem': every round loads its fragments from workgroup memory
// (the GEMM's rows, 9 vec4 apart, at a K offset that walks 32 positions, so the loads cannot be hoisted out of the
// loop). 'barrier': and a workgroup barrier every 4 rounds (the GEMM's K step of 64 = 4 sub-steps). 'staged': and
// per 4 rounds what the GEMM's single-stage staging adds without its global loads: barrier, 8 16-byte stores per
// invocation (a 128x128x64 tile's A and B over 256 invocations), barrier.
// 'global': 'staged' with the stored values loaded from a storage buffer (L2-resident, 32 KiB per workgroup and K step
// like a 128x128x64 tile) at the start of the K step, as the GEMM prefetches them; 'global-late': loaded right
// before the stores (latency exposed), for comparison.
type Mode = 'reg' | 'smem' | 'barrier' | 'staged' | 'global' | 'global-late';
function wgsl(c: Config, fragM: number, fragN: number, nsg: number, mode: Mode, SG: number, syntax?: SubgroupMatrixSyntax): string {
  // Every fragment is read from one 32 KiB workgroup array of vec4<u32> (16 bytes per element). 'reg': once, before the
  // loop; rows of the left and columns of the right operand 32 bytes apart (16 halves / 32 int8). Other modes: in
  // every round, at the GEMM's row pitch (9 vec4) and a K offset that walks 32 positions. Accumulator rows: cols * 4 bytes.
  const sm = mode !== 'reg';
  const lOff = (i: number) => (sm ? `${i * 16 * 9}u + ((it * 2u) & 63u)` : `${i * 32}u`);
  const rOff = (j: number) => (sm ? `${576 + j * c.cols * 9}u + ((it * 2u) & 63u)` : `${128 + j * 32}u`);
  const threads = nsg * SG;
  const sync = mode === 'barrier' ? `    if ((it & 3u) == 3u) { workgroupBarrier(); }\n`
    : mode === 'staged' ? `    if ((it & 3u) == 3u) {
      workgroupBarrier();
${Array.from({ length: 8 }, (_, k) => `      W[1280u + (li + ${k * threads}u) % 768u] = vec4<u32>(it + ${k}u) & ${FINITE_F16_MASK};`).join('\n')}
      workgroupBarrier();
    }\n` : '';
  // Source index of load k of K step it / 4: 64 streams of 512 KiB (32768 vec4), one per workgroup modulo 64.
  const gLoads = Array.from({ length: 8 }, (_, k) => `g${k} = SRC[(wid.x % 64u) * 32768u + ((it >> 2u) * 2048u + li + ${k * threads}u) % 32768u];`);
  const gStores = Array.from({ length: 8 }, (_, k) => `W[1280u + (li + ${k * threads}u) % 768u] = g${k} & ${FINITE_F16_MASK};`);
  const glob = mode === 'global' || mode === 'global-late';
  const gsync = mode === 'global' ? `    if ((it & 3u) == 0u) {
      ${gLoads.join('\n      ')}
    }
    if ((it & 3u) == 3u) {
      workgroupBarrier();
      ${gStores.join('\n      ')}
      workgroupBarrier();
    }\n` : mode === 'global-late' ? `    if ((it & 3u) == 3u) {
      ${gLoads.join('\n      ')}
      workgroupBarrier();
      ${gStores.join('\n      ')}
      workgroupBarrier();
    }\n` : '';
  const stride = sm ? '9u' : '2u';
  const L = Array.from({ length: fragM }, (_, i) => `let a${i} = ${sgLoad(c.left, '&W', lOff(i), false, stride, syntax)};`);
  const R = Array.from({ length: fragN }, (_, j) => `let b${j} = ${sgLoad(c.right, '&W', rOff(j), true, stride, syntax)};`);
  const acc: string[] = [];
  const mma: string[] = [];
  const store: string[] = [];
  const rowVec = c.cols / 4; // accumulator row in vec4 elements
  for (let i = 0; i < fragM; i++) {
    for (let j = 0; j < fragN; j++) {
      const f = i * fragN + j;
      // Distinct initial values (different offsets), so no two accumulator chains are the same computation.
      acc.push(`var c${i}_${j} = ${sgLoad(c.result, '&W', `${(f * 4 * rowVec) % 192}u`, false, `${rowVec}u`, syntax)};`);
      mma.push(`    c${i}_${j} = subgroupMatrixMultiplyAccumulate(a${i}, b${j}, c${i}_${j});`);
      store.push(sgStore('&OUT', `base + ${f * 16 * rowVec}u`, `c${i}_${j}`, false, `${rowVec}u`, syntax) + ';');
    }
  }
  return `enable f16;
enable chromium_experimental_subgroup_matrix;
diagnostic(off, chromium.subgroup_matrix_uniformity);
struct Params { iters: u32, pad0: u32, pad1: u32, pad2: u32 }
@group(0) @binding(0) var<storage, read_write> OUT: array<vec4<u32>>;
@group(0) @binding(1) var<uniform> P: Params;
${glob ? '@group(0) @binding(2) var<storage, read> SRC: array<vec4<u32>>;' : ''}
var<workgroup> W: array<vec4<u32>, 2048>;
@compute @workgroup_size(${nsg * SG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) li: u32) {
  let sg = li / ${SG}u;
  let base = (wid.x * ${nsg}u + sg) * ${fragM * fragN * 16 * rowVec}u;
  ${fillWorkgroupWgsl('W', 2048, nsg * SG, 'li')}
  ${acc.join('\n  ')}
  ${glob ? Array.from({ length: 8 }, (_, k) => `var g${k} = vec4<u32>(0u);`).join('\n  ') : ''}
  ${sm ? '' : `${L.join('\n  ')}\n  ${R.join('\n  ')}`}
  for (var it = 0u; it < P.iters; it++) {
${sm ? `    ${L.join('\n    ')}\n    ${R.join('\n    ')}\n` : ''}${mma.join('\n')}
${sync}${gsync}
  }
  ${store.join('\n  ')}
}
`;
}

const variants: [keyof typeof CONFIGS, number, number, number, Mode?][] = [
  ['f16x16', 4, 2, 8, 'smem'], ['f16x16', 4, 2, 8, 'barrier'], ['f16x16', 4, 2, 8, 'staged'], ['f16x16', 4, 2, 16, 'smem'], ['f16x16', 4, 2, 16, 'staged'],
  ['f16x16', 4, 4, 8, 'smem'], ['f16x16', 4, 4, 8, 'staged'], ['f16x16', 2, 2, 16, 'smem'], ['f16x16', 2, 2, 16, 'staged'], ['f16x8', 4, 4, 8, 'smem'],
  ['i8x16', 4, 2, 8, 'smem'], ['i8x16', 4, 2, 8, 'staged'],
  ['f16x16', 4, 2, 8, 'global'], ['f16x16', 4, 2, 8, 'global-late'], ['i8x16', 4, 2, 8, 'global'], ['f16x16', 4, 4, 8, 'global'],
  ['f16x16', 4, 2, 8], ['f16x16', 4, 2, 4], ['f16x16', 4, 2, 16], ['f16x16', 2, 2, 8], ['f16x16', 2, 2, 16], ['f16x16', 2, 2, 32], ['f16x16', 4, 4, 8],
  ['f16x8', 4, 4, 8], ['f16x8', 4, 4, 16], ['f16x8', 4, 2, 16], ['f16x8', 4, 8, 8],
  ['i8x16', 4, 2, 8], ['i8x16', 4, 2, 16], ['i8x16', 2, 2, 16],
  ['i8x8', 4, 4, 8], ['i8x8', 4, 4, 16],
];
// --emit FILE: write every variant's WGSL (subgroup size 32, separated by '=====' lines) and stop (compile checks).
if (argv.includes('--emit')) {
  writeFileSync(argv[argv.indexOf('--emit') + 1], variants.map(([k, m, n, g, mode]) => wgsl(CONFIGS[k], m, n, g, mode ?? 'reg', 32)).join('\n=====\n'));
  process.exit(0);
}
const ctx = await GpuContext.open({ robustness: false });
const SG = ctx.caps.subgroupMaxSize;
const syntax = ctx.caps.subgroupMatrixSyntax;

interface Row { label: string; config: string; fragM: number; fragN: number; nsg: number; workgroups: number; ms: number; tops: number; registers?: number | boolean }
const rows: Row[] = [];
const SMS = 132; // H200; more workgroups than SMs x residency either way
// The 'global' modes' source: 64 x 512 KiB of pseudo-random words, made once.
let srcTensor: TensorView | undefined;
const src = (): TensorView => (srcTensor ??= allocTensor(ctx, [64 * 32768 * 4], 'u32', 'src'));
try {
  for (const [cfgKey, fragM, fragN, nsg, mode = 'reg'] of variants) {
    const c = CONFIGS[cfgKey];
    const how = {
      reg: '', smem: ', fragments from workgroup memory', barrier: ', + a barrier per 4 rounds', staged: ', + staging stores and 2 barriers per 4 rounds',
      global: ', + staging of prefetched global loads', 'global-late': ', + staging of global loads issued before the stores',
    }[mode];
    const label = `${c.name} ${fragM}x${fragN} fragments, ${nsg} subgroups${how}`;
    try {
      markVariant(label);
      const pipeline = await ctx.pipeline(`mma-peak:${cfgKey}:${fragM}x${fragN}:${nsg}:${mode}`, wgsl(c, fragM, fragN, nsg, mode, SG, syntax));
      const workgroups = SMS * Math.max(2, 32 / nsg) * 2;
      const iters = 2048;
      const out = allocTensor(ctx, [workgroups * nsg * fragM * fragN * 16 * c.cols], 'f32', 'out');
      const glob = mode === 'global' || mode === 'global-late';
      const call: KernelCall = {
        label, pipeline, bindGroup: bindGroup(ctx, pipeline, [out, paramsBuffer(ctx, [{ u32: iters }]), ...(glob ? [src()] : [])]),
        workgroups: [workgroups, 1, 1], flops: workgroups * nsg * fragM * fragN * iters * c.opsPerMma, bytes: 0,
      };
      const tm = await timeCalls(ctx, [call], { warmup: 2, reps: 7, inner: 1, busyMs: 150 });
      const row: Row = { label, config: c.name, fragM, fragN, nsg, workgroups, ms: tm.medianMs, tops: call.flops / (tm.medianMs / 1e3) / 1e12 };
      rows.push(row);
      console.log(`${label.padEnd(46)} ${row.ms.toFixed(3)} ms ${row.tops.toFixed(1).padStart(7)} TFLOP/s (TOP/s int8)`);
      out.buffer.destroy();
    } catch (e) {
      console.log(`${label}: FAILED ${(e as Error).message.split('\n')[0]}`);
    }
  }
} finally {
  const stats = readDriverStats();
  for (const r of rows) r.registers = stats.find((s) => s.variant === r.label)?.statistics['Register Count'];
  const md = [
    `# Tensor-core rate without memory traffic (${ctx.caps.adapterName}, ${new Date().toISOString()}, bench/mma-peak.ts)`, '',
    '| variant | registers | ms | TFLOP/s (int8: TOP/s) |', '|---|---:|---:|---:|',
    ...rows.map((r) => `| ${r.label} | ${r.registers ?? ''} | ${r.ms.toFixed(3)} | ${r.tops.toFixed(1)} |`),
  ];
  writeFileSync(`${outDir}/mma-peak.md`, md.join('\n') + '\n');
  writeFileSync(`${outDir}/mma-peak.json`, JSON.stringify({ date: new Date().toISOString(), adapter: ctx.caps.adapterName, rows }, null, 1));
  console.log(md.join('\n'));
  ctx.destroy();
}
