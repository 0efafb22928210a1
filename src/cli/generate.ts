// `dit generate "prompt"`: text (or image) to image with a whole model folder, on one GPU (or CPU Vulkan).
import { readFile, stat } from 'node:fs/promises';
import { basename, dirname, extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import cliProgress from 'cli-progress';
import type { Command } from 'commander';
import { GpuContext } from '../gpu/context.js';
import { WEIGHTS_MODES, type WeightsMode } from '../loading/upload.js';
import { formatOf, readImage, writeImage } from '../pipeline/image-io.js';
import { resolveModelFolder } from '../pipeline/model-folder.js';
import { TextToImagePipeline, type GenerateResult } from '../pipeline/pipeline.js';

/** The bundled small model (bench/train-small), in the diffusers FluxPipeline layout. */
export const DEFAULT_MODEL = 'weights/small-flux';

/** The default --model: ./weights/small-flux when run from the project root, else the project's own copy. */
async function defaultModel(given: string): Promise<string> {
  if (given !== DEFAULT_MODEL) return given;
  const here = await stat(given).then(() => true, () => false);
  return here ? given : fileURLToPath(new URL('../../weights/small-flux', import.meta.url));
}

interface GenerateFlags {
  model: string;
  size?: string;
  width?: string;
  height?: string;
  steps?: string;
  guidance?: string;
  seed?: string;
  negative?: string;
  output: string;
  image?: string;
  strength?: string;
  prompts?: string;
  latents?: string;
  maxSequenceLength?: string;
  truncate?: boolean;
  weightsMode?: string;
  int8?: boolean;
  firstBlockCache?: string;
  robustness?: boolean;
  progress?: boolean;
  json?: boolean;
  debug?: boolean;
}

function intFlag(v: string | undefined, name: string, min: number, max = Number.MAX_SAFE_INTEGER): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!/^\s*\d+\s*$/.test(v) || !Number.isSafeInteger(n) || n < min || n > max) throw new Error(`--${name} must be an integer from ${min} to ${max}, got '${v}'`);
  return n;
}

function numFlag(v: string | undefined, name: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n)) throw new Error(`--${name} must be a number, got '${v}'`);
  return n;
}

/** --size WxH (or W alone for a square), overridden by --width/--height. */
export function parseSize(f: Pick<GenerateFlags, 'size' | 'width' | 'height'>): { width?: number; height?: number } {
  let width: number | undefined, height: number | undefined;
  if (f.size !== undefined) {
    const m = /^\s*(\d+)\s*(?:[xX×*]\s*(\d+))?\s*$/.exec(f.size);
    if (!m) throw new Error(`--size must look like 1024x1024 (width x height), got '${f.size}'`);
    width = Number(m[1]);
    height = Number(m[2] ?? m[1]);
  }
  width = intFlag(f.width, 'width', 1) ?? width;
  height = intFlag(f.height, 'height', 1) ?? height;
  return { width, height };
}

/** Output file for prompt i of n: out.png, or out-001.png ... with --prompts. */
export function outputPath(base: string, i: number, n: number): string {
  if (n === 1) return base;
  const ext = extname(base);
  return join(dirname(base), `${basename(base, ext)}-${String(i + 1).padStart(String(n).length < 3 ? 3 : String(n).length, '0')}${ext}`);
}

async function readPrompts(path: string): Promise<string[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new Error(`--prompts ${path}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  const prompts = text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
  if (!prompts.length) throw new Error(`--prompts ${path}: no prompts (one per line; lines starting with # are ignored)`);
  return prompts;
}

const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

function timesLine(r: GenerateResult, steps: number): string {
  const t = r.times;
  const perStep = steps ? (t.denoiseMs - t.compileMs) / steps : 0;
  const parts = [
    `text ${s(t.textMs)}`,
    ...(t.encodeImageMs >= 1 ? [`image encode ${s(t.encodeImageMs)}`] : []),
    `denoise ${s(t.denoiseMs)} (${steps} steps, ${perStep > 0 ? (1000 / perStep).toFixed(2) : '-'} steps/s${t.compileMs > 0 ? `, compile ${s(t.compileMs)}` : ''}${r.cache ? `, first-block cache reused ${r.cache.reused}` : ''})`,
    `vae decode ${s(t.decodeMs)}`,
    `total ${s(t.totalMs)}`,
  ];
  return parts.join(' | ');
}

export function registerGenerate(program: Command): void {
  program
    .command('generate')
    .description('generate images from a prompt (FLUX.1 / SD3 pipeline folders; default: the bundled small model)')
    .argument('[prompt]', 'the prompt (or use --prompts file.txt)')
    .option('--model <folder>', 'diffusers pipeline folder (model_index.json) or a folder of BFL files', DEFAULT_MODEL)
    .option('--size <WxH>', 'image size, e.g. 1024x1024 (multiples of 16)')
    .option('--width <px>', 'image width (overrides --size)')
    .option('--height <px>', 'image height (overrides --size)')
    .option('--steps <n>', 'denoising steps (default: the model\'s: 28 FLUX.1-dev/SD3, 4 schnell)')
    .option('--guidance <g>', 'FLUX.1-dev distilled guidance (default 3.5) or SD3 CFG scale (default 7.0)')
    .option('--seed <n>', 'noise seed (default: random; printed and stored in the image)')
    .option('--negative <text>', 'SD3: negative prompt for classifier-free guidance')
    .option('-o, --output <file>', 'output image (.png, .webp, .jpg); with --prompts: out-001.png, ...', 'out.png')
    .option('--image <file>', 'image to image: the input image (resized to the output size)')
    .option('--strength <s>', 'image to image: how much to change the input, in (0, 1]', undefined)
    .option('--prompts <file>', 'one prompt per line; images get numbered file names and seeds seed, seed+1, ...')
    .option('--latents <file.safetensors>', 'initial noise made elsewhere ([1,C,h,w] or FLUX-packed), to reproduce a diffusers image')
    .option('--max-sequence-length <n>', 'T5 tokens (default 512 FLUX.1-dev, 256 schnell/SD3)')
    .option('--truncate', 'cut prompts longer than the T5 token budget (as diffusers does) instead of refusing them')
    .option('--weights-mode <mode>', 'fp8/GGUF weights: expand (to f16 at load) or resident (kept quantized on the GPU, expanded per layer: about half the weight memory)', 'expand')
    .option('--int8', 'FLUX: run the transformer\'s block linears as W8A8 int8 (faster on GPUs with int8 tensor cores; small quality cost, see docs/int8.md)')
    .option('--first-block-cache <threshold>', 'FLUX: skip a step\'s remaining blocks when its first block changed by at most this (relative L1, e.g. 0.08) since the last full step; faster, small quality cost, see docs/first-block-cache.md')
    .option('--robustness', 'keep Dawn robustness checks on')
    .option('--no-progress', 'no progress bar')
    .option('--json', 'print one JSON line per image (settings, seed, stage times)')
    .option('--debug', 'print load details and warnings')
    .action(async (prompt: string | undefined, f: GenerateFlags) => {
      const prompts = f.prompts ? await readPrompts(f.prompts) : prompt !== undefined ? [prompt] : [];
      if (!prompts.length) throw new Error('give a prompt: dit generate "a red circle on a blue background" (or --prompts file.txt)');
      if (f.prompts && prompt !== undefined) throw new Error('give either a prompt or --prompts, not both');
      formatOf(f.output); // unknown extensions fail before any loading
      const size = parseSize(f);
      const steps = intFlag(f.steps, 'steps', 1, 1000);
      const guidance = numFlag(f.guidance, 'guidance');
      const seed0 = intFlag(f.seed, 'seed', 0);
      const strength = numFlag(f.strength, 'strength');
      const maxSequenceLength = intFlag(f.maxSequenceLength, 'max-sequence-length', 1, 4096);
      const firstBlockCache = numFlag(f.firstBlockCache, 'first-block-cache');
      if (firstBlockCache !== undefined && !(firstBlockCache >= 0)) throw new Error(`--first-block-cache must be a threshold >= 0 (e.g. 0.08), got '${f.firstBlockCache}'`);
      const weightsMode = f.weightsMode ?? 'expand';
      if (!(WEIGHTS_MODES as readonly string[]).includes(weightsMode)) throw new Error(`--weights-mode must be ${WEIGHTS_MODES.join(' or ')}, got '${weightsMode}'`);
      if (strength !== undefined && !f.image) throw new Error('--strength is for image to image: give --image too');
      if (f.image && strength === undefined) throw new Error('--image needs --strength (e.g. 0.6: how much of the image to redraw)');
      if (f.image) await readImage(f.image); // a missing or non-image file fails before any loading
      f.model = await defaultModel(f.model);
      await resolveModelFolder(f.model); // so does an incomplete model folder

      const ctx = await GpuContext.open({ robustness: !!f.robustness });
      let pipe: TextToImagePipeline | undefined;
      try {
        const t0 = performance.now();
        pipe = await TextToImagePipeline.load(ctx, f.model, { vaeEncoder: !!f.image, weightsMode: weightsMode as WeightsMode, int8: !!f.int8, firstBlockCache });
        const loadMs = performance.now() - t0;
        const d = pipe.defaults();
        const width = size.width ?? d.width, height = size.height ?? d.height;
        pipe.latentShape(width, height); // size errors before reading images or running encoders
        const image = f.image ? await readImage(f.image, { width, height }) : undefined;
        if (f.debug || !f.json) {
          const lt = pipe.loadTimes;
          console.error(`${pipe.folder.pipelineClass} (${pipe.family}) from ${pipe.folder.root} on ${ctx.caps.adapterName}: ` +
            `loaded in ${s(loadMs)} (transformer ${s(lt.transformerMs)}, vae ${s(lt.vaeMs)}, text encoders ${s(lt.textMs)})`);
        }
        if (f.debug) for (const w of pipe.warnings) console.error(`warning: ${w}`);
        for (let i = 0; i < prompts.length; i++) {
          const seed = seed0 !== undefined ? seed0 + i : undefined;
          const showBar = f.progress !== false && !f.json && process.stderr.isTTY;
          const bar = showBar
            ? new cliProgress.SingleBar({
              format: '{bar} {value}/{total} steps | {rate} steps/s | ETA {eta_formatted}', hideCursor: true, stream: process.stderr, clearOnComplete: true,
            }, cliProgress.Presets.shades_classic)
            : null;
          let started = 0, done = 0;
          const r = await pipe.generate({
            prompt: prompts[i], negative: f.negative, width, height, steps, guidance, seed, maxSequenceLength,
            allowTruncation: !!f.truncate, latentsFile: f.latents, image, strength,
          }, (st, total) => {
            done++;
            if (!bar) return;
            if (done === 1) {
              bar.start(total, 1, { rate: '-' });
              started = performance.now();
            } else {
              const rate = (done - 1) / ((performance.now() - started) / 1000);
              bar.update(done, { rate: rate.toFixed(2) });
            }
            if (st.done) bar.stop();
          });
          bar?.stop();
          const out = outputPath(f.output, i, prompts.length);
          const t1 = performance.now();
          const meta: Record<string, string> = {
            prompt: prompts[i], seed: String(r.seed), settings: JSON.stringify(r.settings), Software: 'tetriserve-ts dit generate',
          };
          if (r.settings.negative !== null) meta.negative_prompt = String(r.settings.negative);
          await writeImage(out, r.image, meta);
          const writeMs = performance.now() - t1;
          for (const w of r.warnings) console.error(`warning: ${w}`);
          if (f.json) {
            console.log(JSON.stringify({ output: out, prompt: prompts[i], seed: r.seed, settings: r.settings, times: { ...r.times, writeMs, loadMs } }));
          } else {
            console.log(`${out}: ${r.image.width}x${r.image.height}, seed ${r.seed}`);
            console.error(`${timesLine(r, done)} | write ${s(writeMs)}`);
          }
        }
      } finally {
        pipe?.destroy();
        ctx.destroy();
      }
    });
}
