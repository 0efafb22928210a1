#!/usr/bin/env node
// The `dit` command line: one line per command (name, summary, lazily loaded module); src/cli/run.ts runs it.
import { type CommandEntry, isCliEntry, runCli } from './run.js';

export const COMMANDS: CommandEntry[] = [
  { name: 'generate', summary: 'text to image (and image to image) with a FLUX/SD3 pipeline folder', load: async () => (await import('./generate.js')).registerGenerate },
  { name: 'encode', summary: "prompt -> the transformer's text inputs (shapes and checksums)", load: async () => (await import('./encode.js')).registerEncode },
  { name: 'doctor', summary: 'the GPU adapter, its features and limits, and the kernel path each op uses', load: async () => (await import('./doctor.js')).registerDoctor },
  { name: 'bench', summary: 'benchmarks: kernels, model steps, report rendering', load: async () => (await import('./bench.js')).registerBench },
  { name: 'parity', summary: "a checkpoint on a golden file's inputs: relative error to its output", load: async () => (await import('./parity.js')).registerParity },
  { name: 'inspect', summary: 'identify a checkpoint and check every tensor without reading the weights', load: async () => (await import('./inspect.js')).registerInspect },
  { name: 'simulate', summary: 'the TetriServe scheduler and baselines in a discrete-event simulator', load: async () => (await import('./simulate.js')).registerSimulate },
  { name: 'serve', summary: 'HTTP server: deadline-aware image generation on GPU workers (TetriServe rounds)', load: async () => (await import('./serve.js')).registerServe },
];

if (isCliEntry()) {
  const code = await runCli(process.argv.slice(2), COMMANDS);
  // On failure exit at once (a GPU device left open would keep the process alive), after stderr drains.
  if (code !== 0) process.stderr.write('', () => process.exit(code));
}
