import { defineConfig } from 'vitest/config';

// Dawn prints two adapter-limit warnings whenever a process opens a lavapipe adapter ("maxDynamic...Buffers...
// artificially reduced"), from native code with no logging hook. GpuContext captures them (src/gpu/native-output.ts);
// tests that open Dawn directly (probe scripts, Null-backend checks) still print them, and test workers' stderr
// passes through this process, where they are dropped. DIT_DEBUG=1 keeps them.
if (!process.env.DIT_DEBUG) {
  const noise = /^Warning: maxDynamic(Uniform|Storage)BuffersPerPipelineLayout artificially reduced[^\n]*(\n|$)/gm;
  const write = process.stderr.write.bind(process.stderr) as (chunk: unknown, ...rest: unknown[]) => boolean;
  process.stderr.write = ((chunk: unknown, ...rest: unknown[]) => {
    if ((typeof chunk === 'string' || Buffer.isBuffer(chunk)) && chunk.includes('artificially reduced')) {
      const kept = chunk.toString().replace(noise, '');
      return kept ? write(kept, ...rest) : true;
    }
    return write(chunk, ...rest);
  }) as typeof process.stderr.write;
}

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // One Dawn device per process; forks keep Dawn's native state out of shared worker threads.
    pool: 'forks',
    maxWorkers: process.env.CI ? 2 : undefined,
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
});
