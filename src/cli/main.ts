#!/usr/bin/env node
// The `dit` command line: one entry point for generating, diagnosing, benchmarking and simulating.
import { Command } from 'commander';
import { registerBench } from './bench.js';
import { registerDoctor } from './doctor.js';
import { registerEncode } from './encode.js';
import { registerGenerate } from './generate.js';
import { registerInspect } from './inspect.js';
import { registerParity } from './parity.js';
import { registerSimulate } from './simulate.js';

const program = new Command();
program.name('dit').description('tetriserve-ts: Diffusion Transformer serving on WebGPU/Dawn').version('0.1.0');
registerGenerate(program);
registerDoctor(program);
registerBench(program);
registerParity(program);
registerInspect(program);
registerEncode(program);
registerSimulate(program);

program.parseAsync(process.argv).catch((e: unknown) => {
  console.error(`error: ${(e as Error).message}`);
  process.exit(1);
});
