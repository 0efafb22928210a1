// `dit bench kernels`: times every kernel at the shapes the models use; writes JSON and Markdown.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { GpuContext } from '../gpu/context.js';
import { caseSpecs, kernelCases, type Suite } from '../bench/kernel-cases.js';
import { runKernelBench } from '../bench/kernel-bench.js';
import { kernelMarkdown, type TorchReference } from '../bench/report.js';
import { benchModel, modelMarkdown, rowsToProfile, type ModelBenchRow } from '../bench/model-bench.js';
import { familyById } from '../models/registry.js';
import { profileToJson } from '../scheduler/profile.js';
import { registerEncoderBench } from '../bench/encoder-bench.js';
import { registerSpBench } from '../bench/sp-bench.js';
import { registerVaeBench } from '../bench/vae-bench.js';
import { registerEncoderBench } from '../bench/encoder-bench.js';

const SUITES: Suite[] = ['full', 'quick', 'flux', 'sd3', 'vae'];

export function registerBench(program: Command): void {
  const bench = program.command('bench').description('benchmarks (kernels; models come with the model graphs)');
  registerEncoderBench(bench);
  registerSpBench(bench);
  registerVaeBench(bench);
  registerEncoderBench(bench);
  bench
    .command('kernels')
    .description('time each WGSL kernel at FLUX.1 / SD3 / VAE shapes; writes JSON + Markdown')
    .option('--suite <name>', `one of ${SUITES.join(', ')}`, 'full')
    .option('--filter <substring>', 'only cases whose id contains this')
    .option('--out <dir>', 'where to write kernels.json and RESULTS.md', 'bench/results')
    .option('--reference <file>', 'PyTorch timings from bench/reference/kernels_ref.py (same GPU, same run)')
    .option('--emit-spec <file>', 'write the case list for the PyTorch reference script and exit')
    .option('--robustness', 'keep Dawn robustness checks on (default off for benchmarks)')
    .option('--reps <n>', 'timed samples per case', '10')
    .action(async (opts: { suite: string; filter?: string; out: string; reference?: string; emitSpec?: string; robustness?: boolean; reps: string }) => {
      if (!SUITES.includes(opts.suite as Suite)) throw new Error(`--suite must be one of ${SUITES.join(', ')} (got '${opts.suite}')`);
      let cases = kernelCases(opts.suite as Suite);
      if (opts.filter) cases = cases.filter((c) => c.id.includes(opts.filter!));
      if (opts.emitSpec) {
        writeFileSync(opts.emitSpec, JSON.stringify(caseSpecs(cases), null, 1));
        console.log(`wrote ${cases.length} case specs to ${opts.emitSpec}`);
        return;
      }
      const torch = opts.reference ? (JSON.parse(readFileSync(opts.reference, 'utf8')) as TorchReference) : undefined;
      const ctx = await GpuContext.open({ robustness: !!opts.robustness });
      try {
        const report = await runKernelBench(ctx, cases, { reps: Number(opts.reps), log: (l) => console.log(l) });
        mkdirSync(opts.out, { recursive: true });
        writeFileSync(join(opts.out, 'kernels.json'), JSON.stringify({ ...report, torch }, null, 1));
        const md = kernelMarkdown(report, torch);
        writeFileSync(join(opts.out, 'RESULTS.md'), md);
        console.log(`\nwrote ${join(opts.out, 'kernels.json')} and ${join(opts.out, 'RESULTS.md')}`);
        if (report.results.some((r) => r.error)) process.exitCode = 1;
      } finally {
        ctx.destroy();
      }
    });

  bench
    .command('model')
    .description('one denoising step of full-size FLUX.1-dev / SD3-medium (random weights) per resolution')
    .option('--flux <resolutions>', 'FLUX.1-dev resolutions, comma separated ("" to skip)', '512,1024,2048')
    .option('--sd3 <resolutions>', 'SD3-medium resolutions, comma separated ("" to skip)', '1024')
    .option('--reference <file>', 'JSON from bench/reference/step_time.py (same GPU, same run)')
    .option('--out <dir>', 'where to write model.json and MODEL.md', 'bench/results')
    .option('--robustness', 'keep Dawn robustness checks on (default off for benchmarks)')
    .option('--reps <n>', 'timed steps per resolution', '5')
    .option('--profile <file>', 'also write the FLUX steps as a scheduler latency profile (degree 1)')
    .action(async (opts: { flux: string; sd3: string; reference?: string; out: string; robustness?: boolean; reps: string; profile?: string }) => {
      const list = (s: string) => s.split(',').map((x) => x.trim()).filter(Boolean).map((x) => {
        const n = Number(x);
        if (!Number.isInteger(n) || n % 16 !== 0 || n < 64) throw new Error(`resolution '${x}' must be a multiple of 16 (>= 64)`);
        return n;
      });
      const ctx = await GpuContext.open({ robustness: !!opts.robustness });
      const ctxName = ctx.caps.adapterName;
      const log = (l: string) => console.log(l);
      const rows: ModelBenchRow[] = [];
      try {
        const reps = Number(opts.reps);
        if (list(opts.flux).length) rows.push(...(await benchModel(ctx, familyById('flux'), list(opts.flux), { reps, log })));
        if (list(opts.sd3).length) rows.push(...(await benchModel(ctx, familyById('sd3'), list(opts.sd3), { reps, log })));
      } finally {
        ctx.destroy();
      }
      let torch: Parameters<typeof modelMarkdown>[2];
      if (opts.reference) {
        const ref = JSON.parse(readFileSync(opts.reference, 'utf8')) as { device: string; results: { model: string; resolution: number; ms_median: number; peak_mem_bytes?: number }[] };
        const key = (m: string) => (m.startsWith('FLUX') || m.startsWith('flux') ? 'flux' : 'sd3');
        torch = {
          device: ref.device,
          lookup: (model, res) => {
            const r = ref.results.find((x) => key(x.model) === key(model) && x.resolution === res);
            return r && { ms: r.ms_median, mem: r.peak_mem_bytes };
          },
        };
      }
      mkdirSync(opts.out, { recursive: true });
      writeFileSync(join(opts.out, 'model.json'), JSON.stringify({ device: ctxName, date: new Date().toISOString(), rows }, null, 1));
      writeFileSync(join(opts.out, 'MODEL.md'), modelMarkdown(ctxName, rows, torch));
      console.log(`wrote ${join(opts.out, 'model.json')} and ${join(opts.out, 'MODEL.md')}`);
      if (opts.profile) {
        writeFileSync(opts.profile, profileToJson(rowsToProfile(rows, 'FLUX.1-dev', ctxName)));
        console.log(`wrote latency profile ${opts.profile}`);
      }
      if (rows.some((r) => !r.finite)) {
        console.error('error: a model produced non-finite outputs (see MODEL.md)');
        process.exitCode = 1;
      }
    });

  bench
    .command('render')
    .description('rewrite RESULTS.md from a kernels.json written by `dit bench kernels` (e.g. one fetched from a GPU machine)')
    .argument('<kernels.json>')
    .option('--out <file>', 'Markdown file to write', 'bench/RESULTS.md')
    .action((file: string, opts: { out: string }) => {
      const data = JSON.parse(readFileSync(file, 'utf8')) as Parameters<typeof kernelMarkdown>[0] & { torch?: TorchReference };
      writeFileSync(opts.out, kernelMarkdown(data, data.torch));
      console.log(`wrote ${opts.out}`);
    });
}
