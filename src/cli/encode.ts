// `dit encode "a prompt" --model <folder>`: runs the text encoders of a FLUX.1 or SD3 model folder on a prompt and
// prints the shapes and checksums of exactly what the transformer would receive.
import { createHash } from 'node:crypto';
import type { Command } from 'commander';
import { GpuContext } from '../gpu/context.js';
import { TextConditioner, textEncoderPathsFromFolder, type TextConditioning } from '../pipeline/text-conditioning.js';

function checksum(a: Float32Array) {
  let sum = 0;
  let abs = 0;
  for (const v of a) {
    sum += v;
    abs += Math.abs(v);
  }
  const sha = createHash('sha256').update(new Uint8Array(a.buffer, a.byteOffset, a.byteLength)).digest('hex').slice(0, 16);
  return { sum, meanAbs: abs / Math.max(1, a.length), sha256: sha };
}

function summary(c: TextConditioning) {
  const width = c.context.length / c.tokens;
  return {
    context: { shape: [c.tokens, width], ...checksum(c.context) },
    pooled: { shape: [c.pooled.length], ...checksum(c.pooled) },
    truncated: c.truncated,
  };
}

export function registerEncode(program: Command): void {
  program
    .command('encode')
    .description('encode a prompt with a model folder\'s text encoders (T5, CLIP) and print the shapes and checksums')
    .argument('<prompt>', 'the prompt')
    .requiredOption('--model <folder>', 'diffusers pipeline folder (FluxPipeline / StableDiffusion3Pipeline) or a FLUX single-file folder')
    .option('--max-sequence-length <n>', 'T5 tokens (default: 512 for FLUX.1-dev, 256 for schnell and SD3)')
    .option('--prompt2 <text>', 'FLUX: T5\'s prompt; SD3: CLIP-G\'s prompt (default: the prompt)')
    .option('--prompt3 <text>', 'SD3: T5\'s prompt (default: the prompt)')
    .option('--negative <text>', 'SD3: also encode this negative prompt (classifier-free guidance)')
    .option('--t5-memory <mode>', 'resident (keep T5 on the GPU) or unload (free it after encoding)', 'resident')
    .option('--no-truncate', 'fail instead of truncating prompts that are too long')
    .option('--json', 'print JSON')
    .option('--debug', 'print load warnings and timings')
    .action(async (prompt: string, o: { model: string; maxSequenceLength?: string; prompt2?: string; prompt3?: string; negative?: string; t5Memory: string; truncate: boolean; json?: boolean; debug?: boolean }) => {
      const paths = await textEncoderPathsFromFolder(o.model);
      const L = o.maxSequenceLength !== undefined ? Number(o.maxSequenceLength) : paths.defaultMaxSequenceLength;
      if (o.t5Memory !== 'resident' && o.t5Memory !== 'unload') throw new Error(`--t5-memory ${o.t5Memory}: use resident or unload`);
      const ctx = await GpuContext.open();
      const t0 = performance.now();
      const tc = await TextConditioner.load(ctx, paths, { t5Memory: o.t5Memory, cache: null });
      try {
        const t1 = performance.now();
        const opts = { maxSequenceLength: L, allowTruncation: o.truncate };
        const cond = await tc.encode({ prompt, prompt2: o.prompt2, prompt3: o.prompt3 }, opts);
        const encodeMs = performance.now() - t1;
        const neg = o.negative !== undefined ? await tc.encode({ prompt: o.negative }, opts) : null;
        const report = {
          model: o.model, family: paths.family, device: ctx.caps.adapterName, maxSequenceLength: L, prompt: summary(cond),
          ...(neg ? { negative: summary(neg) } : {}), loadSeconds: (t1 - t0) / 1000, encodeMs,
        };
        if (o.json) console.log(JSON.stringify(report));
        else {
          const line = (name: string, s: ReturnType<typeof checksum> & { shape: number[] }) =>
            console.log(`${name.padEnd(16)} [${s.shape.join(', ')}] float32  sum ${s.sum.toExponential(6)}  mean|x| ${s.meanAbs.toExponential(6)}  sha256 ${s.sha256}`);
          console.log(`${paths.family} text conditioning (${report.device}), max_sequence_length ${L}`);
          for (const [tag, s] of [['', report.prompt], ['negative ', report.negative]] as const) {
            if (!s) continue;
            line(`${tag}context`, s.context);
            line(`${tag}pooled`, s.pooled);
            const t = s.truncated;
            if (t.clipL || t.clipG || t.t5) console.log(`${tag}prompt truncated (tokens dropped): CLIP-L ${t.clipL}, CLIP-G ${t.clipG}, T5 ${t.t5}`);
          }
          if (o.debug) {
            for (const w of tc.warnings) console.log(`warning: ${w}`);
            console.log(`load ${report.loadSeconds.toFixed(2)} s, encode ${encodeMs.toFixed(0)} ms (incl. compile)`);
          }
        }
      } finally {
        tc.destroy();
        ctx.destroy();
      }
    });
}
