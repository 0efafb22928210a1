// `dit simulate` flag handling, table-driven: each bad input fails with a message naming the flag; defaults write
// to the git-ignored dit-out/ and only --update-results targets the committed results/sim/.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { autoBaseSlo, defaultProfilePath, parseSeeds, parseSimulateOptions, PUBLISHED_PROFILE, type SimulateOpts } from '../../src/cli/simulate.js';
import { shippedProfile } from '../scheduler/helpers.js';
import { runSimulate } from '../../src/cli/simulate-run.js';
import { PROFILE_FORMAT } from '../../src/scheduler/profile.js';

const base: SimulateOpts = {
  profile: PUBLISHED_PROFILE,
  gpus: '8',
  requests: '300',
  seeds: '1,2',
  rate: '12',
  sloScale: '1.2',
  steps: '50',
  experiments: 'all',
  mix: 'uniform',
  arrivals: 'poisson',
};

describe('dit simulate flags', () => {
  const bad: [string, Partial<SimulateOpts>, RegExp][] = [
    ['empty seed list', { seeds: '' }, /--seeds must be a comma-separated list/],
    ['empty seed item', { seeds: '1,,2' }, /--seeds must be a comma-separated list/],
    ['negative seed', { seeds: '1,-2' }, /--seeds must be an integer >= 0/],
    ['fractional seed', { seeds: '1.5' }, /--seeds must be an integer/],
    ['repeated seed', { seeds: '3,3' }, /--seeds lists a seed twice/],
    ['zero GPUs', { gpus: '0' }, /--gpus must be an integer >= 1/],
    ['empty requests', { requests: '' }, /--requests must be an integer/],
    ['bad rate', { rate: 'fast' }, /--rate must be a positive number/],
    ['zero SLO scale', { sloScale: '0' }, /--slo-scale must be a positive number/],
    ['bad steps', { steps: '2.5' }, /--steps must be an integer/],
    ['bad mix', { mix: 'mixed' }, /--mix must be uniform or skewed/],
    ['bad arrivals', { arrivals: 'gamma' }, /--arrivals must be poisson or bursty/],
    ['unknown experiment', { experiments: 'slo-scale,latency' }, /--experiments: unknown experiment "latency"/],
    ['missing profile', { profile: 'nope.json' }, /latency profile not found: nope.json \(pass --profile/],
    ['bad base SLO', { baseSlo: '256:1.5,500:2' }, /--base-slo must look like 256:1.5,512:2/],
    ['zero round steps', { roundSteps: '0' }, /--round-steps must be an integer >= 1/],
    ['empty base SLO item', { baseSlo: '256:1.5,' }, /--base-slo must look like/],
  ];
  it.each(bad)('rejects %s with a message naming the flag', (_, patch, msg) => {
    expect(() => parseSimulateOptions({ ...base, ...patch })).toThrow(msg);
  });

  it('accepts good seeds, writes to dit-out by default and to results/sim only on purpose', () => {
    expect(parseSeeds(' 1, 2,3 ')).toEqual([1, 2, 3]);
    expect(parseSimulateOptions(base).out).toBe('dit-out/sim');
    expect(parseSimulateOptions({ ...base, updateResults: true }).out).toBe('results/sim');
    expect(parseSimulateOptions({ ...base, out: 'x/y' }).out).toBe('x/y');
  });

  it('defaults to a measured multi-GPU profile once one exists, never to a partly derived one', () => {
    const dir = mkdtempSync(join(tmpdir(), 'profiles-'));
    const entry = (prov: string) => ({ resolution: 512, stepSeconds: { '1': 0.2, '2': 0.12 }, groupChangeSeconds: 0.01, provenance: { '1': prov, '2': prov } });
    const write = (name: string, degrees: number[], prov: string): void =>
      writeFileSync(join(dir, name), JSON.stringify({ format: PROFILE_FORMAT, model: 'm', device: 'd', degrees, entries: [entry(prov)] }));
    writeFileSync(join(dir, 'flux1-dev-h100.json'), '{}');
    expect(defaultProfilePath(dir)).toBe(join(dir, 'flux1-dev-h100.json'));
    write('a-derived.json', [1, 2], 'derived: fit');
    write('b-one-gpu.json', [1], 'measured: bench');
    expect(defaultProfilePath(dir)).toBe(join(dir, 'flux1-dev-h100.json'));
    write('c-measured-sp.json', [1, 2], 'measured: dit bench model');
    expect(defaultProfilePath(dir)).toBe(join(dir, 'c-measured-sp.json'));
  });
});

describe('base SLOs for other profiles', () => {
  it('auto reproduces the paper SLOs on the published profile at 50 steps and scales with steps', () => {
    const a = autoBaseSlo(shippedProfile(), 50, 8);
    expect(a[256]).toBeCloseTo(1.5, 2);
    expect(a[512]).toBeCloseTo(2, 2);
    expect(a[1024]).toBeCloseTo(3, 2);
    expect(a[2048]).toBeCloseTo(5, 2);
    expect(autoBaseSlo(shippedProfile(), 25, 8)[1024]).toBeCloseTo(1.5, 2);
    expect(parseSimulateOptions({ ...base, baseSlo: 'auto', steps: '28' }).cfg.baseSlo![1024]).toBeCloseTo(3 * 28 / 50, 2);
  });
  it('a measured profile gets them by default (its absolute speed would make the paper SLOs meaningless)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'measured-'));
    const f = join(dir, 'm.json');
    const prov = { '1': 'measured: x', '2': 'measured: x' };
    writeFileSync(f, JSON.stringify({ format: PROFILE_FORMAT, model: 'm', device: 'd', degrees: [1, 2], entries: [
      { resolution: 512, stepSeconds: { '1': 0.2, '2': 0.12 }, groupChangeSeconds: 0.01, provenance: prov },
      { resolution: 1024, stepSeconds: { '1': 0.6, '2': 0.33 }, groupChangeSeconds: 0.01, provenance: prov },
    ] }));
    const { rate: _r, ...noRate } = base;
    const cfg = parseSimulateOptions({ ...noRate, profile: f }).cfg;
    expect(cfg.baseSlo![1024]).toBeCloseTo((3 / (50 * 0.03962)) * 50 * 0.33, 2);
    // and the paper setting's load: the rate falls with the profile's GPU-seconds per request
    expect(cfg.rate).toBeLessThan(6);
    expect(parseSimulateOptions({ ...base, rate: 'auto' }).cfg.rate).toBeCloseTo(12, 0);
    expect(parseSimulateOptions({ ...noRate }).cfg.rate).toBe(12);
    expect(parseSimulateOptions({ ...base, profile: f, baseSlo: '1024:9' }).cfg.baseSlo).toEqual({ 1024: 9 });
    expect(parseSimulateOptions(base).cfg.baseSlo).toBeUndefined();
  });
});

describe('dit simulate --policy', () => {
  afterEach(() => vi.restoreAllMocks());
  it('prints the average with its interval, and tetriserve+ exists', async () => {
    const lines: string[] = [];
    vi.spyOn(console, 'log').mockImplementation((s: string) => void lines.push(s));
    await runSimulate({ ...base, requests: '40', seeds: '1,2,3', policy: 'tetriserve+' });
    const last = lines[lines.length - 1];
    expect(last).toMatch(/^TetriServe\+: SLO attainment \d+\.\d ± \d+\.\d% \(mean ± 95% CI over 3 seed\(s\)/);
    expect(last).toMatch(/per resolution 256²: /);
  });
  it('replays a trace file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'trace-'));
    const f = join(dir, 't.csv');
    writeFileSync(f, 'arrival_s,resolution,slo_s,steps\n0,512,3,20\n0.5,1024,4,20\n');
    const lines: string[] = [];
    vi.spyOn(console, 'log').mockImplementation((s: string) => void lines.push(s));
    await runSimulate({ ...base, policy: 'rssp+triage+backfill', trace: f });
    expect(lines[lines.length - 1]).toMatch(/RSSP \+triage \+backfill: SLO attainment 100\.0% \(trace replay/);
    await expect(runSimulate({ ...base, policy: 'rssp', trace: join(dir, 'missing.csv') })).rejects.toThrow(/--trace .*missing.csv: cannot read it/);
  });
  it('names the policy problem', async () => {
    await expect(runSimulate({ ...base, requests: '5', seeds: '1', policy: 'fifo' })).rejects.toThrow(/unknown policy "fifo"/);
    await expect(runSimulate({ ...base, requests: '5', seeds: '1', policy: 'rssp+fast' })).rejects.toThrow(/unknown policy modifier "\+fast"/);
    await expect(runSimulate({ ...base, requests: '5', seeds: '1', policy: 'xdit' })).rejects.toThrow(/needs a degree/);
  });
});
