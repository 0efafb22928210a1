// `dit bench model --compare`: the regression guard on two synthetic model.json files (no GPU: --current compares
// a file instead of running). Rows more than the threshold slower are flagged, the exit status is fatal unless
// --compare-warn, rows missing on either side are listed, bad files are refused with the fix.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { compareModelRows, REGRESSION_EXIT_CODE } from '../../src/bench/model-compare.js';
import { COMMANDS } from '../../src/cli/main.js';
import { runCli } from '../../src/cli/run.js';

let dir = '';
const row = (model: string, resolution: number, medianMs: number, extra: Record<string, unknown> = {}) => ({ model, resolution, medianMs, tflops: 1, ...extra });
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'model-compare-'));
  const old = { device: 'H200', rows: [row('FLUX.1-dev', 512, 100), row('FLUX.1-dev', 1024, 200), row('SD3-medium', 1024, 50), row('FLUX.1-dev', 2048, 900)] };
  // 512: +5.0% exactly (not flagged), 1024: +5.5% (flagged), SD3: -20% (faster), 2048 missing, 256 new.
  const cur = { device: 'H200', rows: [row('FLUX.1-dev', 512, 105), row('FLUX.1-dev', 1024, 211), row('SD3-medium', 1024, 40), row('FLUX.1-dev', 256, 30)] };
  const same = { device: 'H200', rows: [row('FLUX.1-dev', 512, 101), row('FLUX.1-dev', 1024, 199)] };
  await writeFile(join(dir, 'old.json'), JSON.stringify(old));
  await writeFile(join(dir, 'new.json'), JSON.stringify(cur));
  await writeFile(join(dir, 'same.json'), JSON.stringify(same));
  await writeFile(join(dir, 'kernels.json'), JSON.stringify({ device: 'x', results: [] }));
  await writeFile(join(dir, 'bad-row.json'), JSON.stringify({ rows: [{ model: 'FLUX.1-dev', resolution: 512 }] }));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function dit(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const log = vi.spyOn(console, 'log').mockImplementation((...a: unknown[]) => { out += a.join(' ') + '\n'; });
  const error = vi.spyOn(console, 'error').mockImplementation((...a: unknown[]) => { err += a.join(' ') + '\n'; });
  const before = process.exitCode;
  try {
    const code = await runCli(argv, COMMANDS, { out: (s) => { out += s; }, err: (s) => { err += s; } });
    return { code: code || Number(process.exitCode ?? 0), out, err };
  } finally {
    process.exitCode = before;
    log.mockRestore();
    error.mockRestore();
  }
}

describe('model step regression guard', () => {
  it('flags rows more than the threshold slower, exactly at the boundary', () => {
    const r = compareModelRows(
      [{ model: 'a', resolution: 512, medianMs: 100 }, { model: 'a', resolution: 1024, medianMs: 200 }, { model: 'a', resolution: 512, medianMs: 100, batch: 4 }],
      [{ model: 'a', resolution: 512, medianMs: 105 }, { model: 'a', resolution: 1024, medianMs: 210.01 }, { model: 'a', resolution: 512, medianMs: 300, batch: 4 }],
    );
    expect(r.lines.map((l) => l.status)).toEqual(['ok', 'SLOWER', 'SLOWER']);
    expect(r.regressions.map((l) => `${l.resolution}/${l.batch ?? 1}`)).toEqual(['1024/1', '512/4']);
    expect(compareModelRows([{ model: 'a', resolution: 512, medianMs: 100 }], [{ model: 'a', resolution: 512, medianMs: 109 }], 10).regressions).toHaveLength(0);
  });

  it('dit bench model --compare old --current new: table, fatal exit status', async () => {
    const r = await dit(['bench', 'model', '--compare', join(dir, 'old.json'), '--current', join(dir, 'new.json')]);
    expect(r.code).toBe(REGRESSION_EXIT_CODE);
    expect(r.out).toMatch(/\| FLUX\.1-dev \| 1024² \| 1 \| 200\.0 \| 211\.0 \| \+5\.5% \| \*\*SLOWER\*\* \|/);
    expect(r.out).toMatch(/\| FLUX\.1-dev \| 512² \| 1 \| 100\.0 \| 105\.0 \| \+5\.0% \| ok \|/);
    expect(r.out).toMatch(/\| SD3-medium \| 1024² \| 1 \| 50\.0 \| 40\.0 \| -20\.0% \| faster \|/);
    expect(r.out).toMatch(/\| FLUX\.1-dev \| 2048² \| 1 \| 900\.0 \| – \| – \| only in old \|/);
    expect(r.out).toMatch(/\| FLUX\.1-dev \| 256² \| 1 \| – \| 30\.0 \| – \| only in new \|/);
    expect(r.out).toMatch(/1 row\(s\) more than 5% slower: FLUX\.1-dev 1024²/);
    expect(r.err).toMatch(/error: 1 row\(s\) more than 5% slower/);
  });

  it('--compare-warn reports without failing; a looser threshold passes; no regression exits 0', async () => {
    const warn = await dit(['bench', 'model', '--compare', join(dir, 'old.json'), '--current', join(dir, 'new.json'), '--compare-warn']);
    expect(warn.code).toBe(0);
    expect(warn.err).toMatch(/warning: 1 row\(s\)/);
    const loose = await dit(['bench', 'model', '--compare', join(dir, 'old.json'), '--current', join(dir, 'new.json'), '--compare-threshold', '6']);
    expect(loose.code).toBe(0);
    expect(loose.out).toMatch(/no row more than 6% slower/);
    const same = await dit(['bench', 'model', '--compare', join(dir, 'old.json'), '--current', join(dir, 'same.json')]);
    expect(same.code).toBe(0);
  });

  it('refuses bad inputs naming the flag and the fix', async () => {
    const noOld = await dit(['bench', 'model', '--current', join(dir, 'new.json')]);
    expect(noOld.code).toBe(2);
    expect(noOld.err).toMatch(/--current: needs --compare <old\.json>/);
    const thr = await dit(['bench', 'model', '--compare', join(dir, 'old.json'), '--current', join(dir, 'new.json'), '--compare-threshold', 'five']);
    expect(thr.code).toBe(2);
    expect(thr.err).toMatch(/--compare-threshold: must be a number of percent >= 0/);
    const wrong = await dit(['bench', 'model', '--compare', join(dir, 'kernels.json'), '--current', join(dir, 'new.json')]);
    expect(wrong.code).toBe(3);
    expect(wrong.err).toMatch(/--compare .*kernels\.json: has no "rows" list; give a model\.json written by `dit bench model`/);
    const badRow = await dit(['bench', 'model', '--compare', join(dir, 'old.json'), '--current', join(dir, 'bad-row.json')]);
    expect(badRow.err).toMatch(/--current .*bad-row\.json: row 0 lacks model\/resolution\/medianMs/);
    const missing = await dit(['bench', 'model', '--compare', join(dir, 'nope.json'), '--current', join(dir, 'new.json')]);
    expect(missing.err).toMatch(/--compare .*nope\.json: no such file/);
    const wait = await dit(['bench', 'model', '--flux', '64', '--sd3', '', '--idle-wait', '1.5']);
    expect(wait.code).toBe(2);
    expect(wait.err).toMatch(/--idle-wait: must be a fraction in \[0, 1\)/);
  });
});
