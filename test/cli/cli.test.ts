// The `dit` command line, table-driven: every bad-input case from issue 7 (section 6) with its exit status and
// the message that names the flag or the path and the fix, plus lazy command loading and --debug. Runs the real
// CLI in-process (src/cli/run.ts with main.ts's command list); cases that need a device use lavapipe.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { COMMANDS } from '../../src/cli/main.js';
import { type CommandEntry, runCli } from '../../src/cli/run.js';
import { writeSafetensors } from '../../src/loading/safetensors-writer.js';
import { ERROR_CODES } from '../../src/util/errors.js';

let dir = '';
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cli-test-'));
  await writeFile(join(dir, 'not-json.txt'), 'kernel timings, but not JSON\n');
  await writeFile(join(dir, 'other.json'), '{"hello": 1}');
  await mkdir(join(dir, 'a-folder'));
  await mkdir(join(dir, 'two-files'));
  for (const f of ['a.safetensors', 'b.safetensors']) {
    await writeSafetensors(join(dir, 'two-files', f), [{ name: 'w', dtype: 'F32', shape: [1], data: new Uint8Array(4) }]);
  }
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Runs one command line; returns its exit status and everything it printed. */
async function dit(argv: string[], commands: readonly CommandEntry[] = COMMANDS): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const log = vi.spyOn(console, 'log').mockImplementation((...a: unknown[]) => { out += a.join(' ') + '\n'; });
  const error = vi.spyOn(console, 'error').mockImplementation((...a: unknown[]) => { err += a.join(' ') + '\n'; });
  try {
    const code = await runCli(argv, commands, { out: (s) => { out += s; }, err: (s) => { err += s; } });
    return { code, out, err };
  } finally {
    log.mockRestore();
    error.mockRestore();
  }
}

const FLAG = ERROR_CODES.BAD_FLAG.exitCode;
const FILE = ERROR_CODES.BAD_FILE.exitCode;
const REQUEST = ERROR_CODES.BAD_REQUEST.exitCode;
const FLUX = 'test/fixtures/tiny-models/flux-tiny';
const GOLDEN = 'test/golden/flux-tiny.safetensors';

// [argv, exit status, stderr must match, stderr must not match]
const CASES: [string[], number, RegExp, RegExp?][] = [
  // Reject, naming the flag.
  [['bench', 'kernels', '--reps', '0'], FLAG, /--reps: must be an integer from 1 to 10000, got '0'/],
  [['bench', 'kernels', '--reps', '-3'], FLAG, /--reps: must be an integer from 1 to 10000, got '-3'/],
  [['bench', 'kernels', '--reps', 'many'], FLAG, /--reps: must be an integer/],
  [['bench', 'kernels', '--suite', 'quick', '--filter', 'no-such-kernel'], FLAG, /--filter: 'no-such-kernel' matches no case of suite quick \(ids look like quick\./],
  [['bench', 'kernels', '--suite', 'huge'], FLAG, /--suite: must be one of full, quick, flux, sd3, vae, got 'huge'/],
  [['bench', 'kernels', '--bogus'], FLAG, /unknown option '--bogus'/],
  [['bench', 'quant', '--kinds', 'gguf-Q5_K'], FLAG, /--kinds: 'gguf-Q5_K' is not one of gguf-Q8_0, gguf-Q4_K, fp8-scaled/],
  [['bench', 'quant', '--modes', 'expand,lazy'], FLAG, /--modes: 'lazy' is not one of expand, resident/],
  [['bench', 'quant', '--res', '1000'], FLAG, /--res: must be a multiple of 16, got '1000'/],
  [['bench', 'quant', '--reps', 'x'], FLAG, /--reps: must be an integer from 1 up, got 'x'/],
  [['bench', 'sp', '--degrees', '2,x'], FLAG, /--degrees: must be an integer from 1 up, got 'x'/],
  [['bench', 'sp', '--resolutions', '1000'], FLAG, /--resolutions: 1000 is not a multiple of 16/],
  [['bench', 'sp', '--strategies', 'ring,star'], FLAG, /--strategies: 'star' is not one of ulysses, ring, hybrid/],
  [['bench', 'sp', '--transports', 'mpi'], FLAG, /--transports: 'mpi' is not one of nccl, shm/],
  [['parity', FLUX, GOLDEN, '--bound', 'abc'], FLAG, /--bound: must be a positive number such as 2e-3, got 'abc'/],
  [['parity', FLUX, GOLDEN, '--bound', '-1'], FLAG, /--bound: must be a positive number/],
  [['simulate', '--seeds', ''], FLAG, /--seeds/],
  [['simulate', '--seeds', '1,,2'], FLAG, /--seeds/],
  [['bench', 'model', '--flux', '', '--sd3', ''], FLAG, /--flux\/--sd3: nothing to run: both are empty/],
  [['bench', 'model', '--reps', '0', '--flux', '512'], FLAG, /--reps: must be an integer from 1 to 1000, got '0'/],
  [['bench', 'model', '--flux', '100'], FLAG, /--flux: '100' is not a resolution: give multiples of 16/],
  [['bench', 'model', '--flux', '512,,1024'], FLAG, /--flux: '' is not a resolution/],
  [['bench', 'model', '--flux', '512', '--sd3', ''], REQUEST, /adapter '.*' is a CPU; one full-size step takes many minutes .* pass --force/],
  [['bench', 'model', '--force', '--flux', '2048', '--sd3', ''], FLAG, /--flux: 2048 is too large for adapter '.*': tensor '.*' needs \d+ bytes but the adapter binds at most \d+ bytes/],
  [['generate', 'a red circle', '--size', '100x100', '-o', '@DIR/x.png'], REQUEST, /width 100 is not divisible by 16 .*; use 96 or 112$/m, /internal error/],
  [['serve', '--first-block-cache', '0.1'], FLAG, /--first-block-cache is for `dit generate` only: .* drop the flag/],
  [['nonsense'], FLAG, /nonsense: unknown command \(commands: generate, [a-z, ]+\)/],
  // Name the path and the fix.
  [['parity', FLUX, join('/nonexistent', 'golden.safetensors')], FILE, /golden \/nonexistent\/golden\.safetensors: no such file \(give the path of a golden \.safetensors file; make one with bench\/reference\/make_goldens\.py/],
  [['parity', FLUX, '@DIR/a-folder'], FILE, /golden .*a-folder: is a folder, not a golden \.safetensors file/],
  [['parity', FLUX, 'test/golden/flux-tiny-schnell.safetensors'], FILE, /has no 'input\.guidance', but the checkpoint is guidance-distilled \(FLUX\.1-dev\); use a golden made for FLUX\.1-dev/],
  [['bench', 'render', '@DIR/not-json.txt'], FILE, /bench render .*not-json\.txt: not valid JSON .*give the kernels\.json written by `dit bench kernels`/],
  [['bench', 'render', '@DIR/other.json'], FILE, /bench render .*other\.json: not a kernels\.json \(no device\/results\)/],
  [['bench', 'render', '/nonexistent/kernels.json'], FILE, /bench render \/nonexistent\/kernels\.json: no such file/],
  [['bench', 'kernels', '--suite', 'quick', '--reference', '/nonexistent/torch.json'], FILE, /--reference \/nonexistent\/torch\.json: no such file \(give the JSON written by bench\/reference\/kernels_ref\.py\)/],
  [['bench', 'model', '--reference', '@DIR/not-json.txt'], FILE, /--reference .*not-json\.txt: not valid JSON/],
  [['inspect', '@DIR/two-files'], FILE, /several candidate checkpoints \(a\.safetensors, b\.safetensors\); give the path of one file instead of the folder/, /--model/],
  [['inspect', '/nonexistent/model'], FILE, /\/nonexistent\/model: no such file or folder/],
];

describe('dit: bad input gets an exit status and a message naming the flag or the path', () => {
  for (const [argv, code, want, notWant] of CASES) {
    it(`dit ${argv.map((a) => (a === '' ? "''" : a)).join(' ')} -> ${code}`, async () => {
      const r = await dit(argv.map((a) => a.replace('@DIR', dir)));
      expect(r.err, r.out).toMatch(want);
      if (notWant) expect(r.err).not.toMatch(notWant);
      expect(r.err.split('\n').filter((l) => l.startsWith('error:')).length, `one error line:\n${r.err}`).toBe(1);
      expect(r.err).not.toMatch(/\n\s+at /); // no stack without --debug
      expect(r.code).toBe(code);
    });
  }
});

describe('dit: commands', () => {
  it('a good run exits 0 (inspect a tiny checkpoint)', async () => {
    const r = await dit(['inspect', FLUX]);
    expect(r.err).toBe('');
    expect(r.out).toMatch(/^FLUX \(bfl layout\): D=128/);
    expect(r.code).toBe(0);
  });

  it('loads only the command being run: a broken module of another command does not matter', async () => {
    const broken: CommandEntry[] = COMMANDS.map((c) => (c.name === 'parity' || c.name === 'inspect' ? c : { ...c, load: () => Promise.reject(new Error(`module of ${c.name} must not load`)) }));
    const r = await dit(['parity', FLUX, GOLDEN, '--bound', 'abc'], broken);
    expect(r.err).toMatch(/--bound/);
    expect(r.code).toBe(FLAG);
    const help = await dit(['--help'], broken);
    expect(help.code).toBe(0);
    for (const c of COMMANDS) expect(help.out).toContain(c.name);
  });

  it('an internal error is one line and a hint; --debug adds the code and the stack', async () => {
    const boom: CommandEntry[] = [{ name: 'boom', summary: 'fails', load: async () => (p) => { p.command('boom').action(() => { throw new TypeError('x is undefined'); }); } }];
    const plain = await dit(['boom'], boom);
    expect(plain.code).toBe(ERROR_CODES.INTERNAL.exitCode);
    expect(plain.err).toBe('error: x is undefined (internal error: run again with --debug for details and report it)\n');
    const debug = await dit(['boom', '--debug'], boom);
    expect(debug.code).toBe(ERROR_CODES.INTERNAL.exitCode);
    expect(debug.err).toMatch(/\[INTERNAL\] TypeError: x is undefined\n\s+at /);
    delete process.env.DIT_DEBUG;
  });

  it('bench help describes what bench does now', async () => {
    const r = await dit(['bench', '--help']);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/kernels/);
    expect(r.out).toMatch(/model/);
    expect(r.out).toMatch(/render/);
    expect(r.out).not.toMatch(/models come with the model graphs/);
  });
});
