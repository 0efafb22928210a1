// `dit inspect <checkpoint>`: what a checkpoint is, read from its header and config.json alone (no tensor data).
import type { Command } from 'commander';
import { parameterCount } from '../loading/sources.js';
import { inspectModel } from '../models/registry.js';
import { formatQuantization, inspectQuantization } from '../models/quant-inspect.js'; // H9: quantization lines

export function registerInspect(program: Command): void {
  program
    .command('inspect')
    .description('identify a FLUX/SD3 checkpoint (file or diffusers folder) and check every tensor without reading the weights')
    .argument('<checkpoint>', 'BFL .safetensors or .gguf file, or diffusers folder')
    .option('--json', 'machine-readable output')
    .action(async (path: string, opts: { json?: boolean }) => {
      const { family, ...info } = await inspectModel(path);
      const params = parameterCount(family.expectedTensors(info.config));
      const quantization = await inspectQuantization(path); // H9 (src/models/quant-inspect.ts)
      if (opts.json) {
        console.log(JSON.stringify({ ...info, parameters: params, quantization }, null, 2));
        return;
      }
      console.log(family.describe(info.config));
      console.log(`parameters   ${(params / 1e9).toFixed(3)} B (${((params * 2) / 2 ** 30).toFixed(2)} GiB as f16 on the GPU)`);
      console.log(`files        ${info.files.join(', ')} (${(info.bytes / 1e9).toFixed(2)} GB)`);
      for (const line of formatQuantization(quantization)) console.log(line); // H9
      if (info.unexpected.length) console.log(`ignored      ${info.unexpected.length} tensors the layout does not use, e.g. ${info.unexpected.slice(0, 3).join(', ')}`);
    });
}
