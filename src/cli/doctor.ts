// `dit doctor`: what Dawn sees on this machine and which kernel paths the engine will use.
import type { Command } from 'commander';
import { GpuContext, listAdapters } from '../gpu/context.js';
import { kernelPaths } from '../gpu/variants.js';

export function registerDoctor(program: Command): void {
  program
    .command('doctor')
    .description('print the GPU adapter, its features and limits, and the active kernel paths')
    .option('--json', 'machine-readable output')
    .action(async (opts: { json?: boolean }) => {
      const adapters = await listAdapters();
      const ctx = await GpuContext.open();
      const report = { adapters, caps: ctx.caps, kernelPaths: kernelPaths(ctx.caps), features: [...ctx.device.features].sort() };
      if (opts.json) {
        console.log(JSON.stringify(report, null, 2));
      } else {
        const c = ctx.caps;
        for (const a of adapters) console.log(`available    ${a}`);
        console.log(`using        ${c.adapterName} (vendor ${c.vendor || '?'}, arch ${c.architecture || '?'}, ${c.isCpu ? 'CPU' : 'GPU'})`);
        console.log(`features     ${report.features.join(', ')}`);
        console.log(`subgroups    ${c.subgroups ? `yes, size ${c.subgroupMinSize}..${c.subgroupMaxSize}` : 'no'}`);
        console.log(`subgroup-matrix configs  ${c.subgroupMatrixConfigs.map((m) => `${m.componentType}->${m.resultComponentType} ${m.M}x${m.N}x${m.K}`).join(', ') || 'none'}`);
        // Robustness (Dawn's bounds checks) is chosen per command: doctor opens the device with it on, while
        // generate, parity and bench open theirs with it off (it costs the tensor-core path dearly) unless --robustness.
        console.log(`robustness   ${c.robustness ? 'on' : 'off'} for this check; generate, parity and bench run with it off unless --robustness`);
        for (const [k, v] of Object.entries(c.limits)) console.log(`limit        ${k} = ${v}`);
        for (const [k, v] of Object.entries(report.kernelPaths)) console.log(`kernel path  ${k}: ${v}`);
      }
      ctx.destroy();
    });
}
