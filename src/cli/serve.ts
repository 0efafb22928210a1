// `dit serve`: the HTTP server (docs/serving.md). Flags map one to one onto ServeConfig; SIGINT/SIGTERM drain.
import { type Command, Option } from 'commander';
import { defaultConfig, type ServeConfig } from '../serve/config.js';

interface ServeFlags {
  model: string;
  gpus: string;
  maxDegree: string;
  sharedAdapter?: boolean;
  host: string;
  port: string;
  resolutions: string;
  policy: string;
  profile?: string;
  steps: string;
  maxSteps: string;
  guidance: string;
  txtTokens?: string;
  slo?: string;
  sloFactor: string;
  maxQueue: string;
  admission: string;
  apiKey: string[];
  rateLimit: string;
  bodyLimit: string;
  results: string;
  keepFiles: string;
  keepHours: string;
  drainSeconds: string;
  publicUrl?: string;
  robustness: boolean;
  int8?: boolean;
  firstBlockCache?: string | boolean;
  engineThread: boolean;
  debug?: boolean;
  quiet?: boolean;
}

function int(v: string, flag: string, min = 0): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new Error(`${flag} must be an integer >= ${min} (got "${v}")`);
  return n;
}

function positive(v: string, flag: string): number {
  const n = Number(v);
  if (!(n > 0)) throw new Error(`${flag} must be a positive number (got "${v}")`);
  return n;
}

export function configFromFlags(f: ServeFlags): ServeConfig {
  if (f.firstBlockCache !== undefined) {
    throw new Error('--first-block-cache is for `dit generate` only: its references belong to one image on one GPU, while the server interleaves requests and moves them between GPU groups step by step (docs/serving.md); drop the flag');
  }
  const resolutions = f.resolutions.split(',').map((r) => int(r.trim(), '--resolutions', 16));
  for (const r of resolutions) if (r % 16) throw new Error(`--resolutions: ${r} is not a multiple of 16`);
  const baseSlo: Record<number, number> = {};
  for (const kv of f.slo ? f.slo.split(',') : []) {
    const [r, s] = kv.split('=');
    baseSlo[int(r, '--slo resolution', 16)] = positive(s, `--slo ${r}`);
  }
  if (f.admission !== 'reject' && f.admission !== 'best-effort') throw new Error(`--admission must be reject or best-effort (got "${f.admission}")`);
  return defaultConfig({
    model: f.model,
    gpus: int(f.gpus, '--gpus', 1),
    sharedAdapter: !!f.sharedAdapter,
    maxDegree: int(f.maxDegree, '--max-degree', 1),
    host: f.host,
    port: int(f.port, '--port'),
    resolutions,
    policy: f.policy,
    profilePath: f.profile ?? null,
    defaultSteps: int(f.steps, '--steps', 1),
    maxSteps: int(f.maxSteps, '--max-steps', 1),
    defaultGuidance: positive(f.guidance, '--guidance'),
    txtTokens: f.txtTokens === undefined ? null : int(f.txtTokens, '--txt-tokens', 1),
    baseSlo,
    sloFactor: positive(f.sloFactor, '--slo-factor'),
    maxQueue: int(f.maxQueue, '--max-queue', 1),
    admission: f.admission,
    apiKeys: f.apiKey,
    rateLimitPerMinute: int(f.rateLimit, '--rate-limit', 1),
    bodyLimitBytes: int(f.bodyLimit, '--body-limit', 1024),
    resultDir: f.results,
    retention: { maxFiles: int(f.keepFiles, '--keep-files', 1), maxAgeSeconds: positive(f.keepHours, '--keep-hours') * 3600 },
    drainSeconds: positive(f.drainSeconds, '--drain-seconds'),
    publicUrl: f.publicUrl ?? null,
    robustness: f.robustness,
    int8: !!f.int8,
    engineThread: f.engineThread,
    logLevel: f.debug ? 'debug' : f.quiet ? 'warn' : 'info',
  });
}

export function registerServe(program: Command): void {
  const d = defaultConfig();
  program
    .command('serve')
    .description('serve image generation over HTTP with the TetriServe round scheduler (docs/serving.md)')
    .option('--model <path>', 'model folder (diffusers pipeline or BFL file set), a FLUX transformer file, or random:flux1-dev', 'weights/small-flux')
    .option('--gpus <n>', 'GPU workers (one Dawn device per GPU)', '1')
    .option('--max-degree <k>', 'largest sequence-parallel degree (groups of the first k GPUs measured at start; 1 = one GPU per request)', '1')
    .option('--shared-adapter', 'open every worker on the first adapter (CPU Vulkan testing)')
    .option('--host <addr>', 'listen address', d.host)
    .option('--port <n>', 'listen port', String(d.port))
    .option('--resolutions <list>', 'square sizes served, comma-separated', '128')
    .option('--policy <name>', 'tetriserve, tetriserve+, xdit:K, rssp, edf:K (K up to --max-degree)', d.policy)
    .option('--profile <file>', 'latency profile JSON (default: measure each resolution on the workers at start)')
    .option('--steps <n>', 'default denoising steps', '20')
    .option('--max-steps <n>', 'largest steps a request may ask for', String(d.maxSteps))
    .option('--guidance <x>', 'default guidance', String(d.defaultGuidance))
    .option('--txt-tokens <n>', "text tokens per request (default: the model's own; fewer is faster, longer prompts are refused)")
    .option('--slo <list>', 'base SLO seconds per resolution, e.g. 256=1.5,512=2 (default: --slo-factor x default steps x measured step)')
    .option('--slo-factor <x>', 'base SLO = this x default steps x step time, for resolutions without --slo', String(d.sloFactor))
    .option('--max-queue <n>', 'admitted unfinished requests before 429', String(d.maxQueue))
    .option('--admission <mode>', 'a request that cannot meet its deadline: reject (503) or best-effort', d.admission)
    .option('--api-key <key>', 'require "Authorization: Bearer <key>" (repeatable)', (v: string, acc: string[]) => [...acc, v], [] as string[])
    .option('--rate-limit <n>', 'generation requests per key (or client address) per minute', String(d.rateLimitPerMinute))
    .option('--body-limit <bytes>', 'largest request body', String(d.bodyLimitBytes))
    .option('--results <dir>', 'where finished images are kept', d.resultDir)
    .option('--keep-files <n>', 'retention: at most this many images', String(d.retention.maxFiles))
    .option('--keep-hours <h>', 'retention: delete images older than this', String(d.retention.maxAgeSeconds / 3600))
    .option('--drain-seconds <s>', 'on SIGINT/SIGTERM, let admitted work finish this long before failing it', String(d.drainSeconds))
    .option('--public-url <url>', 'base of absolute URLs in responses (default: the Host the client used)')
    .option('--no-robustness', "turn Dawn's robustness transform off (faster on real GPUs)")
    .option('--int8', 'FLUX: run the transformer\'s block linears as W8A8 int8 (faster on GPUs with int8 tensor cores; small quality cost, docs/int8.md)')
    // Not a serving option; accepted only to say why (commander would answer "unknown option").
    .addOption(new Option('--first-block-cache [threshold]').hideHelp())
    .option('--no-engine-thread', 'run the engines on the HTTP thread (default: one engine thread, so status reads do not wait behind GPU work)')
    .option('--quiet', 'log warnings only')
    .option('--debug', 'debug logging')
    .action(async (flags: ServeFlags) => {
      const cfg = configFromFlags(flags);
      const { startServer } = await import('../serve/server.js');
      const s = await startServer(cfg, { log: (m) => console.error(m) });
      console.error(`serving ${cfg.model} on ${s.url} (dashboard ${s.url}/dashboard/, API docs ${s.url}/docs)`);
      let stopping = false;
      const stop = async (sig: string) => {
        if (stopping) return;
        stopping = true;
        console.error(`${sig}: draining (up to ${cfg.drainSeconds} s), no new work accepted`);
        const r = await s.close();
        console.error(r.drained ? 'drained; bye' : `drain limit reached: ${r.failed} unfinished request(s) failed`);
        process.exit(0);
      };
      process.on('SIGINT', () => void stop('SIGINT'));
      process.on('SIGTERM', () => void stop('SIGTERM'));
    });
}
