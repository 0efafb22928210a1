// Attention benchmark for the GPU machine (not a unit test): FLUX shapes B=1, H=24, D=128 at 1024+512,
// 4096+512 and 16384+512 tokens and the SD3 shape D=64, S=4096+333, robustness off, median of >= 10 timed reps
// (GPU timestamps when available), every variant's output spot-checked against a float64 CPU reference on
// sampled rows.
// Build and run (repo root): npx tsc test/kernels/attention-bench.ts --outDir dist-attn --module NodeNext
//   --moduleResolution NodeNext --target ES2022 --types node,@webgpu/types --skipLibCheck
//   && node dist-attn/test/kernels/attention-bench.js [outDir]
import { writeFileSync } from 'node:fs';
import { GpuContext } from '../../src/gpu/context.js';
import { type AttentionArgs, attention } from '../../src/kernels-wgsl/attention.js';
import { type KernelCall, type TensorView, allocTensor, encodeCalls } from '../../src/gpu/kernel.js';
import { f16BitsToF32, f32ToF16Bits } from '../../src/util/f16.js';

const outDir = process.argv[2] ?? '.';
// ATTN_BENCH_SHAPES / ATTN_BENCH_H: small smoke runs on lavapipe.
const H = Number(process.env.ATTN_BENCH_H ?? 24);
// ATTN_BENCH_SHAPES: comma-separated S or S:D entries (D defaults to 128).
const SHAPES: { S: number; D: number }[] = (process.env.ATTN_BENCH_SHAPES ?? '1536,4608,16896,4429:64').split(',').map((e) => {
  const [S, D] = e.split(':').map(Number);
  return { S, D: D || 128 };
});
const REPS = 12;

interface Variant {
  name: string;
  path: AttentionArgs['path'];
  tiles?: AttentionArgs['tiles'];
  robustness: boolean;
  maxS?: number; // skip slow variants at big shapes
  minS?: number;
  D?: number; // only for this head dim
}

const VARIANTS: Variant[] = [
  { name: 'tc nsg4 bkv32', path: 'subgroup-matrix', tiles: { NSG: 4, BKV: 32 }, robustness: false, D: 128 },
  { name: 'tc nsg8 bkv32', path: 'subgroup-matrix', tiles: { NSG: 8, BKV: 32 }, robustness: false, D: 128 },
  { name: 'tc nsg4 bkv16', path: 'subgroup-matrix', tiles: { NSG: 4, BKV: 16 }, robustness: false, D: 128 },
  { name: 'tc nsg4 bkv64', path: 'subgroup-matrix', tiles: { NSG: 4, BKV: 64 }, robustness: false, D: 64 },
  { name: 'tc nsg4 bkv32', path: 'subgroup-matrix', tiles: { NSG: 4, BKV: 32 }, robustness: false, D: 64 },
  { name: 'tc nsg8 bkv32', path: 'subgroup-matrix', tiles: { NSG: 8, BKV: 32 }, robustness: false, D: 64 },
  { name: 'tiled', path: 'tiled', robustness: false, maxS: 1536 },
  { name: 'tc nsg4 bkv32 (robustness on)', path: 'subgroup-matrix', tiles: { NSG: 4, BKV: 32 }, robustness: true, minS: 4608, maxS: 4608, D: 128 },
];

/** Random f16 bits fast: a table of N(0,1) samples indexed by an LCG (host f16 conversion per element is slow). */
function randomF16(n: number, seed: number): Uint16Array {
  const table = new Uint16Array(4096);
  let s = seed >>> 0;
  const next = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
  for (let i = 0; i < table.length; i++) {
    table[i] = f32ToF16Bits(Math.sqrt(-2 * Math.log(Math.max(next(), 1e-9))) * Math.cos(2 * Math.PI * next()));
  }
  const out = new Uint16Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = table[s >>> 20];
  }
  return out;
}

function upload(ctx: GpuContext, data: Uint16Array, shape: number[]): TensorView {
  const t = allocTensor(ctx, shape, 'f16');
  ctx.write(t.buffer, data);
  return t;
}

/** float64 reference for query row i of head h; returns the max abs error and the reference's max abs. */
function checkRow(q: Uint16Array, k: Uint16Array, v: Uint16Array, out: Uint16Array, S: number, D: number, h: number, i: number): [number, number] {
  const scale = 1 / Math.sqrt(D);
  const s = new Float64Array(S);
  let max = -Infinity;
  for (let j = 0; j < S; j++) {
    let d = 0;
    for (let e = 0; e < D; e++) d += f16BitsToF32(q[(h * S + i) * D + e]) * f16BitsToF32(k[(h * S + j) * D + e]);
    s[j] = d * scale;
    max = Math.max(max, s[j]);
  }
  const o = new Float64Array(D);
  let sum = 0;
  for (let j = 0; j < S; j++) {
    const p = Math.exp(s[j] - max);
    sum += p;
    for (let e = 0; e < D; e++) o[e] += p * f16BitsToF32(v[(h * S + j) * D + e]);
  }
  let err = 0;
  let ref = 0;
  for (let e = 0; e < D; e++) {
    const want = o[e] / sum;
    const got = f16BitsToF32(out[i * H * D + h * D + e]);
    err = Math.max(err, Number.isFinite(got) ? Math.abs(got - want) : Infinity);
    ref = Math.max(ref, Math.abs(want));
  }
  return [err, ref];
}

async function timeCall(ctx: GpuContext, call: KernelCall): Promise<{ medianMs: number; source: string; all: number[] }> {
  const dev = ctx.device;
  const times: number[] = [];
  const useTs = ctx.caps.timestampQuery;
  const qs = useTs ? dev.createQuerySet({ type: 'timestamp', count: 2 }) : null;
  const resolve = useTs ? dev.createBuffer({ size: 16, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC }) : null;
  for (let r = 0; r < REPS + 2; r++) {
    const enc = dev.createCommandEncoder();
    const t0 = performance.now();
    encodeCalls(enc, [call], qs ? { querySet: qs, beginningOfPassWriteIndex: 0, endOfPassWriteIndex: 1 } : undefined);
    if (qs && resolve) enc.resolveQuerySet(qs, 0, 2, resolve, 0);
    dev.queue.submit([enc.finish()]);
    await ctx.sync();
    const wall = performance.now() - t0;
    let ms = wall;
    if (resolve) {
      const ts = new BigUint64Array(await ctx.readback(resolve, 16));
      ms = Number(ts[1] - ts[0]) / 1e6;
    }
    if (r >= 2) times.push(ms); // 2 warm-up reps
  }
  const sorted = [...times].sort((a, b) => a - b);
  return { medianMs: sorted[Math.floor(sorted.length / 2)], source: useTs ? 'timestamp-query' : 'wall clock', all: times };
}

async function main(): Promise<void> {
  const results: Record<string, unknown>[] = [];
  const contexts = new Map<boolean, GpuContext>();
  const open = async (robustness: boolean) => {
    let c = contexts.get(robustness);
    if (!c) {
      c = await GpuContext.open({ robustness });
      contexts.set(robustness, c);
    }
    return c;
  };
  const first = await open(false);
  console.log(`device: ${first.caps.adapterName}; subgroups ${first.caps.subgroupMinSize}..${first.caps.subgroupMaxSize}; tensorCores ${first.caps.tensorCores}; ` +
    `smem ${first.caps.limits.maxComputeWorkgroupStorageSize}; date ${new Date().toISOString()}`);
  for (const { S, D } of SHAPES) {
    const n = H * S * D;
    const q = randomF16(n, 1 + S);
    const k = randomF16(n, 2 + S);
    const v = randomF16(n, 3 + S);
    const flops = 4 * H * S * S * D;
    const bufs = new Map<boolean, { q: TensorView; k: TensorView; v: TensorView; out: TensorView }>();
    for (const variant of VARIANTS) {
      if ((variant.maxS && S > variant.maxS) || (variant.minS && S < variant.minS) || (variant.D && variant.D !== D)) continue;
      const ctx = await open(variant.robustness);
      let b = bufs.get(variant.robustness);
      if (!b) {
        b = { q: upload(ctx, q, [1, H, S, D]), k: upload(ctx, k, [1, H, S, D]), v: upload(ctx, v, [1, H, S, D]), out: allocTensor(ctx, [1, S, H * D], 'f16') };
        bufs.set(variant.robustness, b);
      }
      const row: Record<string, unknown> = { S, H, D, variant: variant.name, robustness: variant.robustness };
      try {
        const call = await attention(ctx, { ...b, path: variant.path, tiles: variant.tiles, label: variant.name });
        ctx.fill(b.out.buffer, 0x7e007e00); // NaN poison
        const t = await timeCall(ctx, call);
        const out = new Uint16Array(await ctx.readback(b.out.buffer, S * H * D * 2));
        let worst = 0;
        let refMax = 0;
        for (const [h, i] of [[0, 0], [0, S - 1], [7, 1], [13, S >> 1], [23, S - 2], [23, 777 % S]]) {
          const [e, r] = checkRow(q, k, v, out, S, D, h % H, i);
          worst = Math.max(worst, e);
          refMax = Math.max(refMax, r);
        }
        Object.assign(row, {
          medianMs: +t.medianMs.toFixed(4),
          tflops: +(flops / (t.medianMs * 1e-3) / 1e12).toFixed(2),
          timing: t.source,
          minMs: +Math.min(...t.all).toFixed(4),
          maxAbsErrSampledRows: +worst.toExponential(3),
          refMaxAbs: +refMax.toFixed(3),
          ok: worst <= 1e-2,
        });
      } catch (e) {
        row.error = String((e as Error).message).slice(0, 6000);
      }
      console.log(JSON.stringify(row));
      results.push(row);
    }
    for (const b of bufs.values()) for (const t of Object.values(b)) t.buffer.destroy();
  }
  writeFileSync(`${outDir}/attention-bench.json`, JSON.stringify({ device: first.caps.adapterName, date: new Date().toISOString(), results }, null, 1));
  for (const c of contexts.values()) c.destroy();
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
