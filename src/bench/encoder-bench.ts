// `dit bench encoders`: the full-size text encoders (T5-XXL v1.1 at 512 tokens, CLIP-L/14 and OpenCLIP bigG/14 at
// 77) with the random weights bench/reference/encoders_fullsize.py writes: parity of our encode against PyTorch
// float32 on the same ids (relative L2 per output; the issue's bound is 2e-3), and time per encode (median of
// --reps, ids upload + GPU + readback of every output) beside PyTorch's bf16/f32 times from the same run.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { GpuContext } from '../gpu/context.js';
import { median } from '../gpu/timer.js';
import { SafetensorsFile } from '../loading/safetensors.js';
import { clipFamily } from '../models/clip/family.js';
import { ClipTextEncoder } from '../models/clip/runtime.js';
import { loadEncoderWeights } from '../models/text-encoder-load.js';
import { t5Family } from '../models/t5/family.js';
import { T5Encoder } from '../models/t5/runtime.js';

export interface EncoderBenchRow {
  model: string;
  tokens: number;
  description: string;
  loadSeconds: number;
  gpuBytes: number;
  /** First encode, including graph compilation. */
  firstMs: number;
  ms: number;
  relL2: Record<string, number>;
  pass: boolean;
  torchBf16Ms?: number;
  torchF32Ms?: number;
  torchBf16RelL2?: Record<string, number>;
}

const WEIGHTS: Record<string, string> = { t5: 't5', 'clip-l': 'clip-l/clip_l.safetensors', 'clip-g': 'clip-g' };

async function readGolden(path: string): Promise<Map<string, Float32Array | Int32Array>> {
  const f = await SafetensorsFile.open(path);
  try {
    const out = new Map<string, Float32Array | Int32Array>();
    for (const n of f.names()) {
      const b = (await f.read(n)).slice().buffer;
      out.set(n, f.info(n).dtype === 'I32' ? new Int32Array(b) : new Float32Array(b));
    }
    return out;
  } finally {
    await f.close();
  }
}

function relL2(a: Float32Array, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Number.POSITIVE_INFINITY;
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    const d = a[i] - b[i];
    if (!Number.isFinite(a[i])) return Number.POSITIVE_INFINITY;
    num += d * d;
    den += b[i] * b[i];
  }
  return Math.sqrt(num / Math.max(den, 1e-30));
}

export async function benchEncoder(ctx: GpuContext, dir: string, model: string, reps: number, bound: number, log: (l: string) => void): Promise<EncoderBenchRow> {
  const golden = await readGolden(join(dir, model, 'golden.safetensors'));
  const ids = golden.get('ids');
  if (!(ids instanceof Int32Array)) throw new Error(`${dir}/${model}/golden.safetensors has no int32 'ids'`);
  const t0 = performance.now();
  const isT5 = model === 't5';
  const w = isT5 ? await loadEncoderWeights(ctx, t5Family, join(dir, WEIGHTS[model])) : await loadEncoderWeights(ctx, clipFamily, join(dir, WEIGHTS[model]));
  const loadSeconds = (performance.now() - t0) / 1000;
  try {
    const description = isT5 ? t5Family.describe(w.config as never) : clipFamily.describe(w.config as never);
    log(`${model}: ${description}; loaded ${(w.gpuBytes / 2 ** 30).toFixed(2)} GiB in ${loadSeconds.toFixed(1)} s`);
    const run: () => Promise<Record<string, Float32Array>> = isT5
      ? (() => {
        const e = new T5Encoder(ctx, w.store, w.config as never);
        return async () => ({ hidden: await e.encode(ids) });
      })()
      : (() => {
        const e = new ClipTextEncoder(ctx, w.store, w.config as never);
        return async () => {
          const o = await e.encode(ids);
          return { hidden: o.hidden, penultimate: o.penultimate, ...(o.textEmbeds ? { text_embeds: o.textEmbeds } : { pooled: o.pooled }) };
        };
      })();
    const t1 = performance.now();
    const out = await run();
    const firstMs = performance.now() - t1;
    const errs: Record<string, number> = {};
    for (const [k, v] of Object.entries(out)) {
      const want = golden.get(k);
      if (!want) throw new Error(`golden for ${model} has no '${k}'`);
      errs[k] = relL2(v, want);
    }
    const samples: number[] = [];
    for (let i = 0; i < Math.max(1, reps); i++) {
      const s = performance.now();
      await run();
      samples.push(performance.now() - s);
    }
    const ms = median(samples);
    const pass = Object.values(errs).every((e) => e <= bound);
    log(`${model}: ${ids.length} tokens, ${ms.toFixed(2)} ms per encode (first ${firstMs.toFixed(0)} ms incl. compile), relL2 vs float32 ` +
      `${Object.entries(errs).map(([k, e]) => `${k} ${e.toExponential(2)}`).join(', ')} ${pass ? 'ok' : `FAIL (> ${bound})`}`);
    return { model, tokens: ids.length, description, loadSeconds, gpuBytes: w.gpuBytes, firstMs, ms, relL2: errs, pass };
  } finally {
    w.destroy();
  }
}

export function encoderMarkdown(rows: EncoderBenchRow[], device: string, bound: number): string {
  const lines = [
    `# Text encoders (${device})`, '',
    `Random weights from bench/reference/encoders_fullsize.py; parity against PyTorch float32 on the same f16 weights (bound ${bound}).`, '',
    '| model | tokens | ours ms | PyTorch bf16 ms | ours / bf16 | PyTorch f32 ms | relL2 vs f32 (ours) | bf16 PyTorch relL2 vs f32 |',
    '|---|---:|---:|---:|---:|---:|---|---|',
  ];
  const fmt = (r?: Record<string, number>) => (r ? Object.entries(r).map(([k, v]) => `${k} ${v.toExponential(1)}`).join(', ') : '–');
  for (const r of rows) {
    lines.push(`| ${r.model} | ${r.tokens} | ${r.ms.toFixed(2)} | ${r.torchBf16Ms?.toFixed(2) ?? '–'} | ` +
      `${r.torchBf16Ms ? (r.ms / r.torchBf16Ms).toFixed(2) + '×' : '–'} | ${r.torchF32Ms?.toFixed(2) ?? '–'} | ${fmt(r.relL2)}${r.pass ? '' : ' FAIL'} | ${fmt(r.torchBf16RelL2)} |`);
  }
  return lines.join('\n') + '\n';
}

export function registerEncoderBench(bench: Command): void {
  bench
    .command('encoders')
    .description('full-size T5-XXL (512 tokens) and CLIP-L/G (77): parity vs PyTorch float32 and time vs PyTorch bf16')
    .requiredOption('--weights <dir>', 'folder written by bench/reference/encoders_fullsize.py (t5/, clip-l/, clip-g/)')
    .option('--reference <file>', 'its torch-encoders.json (PyTorch times from the same run)')
    .option('--only <list>', 'models to run', 't5,clip-l,clip-g')
    .option('--reps <n>', 'timed encodes per model', '10')
    .option('--bound <relL2>', 'parity bound', '2e-3')
    .option('--out <dir>', 'where to write encoders.json and ENCODERS.md', 'bench/results')
    .option('--robustness', 'keep Dawn robustness checks on (default off for benchmarks)')
    .action(async (o: { weights: string; reference?: string; only: string; reps: string; bound: string; out: string; robustness?: boolean }) => {
      const torch = o.reference ? (JSON.parse(readFileSync(o.reference, 'utf8')) as { models: Record<string, { bf16_ms: number; f32_ms: number; bf16_relL2_vs_f32: Record<string, number> }> }) : null;
      const bound = Number(o.bound);
      const ctx = await GpuContext.open({ robustness: !!o.robustness });
      const rows: EncoderBenchRow[] = [];
      const device = ctx.caps.adapterName;
      try {
        for (const model of o.only.split(',').map((s) => s.trim()).filter(Boolean)) {
          if (!(model in WEIGHTS)) throw new Error(`--only: unknown model '${model}' (t5, clip-l, clip-g)`);
          const row = await benchEncoder(ctx, o.weights, model, Number(o.reps), bound, (l) => console.log(l));
          const t = torch?.models[model];
          if (t) Object.assign(row, { torchBf16Ms: t.bf16_ms, torchF32Ms: t.f32_ms, torchBf16RelL2: t.bf16_relL2_vs_f32 });
          rows.push(row);
        }
      } finally {
        ctx.destroy();
      }
      mkdirSync(o.out, { recursive: true });
      writeFileSync(join(o.out, 'encoders.json'), JSON.stringify({ device, bound, rows }, null, 1));
      writeFileSync(join(o.out, 'ENCODERS.md'), encoderMarkdown(rows, device, bound));
      console.log(`wrote ${join(o.out, 'encoders.json')} and ${join(o.out, 'ENCODERS.md')}`);
      if (rows.some((r) => !r.pass)) process.exitCode = 1;
    });
}
