// `dit bench kernels|model|render`: kernel timings at the models' shapes, full-size model steps, and re-rendering
// a kernels.json. Every flag is checked before the GPU is opened; messages name the flag.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { GpuContext } from '../gpu/context.js';
import { caseSpecs, kernelCases, type Suite } from '../bench/kernel-cases.js';
import { runKernelBench } from '../bench/kernel-bench.js';
import { kernelMarkdown, type TorchReference } from '../bench/report.js';
import { benchModel, modelMarkdown, rowsToProfile, stepDoesNotFit, type ModelBenchRow } from '../bench/model-bench.js';
import { compareModelRows, compareMarkdown, modelJsonRows, REGRESSION_EXIT_CODE } from '../bench/model-compare.js';
import { familyById } from '../models/registry.js';
import { profileToJson } from '../scheduler/profile.js';
import { FlagError, UserInputError } from '../util/errors.js';
import { intFlag, jsonFileFlag, resolutionsFlag } from '../util/flags.js';
import { registerSpBench } from '../bench/sp-bench.js';
import { registerVaeBench } from '../bench/vae-bench.js';
import { registerEncoderBench } from '../bench/encoder-bench.js';
import { registerQuantBench } from '../bench/bench-quant.js';

const SUITES: Suite[] = ['full', 'quick', 'flux', 'sd3', 'vae'];

export function registerBench(program: Command): void {
  const bench = program.command('bench').description('benchmarks: every kernel at the models\' shapes, full-size model steps, and re-rendering a kernels.json');
  registerSpBench(bench);
  registerVaeBench(bench);
  registerEncoderBench(bench);
  registerQuantBench(bench);
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
      if (!SUITES.includes(opts.suite as Suite)) throw new FlagError('--suite', `must be one of ${SUITES.join(', ')}, got '${opts.suite}'`);
      const reps = intFlag('--reps', opts.reps, 1, 10_000);
      let cases = kernelCases(opts.suite as Suite);
      if (opts.filter !== undefined) {
        const all = cases;
        cases = cases.filter((c) => c.id.includes(opts.filter!));
        if (!cases.length) throw new FlagError('--filter', `'${opts.filter}' matches no case of suite ${opts.suite} (ids look like ${all.slice(0, 3).map((c) => c.id).join(', ')})`);
      }
      if (opts.emitSpec) {
        writeFileSync(opts.emitSpec, JSON.stringify(caseSpecs(cases), null, 1));
        console.log(`wrote ${cases.length} case specs to ${opts.emitSpec}`);
        return;
      }
      const torch = opts.reference ? await jsonFileFlag<TorchReference>('--reference', opts.reference, 'give the JSON written by bench/reference/kernels_ref.py') : undefined;
      const ctx = await GpuContext.open({ robustness: !!opts.robustness });
      try {
        if (opts.suite === 'quick') console.log('quick suite: toy shapes that check the harness; their timings and throughput say nothing about the kernels (use --suite full)');
        const report = await runKernelBench(ctx, cases, { reps, log: (l) => console.log(l) });
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
    .description('one denoising step of full-size FLUX.1-dev / SD3-medium (random weights) per resolution (GPU only: refused on CPU adapters unless --force)')
    .option('--flux <resolutions>', 'FLUX.1-dev resolutions, comma separated ("" to skip)', '512,1024,2048')
    .option('--sd3 <resolutions>', 'SD3-medium resolutions, comma separated ("" to skip)', '1024')
    .option('--reference <file>', 'JSON from bench/reference/step_time.py (same GPU, same run)')
    .option('--out <dir>', 'where to write model.json and MODEL.md', 'bench/results')
    .option('--robustness', 'keep Dawn robustness checks on (default off for benchmarks)')
    .option('--reps <n>', 'timed steps per resolution', '5')
    .option('--profile <file>', 'also write the FLUX steps as a scheduler latency profile (degree 1; batch > 1 rows as batchStepSeconds)')
    .option('--force', 'run full-size models even on a CPU adapter (one step takes many minutes there)')
    .option('--batch <sizes>', 'batch sizes timed at each resolution, comma separated, e.g. 1,2,4 (batch > 1: FLUX only; give --sd3 \'\')', '1')
    .option('--idle-wait <fraction>', 'sleep this fraction of a step\'s GPU time after submitting it before waiting for the result (the server\'s idle wait; 0 = wait at once)', '0')
    .option('--int8', 'also time each FLUX step with W8A8 linears (optional int8 path) and report its velocity distance from the f16 step')
    .option('--first-block-cache', 'also time each batch-1 FLUX step through the first-block cache, down both paths (every block / head + final layer)')
    .option('--compare <old.json>', `flag rows more than --compare-threshold % slower than this earlier model.json (exit status ${REGRESSION_EXIT_CODE} unless --compare-warn)`)
    .option('--compare-threshold <pct>', 'slowdown that counts as a regression, in percent', '5')
    .option('--compare-warn', 'report regressions found by --compare without a failing exit status')
    .option('--current <model.json>', 'with --compare: compare this model.json instead of running the benchmark (no GPU needed)')
    .action(async (opts: { flux: string; sd3: string; reference?: string; out: string; robustness?: boolean; reps: string; profile?: string; force?: boolean; batch: string; int8?: boolean; firstBlockCache?: boolean; idleWait: string; compare?: string; compareThreshold: string; compareWarn?: boolean; current?: string }) => {
      // The regression guard's inputs are checked before any GPU work; with --current nothing else runs.
      const threshold = Number(opts.compareThreshold);
      if (!(threshold >= 0) || opts.compareThreshold.trim() === '') throw new FlagError('--compare-threshold', `must be a number of percent >= 0 such as 5, got '${opts.compareThreshold}'`);
      if (opts.current && !opts.compare) throw new FlagError('--current', 'needs --compare <old.json> (the file to compare it against)');
      const what = 'give a model.json written by `dit bench model`';
      const oldRows = opts.compare ? modelJsonRows(await jsonFileFlag<unknown>('--compare', opts.compare, what), `--compare ${opts.compare}`) : undefined;
      const guard = (newRows: ModelBenchRow[] | ReturnType<typeof modelJsonRows>, newName: string) => {
        if (!oldRows || !opts.compare) return;
        const res = compareModelRows(oldRows, newRows, threshold);
        const md = compareMarkdown(res, opts.compare, newName);
        console.log(`\n${md}`);
        if (!opts.current) {
          writeFileSync(join(opts.out, 'COMPARE.md'), md);
          console.log(`wrote ${join(opts.out, 'COMPARE.md')}`);
        }
        if (res.regressions.length) {
          console.error(`${opts.compareWarn ? 'warning' : 'error'}: ${res.regressions.length} row(s) more than ${threshold}% slower than ${opts.compare}`);
          if (!opts.compareWarn) process.exitCode = REGRESSION_EXIT_CODE;
        }
      };
      if (opts.current) {
        guard(modelJsonRows(await jsonFileFlag<unknown>('--current', opts.current, what), `--current ${opts.current}`), opts.current);
        return;
      }
      const runs = [
        { flag: '--flux', family: familyById('flux'), resolutions: resolutionsFlag('--flux', opts.flux) },
        { flag: '--sd3', family: familyById('sd3'), resolutions: resolutionsFlag('--sd3', opts.sd3) },
      ].filter((r) => r.resolutions.length);
      if (!runs.length) throw new FlagError('--flux/--sd3', "nothing to run: both are empty; give at least one resolution (e.g. --flux 1024 --sd3 '')");
      const reps = intFlag('--reps', opts.reps, 1, 1000);
      const idleWaitFraction = Number(opts.idleWait);
      if (!(idleWaitFraction >= 0 && idleWaitFraction < 1) || opts.idleWait.trim() === '') throw new FlagError('--idle-wait', `must be a fraction in [0, 1) such as 0.85, got '${opts.idleWait}'`);
      const batches = [...new Set(opts.batch.split(',').map((b) => intFlag('--batch', b.trim(), 1, 64)))].sort((a, b) => a - b);
      // A family whose graph takes fewer images (SD3: batch 1) runs the sizes it can, with a note.
      const batchesOf = (r: (typeof runs)[number]) => batches.filter((b) => b <= (r.family.bench?.maxBatch ?? 1));
      for (const r of runs) {
        const skipped = batches.filter((b) => !batchesOf(r).includes(b));
        if (skipped.length === batches.length) throw new FlagError('--batch', `${r.flag.slice(2).toUpperCase()} runs batch 1..${r.family.bench?.maxBatch ?? 1} only (got ${opts.batch}); skip it with ${r.flag} '' or add 1 to --batch`);
        if (skipped.length) console.log(`note: ${r.flag.slice(2).toUpperCase()} runs batch ${batchesOf(r).join(',')} only (its graph takes no larger batch); batch ${skipped.join(',')} skipped for it`);
      }
      type Ref = { device: string; results: { model: string; resolution: number; ms_median: number; peak_mem_bytes?: number }[] };
      const ref = opts.reference ? await jsonFileFlag<Ref>('--reference', opts.reference, 'give the JSON written by bench/reference/step_time.py') : undefined;
      if (ref && !Array.isArray(ref.results)) throw new UserInputError(`--reference ${opts.reference}: has no "results" list; give the JSON written by bench/reference/step_time.py`, 'BAD_FILE');
      const ctx = await GpuContext.open({ robustness: !!opts.robustness });
      const ctxName = ctx.caps.adapterName;
      const log = (l: string) => console.log(l);
      const rows: ModelBenchRow[] = [];
      try {
        if (ctx.caps.isCpu && !opts.force) {
          throw new UserInputError(`bench model: adapter '${ctxName}' is a CPU; one full-size step takes many minutes there (an SD3-medium step at 64² took 13.5 minutes). ` +
            'Run it on a GPU machine, or pass --force to run it anyway.');
        }
        // Every resolution is checked against the adapter's buffer limits before any weight is allocated.
        for (const r of runs) {
          const bench = r.family.bench!;
          for (const res of r.resolutions) {
            for (const b of batchesOf(r)) {
              const why = stepDoesNotFit(ctx, r.family, bench.config, res, bench.textTokens, b);
              if (why) throw new FlagError(r.flag, `${res}${b > 1 ? ` at batch ${b}` : ''} is too large for adapter '${ctxName}': ${why.split(' Fix:')[0]}; use a smaller resolution or batch`);
            }
          }
        }
        for (const r of runs) rows.push(...(await benchModel(ctx, r.family, r.resolutions, { reps, log, batches: batchesOf(r), int8: !!opts.int8, idleWaitFraction, firstBlockCache: !!opts.firstBlockCache })));
      } finally {
        ctx.destroy();
      }
      let torch: Parameters<typeof modelMarkdown>[2];
      if (ref) {
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
      guard(rows, join(opts.out, 'model.json'));
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
    .action(async (file: string, opts: { out: string }) => {
      const what = 'give the kernels.json written by `dit bench kernels`';
      const data = await jsonFileFlag<Parameters<typeof kernelMarkdown>[0] & { torch?: TorchReference }>('bench render', file, what);
      if (!data || !Array.isArray(data.results) || typeof data.device !== 'string') throw new UserInputError(`bench render ${file}: not a kernels.json (no device/results); ${what}`, 'BAD_FILE');
      writeFileSync(opts.out, kernelMarkdown(data, data.torch));
      console.log(`wrote ${opts.out}`);
    });
}
