// The bench-JSON -> batched profile entries script (src/sim/batch-profile.ts): measured and ratio modes, marks,
// and the errors a wrong file gets.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CostModel } from '../../src/scheduler/cost-model.js';
import { parseProfile, provenanceCounts } from '../../src/scheduler/profile.js';
import { mergeBatches, parseBenchFile, runBatchProfile } from '../../src/sim/batch-profile.js';

const measured = () => parseProfile(JSON.parse(readFileSync('profiles/flux1-dev-h200x2-sp.json', 'utf8')));
const bench = {
  device: 'NVIDIA H200 (test)',
  date: '2026-11-30T12:40:00Z',
  rows: [
    { model: 'FLUX.1-dev', resolution: 256, batch: 1, medianMs: 140, samplesMs: [140, 140, 140, 140, 140] },
    { model: 'FLUX.1-dev', resolution: 256, batch: 2, medianMs: 170, samplesMs: [170, 170, 170, 170, 170] },
    { model: 'FLUX.1-dev', resolution: 256, batch: 4, medianMs: 250, samplesMs: [250, 250, 250, 250, 250] },
    { model: 'FLUX.1-dev', resolution: 512, batch: 1, medianMs: 300, samplesMs: [300] },
    { model: 'FLUX.1-dev', resolution: 512, batch: 2, medianMs: 520, samplesMs: [520] },
    { model: 'SD3-medium', resolution: 1024, batch: 1, medianMs: 90 },
  ],
};

describe('batched profile entries from dit bench model --batch', () => {
  it('measured mode: degree-1 batchStepSeconds, marked measured, read by the cost model; warns on engine drift', () => {
    const { profile, added, warnings } = mergeBatches(measured(), parseBenchFile(bench, 'model.json'));
    expect(added).toHaveLength(3);
    const m = new CostModel(profile, 2);
    expect(m.batchStep(256, 1, 2)).toBeCloseTo(0.17, 9);
    expect(m.batchStep(256, 1, 4)).toBeCloseTo(0.25, 9);
    expect(m.batchStep(512, 1, 2)).toBeCloseTo(0.52, 9);
    expect(m.batchStep(256, 2, 2)).toBeNaN(); // degree 2 was not measured batched: never interpolated
    expect(m.batchSizes(256)).toEqual([2, 4]);
    expect(profile.entries[0].provenance?.batch2).toMatch(/^measured: dit bench model --batch on NVIDIA H200 \(test\) \(2026-11-30\), median of 5 steps/);
    expect(provenanceCounts(profile)).toEqual(provenanceCounts(measured())); // batch-1 step times untouched
    // 512² batch 1 here (300 ms) differs from the profile's 219 ms by > 10%: the engine changed between runs.
    expect(warnings.join()).toMatch(/512²: .*differs by 37%.*--ratio-onto/);
  });

  it('ratio mode: the other profile x measured ratio, marked derived', () => {
    const h100 = parseProfile(JSON.parse(readFileSync('profiles/flux1-dev-h100.json', 'utf8')));
    const { profile } = mergeBatches(h100, bench, { mode: 'ratio' });
    const e = profile.entries.find((x) => x.resolution === 256)!;
    expect(e.batchStepSeconds?.['2']?.['1']).toBeCloseTo(+(h100.entries[0].stepSeconds['1'] * (170 / 140)).toFixed(6), 9);
    expect(e.provenance?.batch4).toMatch(/^derived: .*ratio 1\.786/);
  });

  it('refuses files without batched rows or with other resolutions, naming the fix', () => {
    expect(() => parseBenchFile({ rows: [{ model: 'x' }] }, 'm.json')).toThrow(/m.json: rows\[0\] lacks model\/resolution\/medianMs/);
    expect(() => parseBenchFile([], 'm.json')).toThrow(/no "rows" list/);
    expect(() => mergeBatches(measured(), { rows: bench.rows.filter((r) => r.batch === 1) })).toThrow(/no FLUX.1-dev rows with batch > 1.*--batch 1,2,4/);
    expect(() => mergeBatches(measured(), { rows: [{ model: 'FLUX.1-dev', resolution: 320, batch: 1, medianMs: 1 }, { model: 'FLUX.1-dev', resolution: 320, batch: 2, medianMs: 2 }] }))
      .toThrow(/batched resolutions \(320\) are not among the base profile's/);
  });

  it('runs as one command: writes the measured and the ratio profile', () => {
    const dir = mkdtempSync(join(tmpdir(), 'batch-profile-'));
    writeFileSync(join(dir, 'model.json'), JSON.stringify(bench));
    const lines: string[] = [];
    runBatchProfile([join(dir, 'model.json'), '--base', 'profiles/flux1-dev-h200x2-sp.json', '--out', join(dir, 'm.json'),
      '--ratio-onto', 'profiles/flux1-dev-h100.json', '--ratio-out', join(dir, 'r.json')], (l) => lines.push(l));
    expect(lines.join('\n')).toMatch(/256² batch 2: 170\.0 ms \(1\.21× batch 1, 0\.61× per image\)/);
    expect(parseProfile(JSON.parse(readFileSync(join(dir, 'r.json'), 'utf8'))).entries[0].batchStepSeconds?.['4']).toBeDefined();
    expect(parseProfile(JSON.parse(readFileSync(join(dir, 'm.json'), 'utf8'))).entries[1].batchStepSeconds?.['2']?.['1']).toBeCloseTo(0.52, 9);
    expect(() => runBatchProfile([join(dir, 'model.json'), '--ratio-onto', 'x.json'])).toThrow(/--ratio-onto needs --ratio-out/);
  });
});
