// `dit parity <checkpoint> <golden>`: our graph vs a reference's golden output on the same inputs.
import type { Command } from 'commander';
import { GpuContext } from '../gpu/context.js';
import { goldenParity } from '../models/parity.js';
import { positiveNumberFlag } from '../util/flags.js';

export function registerParity(program: Command): void {
  program
    .command('parity')
    .description('run a checkpoint (any registered family) on a golden file\'s inputs and report the relative L2 error to its output')
    .argument('<checkpoint>', '.safetensors file, diffusers transformer/ folder, or pipeline folder')
    .argument('<golden>', 'golden .safetensors (bench/reference/make_goldens.py or flux_fullsize_parity.py)')
    .option('--bound <relL2>', 'fail (exit 1) above this relative L2 error', '2e-3')
    .option('--robustness', 'keep Dawn robustness checks on')
    .option('--portable', 'force the portable kernels (no tensor cores)')
    .option('--json', 'print the result as JSON')
    .action(async (checkpoint: string, golden: string, opts: { bound: string; robustness?: boolean; portable?: boolean; json?: boolean }) => {
      const bound = positiveNumberFlag('--bound', opts.bound); // before any work: a typo must not cost a full model run
      const ctx = await GpuContext.open({ robustness: !!opts.robustness, disableTensorCores: !!opts.portable });
      try {
        // Progress goes to stderr, so --json output stays one parseable line on stdout.
        const r = await goldenParity(ctx, checkpoint, golden, { log: (l) => console.error(l) });
        const report = { device: ctx.caps.adapterName, tensorCores: ctx.caps.tensorCores, robustness: ctx.caps.robustness, checkpoint, golden, bound, ...r };
        if (opts.json) console.log(JSON.stringify(report));
        else {
          console.log(`${r.family} parity on ${report.device} (tensor cores ${report.tensorCores ? 'on' : 'off'}): relL2 ${r.relL2.toExponential(3)}, max abs ${r.maxAbs.toExponential(3)}, non-finite ${r.nonFinite}`);
          console.log(`load ${r.loadSeconds.toFixed(1)} s, forward ${r.forwardMs.toFixed(0)} ms (incl. compile), peak RSS ${(r.peakRssBytes / 2 ** 30).toFixed(2)} GiB`);
        }
        if (r.nonFinite > 0 || !(r.relL2 <= bound)) {
          console.error(`error: parity failed (relL2 ${r.relL2} > ${bound} or non-finite outputs)`);
          process.exitCode = 1;
        }
      } finally {
        ctx.destroy();
      }
    });
}
